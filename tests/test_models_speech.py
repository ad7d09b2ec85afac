"""Speech encoders (wav2vec 2.0, HuBERT) through a fake local Hugging Face cache: tiny random
models saved under the Hub ids the course uses, loaded with the network off, checked against
the feature extractor and the model called directly; the offline error with an empty cache."""
import time

import huggingface_hub
import pytest
import torch
import transformers

from tlcourse.errors import CourseError, OfflineError, UnknownNameError
from tlcourse.models import SpeechEncoder, list_models, speech_model

TINY = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8),  # one frame per 20 ms, as the real ones
            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
COMMIT = "0" * 40


def _save_in_hub_cache(cache, hub_id: str, model, do_normalize: bool) -> None:
    """``model`` and a feature extractor where huggingface_hub looks for ``hub_id``'s files."""
    repo = cache / f"models--{hub_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    model.save_pretrained(snapshot)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=do_normalize).save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)


@pytest.fixture(scope="module")
def tiny_models():
    """A random 2-layer wav2vec 2.0 and HuBERT, 16-d (weights fixed by the seed)."""
    torch.manual_seed(0)
    return {"facebook/wav2vec2-base": transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**TINY)).eval(),
            "facebook/hubert-base-ls960": transformers.HubertModel(transformers.HubertConfig(**TINY)).eval()}


@pytest.fixture
def fake_hf_cache(tmp_path, monkeypatch, tiny_models):
    """The two course models in a Hugging Face cache on disk, and the network declared absent.
    HuBERT's feature extractor does not normalise, so both settings are exercised."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    for hub_id, model in tiny_models.items():
        _save_in_hub_cache(tmp_path, hub_id, model, do_normalize="wav2vec2" in hub_id)
    return tiny_models


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    """No Hugging Face model on disk, and the network declared absent."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")


@pytest.fixture
def clips():
    """Five 1 s clips at 16 kHz, loud and quiet, so per-clip normalisation matters."""
    gen = torch.Generator().manual_seed(1)
    return torch.randn(5, 16_000, generator=gen) * torch.tensor([[0.01], [0.1], [0.5], [1.0], [0.2]])


@pytest.mark.parametrize("name, model_class", [
    ("facebook/wav2vec2-base", transformers.Wav2Vec2Model), ("wav2vec2-base", transformers.Wav2Vec2Model),
    ("wav2vec2", transformers.Wav2Vec2Model), ("hubert", transformers.HubertModel),
    ("facebook/hubert-base-ls960", transformers.HubertModel)])
def test_loads_from_the_cache_with_the_network_off(fake_hf_cache, name, model_class):
    encoder = speech_model(name, device="cpu")
    assert isinstance(encoder, SpeechEncoder) and isinstance(encoder.model, model_class)
    assert encoder.name == name and encoder.dim == 16 and encoder.num_layers == 2
    saved = fake_hf_cache[encoder.model.config._name_or_path]
    assert all(torch.equal(a, b) for a, b in zip(encoder.model.state_dict().values(), saved.state_dict().values()))


def test_embed_shape_determinism_and_batch_independence(fake_hf_cache, clips):
    encoder = speech_model("wav2vec2-base", device="cpu")
    vectors = encoder.embed(clips, batch_size=4, progress=False)
    assert vectors.shape == (5, 16) and vectors.dtype == torch.float32 and vectors.device.type == "cpu"
    assert torch.equal(vectors, encoder.embed(clips, batch_size=4, progress=False))
    assert torch.allclose(vectors, encoder.embed(clips, batch_size=1, progress=False), atol=1e-5)
    assert torch.allclose(encoder.embed(clips.flip(0), progress=False), vectors.flip(0), atol=1e-5)
    assert encoder.embed(clips[:0], progress=False).shape == (0, 16)


