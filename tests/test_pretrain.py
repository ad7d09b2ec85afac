"""tlcourse.pretrain and `tlcourse pretrain`: pretraining repeats exactly for a seed, checkpoints
round-trip through ``torch.load(weights_only=True)``, and a missing checkpoint says what to do.

Every training run here uses the ``smoke`` profile (1,000 glyphs, 1 epoch): a few seconds each.
"""
import os
import string
from pathlib import Path

import pytest
import torch

from tlcourse import cli, get_profile
from tlcourse import pretrain as pretrain_module
from tlcourse.models import SmallCNN
from tlcourse.pretrain import (load_pretrained_cnn, pretrain_small_cnn, save_checkpoint,
                               shipped_checkpoint_path)
from tlcourse.train import History

SMOKE = get_profile("smoke")
LETTERS = list(string.ascii_uppercase)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Every tensor of the two state dicts (BatchNorm statistics included) is bit for bit equal."""
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


@pytest.fixture(scope="module")
def smoke_run():
    return pretrain_small_cnn(SMOKE, seed=0, progress=False)


def test_pretraining_records_how_the_model_was_made(smoke_run):
    model, history, meta = smoke_run
    assert isinstance(model, SmallCNN) and model.head.out_features == 26 and not model.training
    assert meta["classes"] == LETTERS  # digits are left out: later notebooks transfer to them
    assert (meta["profile"], meta["samples"], meta["epochs"], meta["seed"]) == (
        "smoke", SMOKE.pretrain_samples, SMOKE.pretrain_epochs, 0)
    assert [row["epoch"] for row in history.rows] == list(range(1, SMOKE.pretrain_epochs + 1))
    assert meta["source_accuracy"] == pytest.approx(history.final["val_accuracy"])


def test_the_same_seed_gives_identical_weights(smoke_run):
    again, _, meta = pretrain_small_cnn(SMOKE, seed=0, progress=False)
    assert same_weights(smoke_run[0], again), "pretraining must repeat exactly on the CPU for a seed"
    assert meta["source_accuracy"] == smoke_run[2]["source_accuracy"]


def test_pretraining_starts_from_the_seeded_initialisation(monkeypatch):
    """Notebook 01 rebuilds the shipped model's starting point with torch.manual_seed(0)."""
    monkeypatch.setattr(pretrain_module, "fit", lambda *args, **kwargs: History())
    untrained, _, _ = pretrain_small_cnn(SMOKE, seed=0, progress=False)
    torch.manual_seed(0)
    assert same_weights(untrained, SmallCNN(num_classes=26))


def test_a_checkpoint_round_trips_with_weights_only_loading(smoke_run, tmp_path):
    model, _, meta = smoke_run
    path = save_checkpoint(model, meta, tmp_path / "new" / "dir" / "letters.pt")
    assert path.is_file()
    torch.load(path, weights_only=True)  # plain types only: no pickled code needed
    reloaded, reloaded_meta = load_pretrained_cnn(path)
    assert reloaded_meta == meta
    assert same_weights(model, reloaded) and not reloaded.training


def test_an_interrupted_save_keeps_the_old_checkpoint(smoke_run, tmp_path, monkeypatch):
    model, _, meta = smoke_run
    path = save_checkpoint(model, meta, tmp_path / "letters.pt")

    def crash(obj, f):
        f = open(f, "wb") if isinstance(f, (str, Path)) else f
        f.write(b"half a checkpoint")
        f.flush()
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(SmallCNN(num_classes=26), meta, path)
    monkeypatch.undo()
    reloaded, _ = load_pretrained_cnn(path)
    assert same_weights(model, reloaded), "a crash mid-save must not leave half a checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["letters.pt"]


def test_the_shipped_checkpoint_loads_by_default():
    assert shipped_checkpoint_path().is_file()
    model, meta = load_pretrained_cnn()
    assert meta["classes"] == LETTERS and model.head.out_features == 26
    assert meta["seed"] == 0


def test_a_missing_checkpoint_says_how_to_make_one(tmp_path):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(FileNotFoundError) as err:
        load_pretrained_cnn(missing)
    message = str(err.value)
    assert str(missing) in message
    assert f"tlcourse pretrain --out {missing}" in message and "notebook 01" in message
    assert "omit the path" in message