@pytest.mark.parametrize("name", ["wav2vec2-base", "hubert-base-ls960"])
@pytest.mark.parametrize("layer", [-1, 0, 1])
def test_embed_matches_the_feature_extractor_and_the_model(fake_hf_cache, clips, name, layer):
    encoder = speech_model(name, device="cpu")
    reference = transformers.AutoFeatureExtractor.from_pretrained(encoder.model.config._name_or_path)
    inputs = reference([c.numpy() for c in clips], sampling_rate=16_000, return_tensors="pt")["input_values"]
    assert torch.allclose(encoder.normalize(clips), inputs, atol=1e-5)
    with torch.no_grad():
        hidden = encoder.model(inputs, output_hidden_states=True).hidden_states[layer]
    assert torch.allclose(encoder.embed(clips, layer=layer, progress=False), hidden.mean(dim=1), atol=1e-5)


def test_layers_differ_and_out_of_range_says_which_exist(fake_hf_cache, clips):
    encoder = speech_model("wav2vec2", device="cpu")
    assert not torch.allclose(encoder.embed(clips, layer=1, progress=False), encoder.embed(clips, progress=False))
    with pytest.raises(CourseError, match="0 .* to 2"):
        encoder.embed(clips, layer=3)


def test_embed_says_what_to_pass(fake_hf_cache, clips):
    encoder = speech_model("wav2vec2", device="cpu")
    with pytest.raises(CourseError, match=r"clip\[None\]"):
        encoder.embed(clips[0])
    with pytest.raises(CourseError, match="8000 Hz. Resample"):
        encoder.embed(clips, sample_rate=8000)


def test_embed_runs_without_dropout_or_gradients_and_restores_train_mode(fake_hf_cache, clips):
    encoder = speech_model("wav2vec2", device="cpu")
    encoder.model.train()
    first = encoder.embed(clips, progress=False)
    assert torch.equal(first, encoder.embed(clips, progress=False))  # dropout was off
    assert encoder.model.training and not first.requires_grad


def test_embed_shows_progress_when_asked(fake_hf_cache, clips, capfd):
    encoder = speech_model("wav2vec2", device="cpu")
    encoder.embed(clips, batch_size=2)
    assert "embedding with wav2vec2" in capfd.readouterr().err
    encoder.embed(clips, batch_size=2, progress=False)
    assert "embedding with" not in capfd.readouterr().err


def test_local_directory(tmp_path, tiny_models, clips):
    tiny_models["facebook/hubert-base-ls960"].save_pretrained(tmp_path)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(tmp_path)
    assert speech_model(str(tmp_path), device="cpu").embed(clips, progress=False).shape == (5, 16)


def test_offline_fails_fast_naming_the_offline_alternative_and_the_call(empty_hf_cache):
    start = time.perf_counter()
    with pytest.raises(OfflineError) as info:
        speech_model("wav2vec2-base")
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "speech_tasks().words" in message and "synthetic spoken words" in message
    assert "speech_model('facebook/wav2vec2-base')" in message


def test_hub_id_typo_offline_gets_a_suggestion(empty_hf_cache):
    with pytest.raises(OfflineError, match="did you mean 'facebook/hubert-base-ls960'"):
        speech_model("facebook/hubert-base-ls96")


def test_unknown_name_gets_a_suggestion_and_the_names(empty_hf_cache):
    with pytest.raises(UnknownNameError, match="did you mean 'wav2vec2'.*hubert-base-ls960"):
        speech_model("wav2vec")


def test_list_models_says_which_speech_models_are_cached(fake_hf_cache, tmp_path, monkeypatch):
    assert {"wav2vec2-base": True, "hubert-base-ls960": True}.items() <= list_models().items()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    assert {"wav2vec2-base": False, "hubert-base-ls960": False}.items() <= list_models().items()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_embed_on_the_gpu_matches_the_cpu(fake_hf_cache, clips):
    on_gpu = speech_model("wav2vec2", device="cuda")
    assert next(on_gpu.model.parameters()).device.type == "cuda"
    vectors = on_gpu.embed(clips, progress=False)
    assert vectors.device.type == "cpu"
    on_cpu = speech_model("wav2vec2", device="cpu").embed(clips, progress=False)
    assert torch.allclose(vectors, on_cpu, atol=5e-3)  # cuDNN may run the convolutions in TF32