def test_cli_pretrain_saves_the_same_model_and_reports_its_accuracy(smoke_run, tmp_path, capsys):
    out = tmp_path / "x.pt"
    assert cli.main(["pretrain", "--profile", "smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out letter accuracy" in printed and str(out) in printed
    model, meta = load_pretrained_cnn(out)
    assert meta["profile"] == "smoke" and meta["seed"] == 0
    assert same_weights(model, smoke_run[0]), "the CLI must run the same deterministic pretraining"


def test_pretrained_once_builds_a_described_source_only_when_its_checkpoint_is_missing(tmp_path, monkeypatch):
    from tlcourse.data import load
    from tlcourse.pretrain import pretrained_once

    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    built = []

    def source():
        built.append(1)
        return load("glyphs", n=520, chars="letters", size=32, seed=0)

    first, _ = pretrained_once(source, 1, "t/letters", progress=False, settings="520 letters")
    again, _ = pretrained_once(source, 1, "t/letters", progress=False, settings="520 letters")
    assert len(built) == 1 and same_weights(first, again)
    pretrained_once(source, 1, "t/letters", progress=False, settings="520 letters, another size")
    assert len(built) == 2 and len(list((tmp_path / "t").glob("letters-*.pt"))) == 2


def test_pretrained_once_reads_a_shipped_checkpoint_of_the_same_digest_and_trains_for_any_other(tmp_path, monkeypatch):
    from tlcourse.data import load
    from tlcourse.pretrain import pretrained_once

    shipped, cache = tmp_path / "shipped", tmp_path / "cache"
    monkeypatch.setenv("TLCOURSE_CACHE", str(cache))
    monkeypatch.setattr(pretrain_module, "shipped_sources_dir", lambda: shipped)
    letters = load("glyphs", n=520, chars="letters", size=32, seed=0)
    made, _ = pretrained_once(letters, 1, "t/letters", progress=False, settings="520 letters")
    (shipped / "t").mkdir(parents=True)
    for path in (cache / "t").glob("letters-*.pt"):
        path.rename(shipped / "t" / path.name)  # as `tlcourse pretrain --sources` ships it

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the package ships this checkpoint")

    monkeypatch.setattr(pretrain_module, "pretrain_on", no_training)
    read, _ = pretrained_once(letters, 1, "t/letters", progress=False, settings="520 letters")
    assert same_weights(read, made) and not list(cache.glob("t/*.pt"))
    with pytest.raises(AssertionError, match="trained although"):  # other settings: not the shipped one
        pretrained_once(letters, 2, "t/letters", progress=False, settings="520 letters")


def test_the_shipped_sources_are_the_ones_the_cpu_profile_asks_for(tmp_path, monkeypatch):
    """Notebook 07's cpu-profile sources are read from the package, not trained: a shipped file
    whose digest no longer matches the code (`tlcourse pretrain --sources` rewrites it) fails here."""
    from tlcourse.bias import SOURCE_CUE_RATE, letters_cnn
    from tlcourse.limits import misleading_cnn

    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))

    def no_training(*args, **kwargs):
        raise AssertionError("not shipped for this code: run `tlcourse pretrain --sources` and commit the files")

    monkeypatch.setattr(pretrain_module, "pretrain_on", no_training)
    cpu = get_profile("cpu")
    cued, cued_meta = letters_cnn(cpu, SOURCE_CUE_RATE)
    assert cued_meta["cue_rate"] == SOURCE_CUE_RATE and cued_meta["source_accuracy"] >= 0.99
    shuffled, shuffled_meta = misleading_cnn(cpu, progress=False)
    assert shuffled_meta["source_accuracy"] < 0.1  # shuffled labels: about chance (1 in 26)
    shipped = pretrain_module.shipped_sources_dir()
    # exactly these two files: no stale copy left behind by an older digest
    assert {p.relative_to(shipped).as_posix() for p in shipped.rglob("*.pt")} == \
        {cued_meta["checkpoint"], shuffled_meta["checkpoint"]}


def test_cli_pretrain_sources_writes_what_it_had_to_train(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pretrain_module, "shipped_sources_dir", lambda: tmp_path / "shipped")
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "mine"))
    assert cli.main(["pretrain", "--profile", "smoke", "--sources"]) == 0
    written = sorted(p.relative_to(tmp_path / "shipped").parent.name for p in (tmp_path / "shipped").rglob("*.pt"))
    assert written == ["bias", "limits"] and "wrote" in capsys.readouterr().out
    assert str(tmp_path / "mine") == os.environ["TLCOURSE_CACHE"]  # restored
    assert cli.main(["pretrain", "--profile", "smoke", "--sources"]) == 0
    said = capsys.readouterr().out
    assert "nothing to write" in said and "not a source" not in said
    stale = tmp_path / "shipped" / "limits" / "shuffled_letters_cnn-0000000000000000.pt"
    stale.write_bytes(b"an older digest")
    assert cli.main(["pretrain", "--profile", "smoke", "--sources"]) == 0
    said = capsys.readouterr().out
    assert "not a source of the smoke profile" in said and "limits/shuffled_letters_cnn-0000000000000000.pt" in said
    assert stale.exists()  # reported, not deleted: another profile may ship it
