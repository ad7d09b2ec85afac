"""The target tasks the notebooks measure, each a :class:`tlcourse.experiments.Task`.

- :func:`digits_task`: the letters-pretrained SmallCNN on real handwritten digits (near transfer:
  strokes on a dark background, but it has never seen a digit);
- :func:`lite0_task`: the ImageNet EfficientNet-Lite0 on any offline image set, digits or
  solar-cell scans (far transfer: grey scans are nothing like ImageNet photos);
- :func:`scans_task`: :func:`lite0_task` on the solar-cell scans with two more strategies for
  notebook 05: ``adabn_probe`` (the probe on features whose BatchNorm statistics were
  re-estimated on the unlabelled scans) and ``small_scratch`` (a SmallCNN from scratch at 32 px);
- :func:`fonts_to_handwriting_task`: domain adaptation (notebook 05), an
  :class:`tlcourse.adapt.AdaptationTask`: digits rendered from fonts (labelled) -> the same
  handwritten digits as :func:`digits_task` (unlabelled for adaptation);
- :func:`speech_sets`: notebook 06's synthetic speech at the profile's sizes, and
  :func:`speech_tasks`: the spoken digits as 32 x 32 log-mel images, with three sources to
  transfer from: a SmallCNN pretrained on other spoken words (near), the letters SmallCNN
  (far: images to audio, same network) and the ImageNet Lite0 (far, and 11x larger);
- :func:`own_task`: the learner's own images (notebook 08), from ImageNet or from letters.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .adapt import AdaptationTask, adabn
from .config import Profile, get_profile
from .data import ImageDataset, few_shot_subset, load, spectrogram_images, stratified_split
from .data.core import resize_images
from .experiments import Settings, Task, _training_set, probe_on_features
from .train import evaluate, extract_features, fit_for_steps
from .models import SmallCNN, pretrained
from .pretrain import load_pretrained_cnn, pretrained_once


def backbone_input(size: int, mean: float = 0.5, std: float = 0.5):
    """A batch transform: grey or RGB images in [0, 1] -> 3 x size x size, normalised.

    EfficientNet-Lite0 was trained on inputs scaled to [-1, 1] (mean = std = 0.5).
    """
    def transform(x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - mean) / std

    return transform


def _split(data, profile: Profile):
    """A fixed split: a pool to draw label budgets from and a class-balanced test set.

    The test set has at most ``profile.max_eval`` images, the pool at most
    ``profile.max_pool_per_class`` per class: enough for every budget and different draws per
    seed, while keeping feature extraction cheap.
    """
    pool, test = stratified_split(data, test_fraction=0.2, seed=0)
    test_per_class = min(profile.max_eval // len(data.classes), int(test.labels.bincount().min()))
    pool_per_class = min(profile.max_pool_per_class, int(pool.labels.bincount().min()))
    return few_shot_subset(pool, pool_per_class, seed=0), few_shot_subset(test, test_per_class, seed=0)


def transfer_small_cnn(source: SmallCNN, num_classes: int):
    """``make_model(pretrained)`` for a task: a fresh SmallCNN with ``num_classes`` outputs,
    holding ``source``'s weights (everything but its head) when ``pretrained``."""
    def make_model(use_pretrained: bool) -> nn.Module:
        model = SmallCNN(num_classes=num_classes, in_channels=source.stem[0].in_channels)
        if use_pretrained:
            state = {k: v for k, v in source.state_dict().items() if not k.startswith("head.")}
            model.load_state_dict(state, strict=False)  # everything but the source's head
        return model

    return make_model


def digits_task(profile: Profile | None = None, checkpoint=None) -> Task:
    """Letters-pretrained SmallCNN (``checkpoint``, default: the shipped one) -> mnist5k at 32x32."""
    profile = profile or get_profile()
    pool, test = _split(load("mnist5k", size=32), profile)
    source, _ = load_pretrained_cnn(checkpoint)
    return Task("letters->digits", pool, test, transfer_small_cnn(source, 10))


def lite0_task(dataset: str = "mnist5k", profile: Profile | None = None, **load_kwargs) -> Task:
    """ImageNet EfficientNet-Lite0 -> an offline image set, at ``profile.backbone_image_size``."""
    profile = profile or get_profile()
    pool, test = _split(load(dataset, **load_kwargs), profile)
    return lite0_images_task(f"imagenet->{dataset}", pool, test, profile)


def lite0_images_task(name: str, pool, test, profile: Profile) -> Task:
    """ImageNet EfficientNet-Lite0 on a given pool and test set (ImageDatasets), its input
    resized to ``profile.backbone_image_size``."""
    def make_model(use_pretrained: bool) -> nn.Module:
        return pretrained("efficientnet_lite0", num_classes=len(pool.classes), weights=use_pretrained)

    return Task(name, pool, test, make_model, transform=backbone_input(profile.backbone_image_size))


# small_scratch's input side: the SmallCNN's own 32 px. At 64 px each step cost 2.7x as much, and
# over seeds 0-2 it scored the same on the scans (57.7% / 70.0% at 10 / 50 labels per class,
# against 61.3% / 69.5% at 32 px; cpu profile, augmented).
SCRATCH_SIZE = 32


def _small_input(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=(SCRATCH_SIZE, SCRATCH_SIZE), mode="bilinear", antialias=True,
                         align_corners=False)


def _adabn_probe(task: Task, indices: torch.Tensor, settings: Settings) -> tuple[float, int]:
    """The linear probe on ImageNet features after AdaBN on the pool's images (no labels used):
    the BatchNorm statistics are the scans', the weights ImageNet's. Features computed once."""
    cache = vars(task).setdefault("_adabn_features", {})
    if not cache:
        model = adabn(task.make_model(True), task.pool.images, transform=task.transform)
        cache["pool"], cache["test"] = (extract_features(model, part, transform=task.transform, progress=False)
                                        for part in (task.pool, task.test))
    return probe_on_features(task, cache["pool"], cache["test"], indices, settings)


def _small_scratch(task: Task, indices: torch.Tensor, settings: Settings) -> tuple[float, int]:
    """A SmallCNN (0.4M parameters) from scratch on the labelled scans at 32 px, with the
    settings' scratch steps and rate and the same augmentation as the other networks."""
    model = SmallCNN(num_classes=task.num_classes, in_channels=task.pool.images.shape[1])
    fit_for_steps(model, _training_set(task, indices, settings), settings.scratch_steps or settings.steps,
                  settings.scratch_batch_size or settings.batch_size, settings.lr_scratch,
                  seed=int(torch.initial_seed()), transform=_small_input)
    accuracy = evaluate(model, task.test, transform=_small_input)["accuracy"]
    return accuracy, sum(p.numel() for p in model.parameters())


def scans_task(profile: Profile | None = None) -> Task:
    """ImageNet Lite0 -> solar-cell scans (notebook 05), with ``adabn_probe`` and ``small_scratch``."""
    task = lite0_task("solar_cells", profile)
    task.extra_strategies.update(adabn_probe=_adabn_probe, small_scratch=_small_scratch)
    return task


def fonts_to_handwriting_task(profile: Profile | None = None, checkpoint=None) -> AdaptationTask:
    """Source: ``profile.adapt_source_samples`` digits rendered from fonts (``glyphs``), 80% to
    train on, 20% held out. Target: mnist5k's pool and test split, the very ones of
    :func:`digits_task` (which comes along as ``letters``, for the few-label baselines)."""
    profile = profile or get_profile()
    letters = digits_task(profile, checkpoint)
    fonts = load("glyphs", n=profile.adapt_source_samples, chars="digits", size=32, seed=0)
    source, source_val = stratified_split(fonts, test_fraction=0.2, seed=0)
    return AdaptationTask("fonts->handwriting", source, source_val, letters.pool, letters.test, letters)


class SpeechSets(NamedTuple):
    """Notebook 06's data: a near source (other words) and the target (digits), split by speaker."""

    source: object  # AudioDataset: spoken_words, by train speakers
    pool: object  # AudioDataset: spoken digits by the same train speakers, to draw label budgets from
    test: object  # AudioDataset: spoken digits by speakers never heard in source or pool


def speech_sets(profile: Profile | None = None, seed: int = 0) -> SpeechSets:
    """``profile.speech_source_samples`` spoken words, ``profile.speech_target_samples`` spoken
    digits and ``profile.max_eval`` test digits, all synthesized by eSpeak NG (cached after the
    first call)."""
    profile = profile or get_profile()
    return SpeechSets(load("spoken_words", n=profile.speech_source_samples, seed=seed),
                      load("spoken_digits", n=profile.speech_target_samples, split="train", seed=seed),
                      load("spoken_digits", n=profile.max_eval, split="test", seed=seed))


def words_cnn(source, profile: Profile | None = None, seed: int = 0, progress: bool = True) -> tuple[SmallCNN, dict]:
    """The near source of notebook 06: a SmallCNN pretrained on ``source`` (spoken words as
    :func:`tlcourse.data.spectrogram_images`) for ``profile.pretrain_epochs`` epochs, 10% held
    out. Trained once, then read from the cache (a checkpoint named by a digest of the images,
    labels and settings, loaded with ``weights_only=True``). Returns (model in eval mode, metadata
    with the held-out accuracy on the words and the seconds training took)."""
    profile = profile or get_profile()
    return pretrained_once(source, profile.pretrain_epochs, "speech/words_cnn", seed=seed, progress=progress)


class SpeechTasks(NamedTuple):
    """Notebook 06's three transfer tasks on the same spoken digits, and what they come from."""

    words: Task  # words->digits: SmallCNN pretrained on other spoken words (near source)
    letters: Task  # letters->digits: the letters SmallCNN of notebook 01 (images -> audio, same network)
    imagenet: Task  # imagenet->digits: EfficientNet-Lite0 on the spectrograms (images -> audio)
    audio: SpeechSets  # the clips behind every image, in the same order (to listen to)
    source: object  # ImageDataset: the spoken words as spectrograms, what ``words`` was pretrained on
    words_meta: dict  # how the words CNN was trained: held-out accuracy, epochs, seconds


def speech_tasks(profile: Profile | None = None, seed: int = 0, progress: bool = True) -> SpeechTasks:
    """The spoken digits (:func:`speech_sets`) as 1 x 32 x 32 log-mel images, one pool and one
    test set (speakers never heard in source or pool) shared by three tasks whose
    ``make_model(True)`` starts from a different source: other spoken words, letters, ImageNet.
    ``make_model(False)`` of ``words`` and ``letters`` is the same SmallCNN from scratch."""
    profile = profile or get_profile()
    audio = speech_sets(profile, seed=seed)
    source, pool, test = (spectrogram_images(part) for part in audio)
    words, meta = words_cnn(source, profile, seed=seed, progress=progress)
    letters, _ = load_pretrained_cnn()
    imagenet = lite0_images_task("imagenet->digits", pool, test, profile)
    return SpeechTasks(Task("words->digits", pool, test, transfer_small_cnn(words, len(pool.classes))),
                       Task("letters->digits", pool, test, transfer_small_cnn(letters, len(pool.classes))),
                       imagenet, audio, source, meta)


# own_task's sources: what make_model(True) starts from, for a learner's own images.
OWN_SOURCES = {
    "imagenet": "EfficientNet-Lite0 pretrained on ImageNet photos (4.7M parameters), any images",
    "letters": "the SmallCNN pretrained on rendered letters (0.4M parameters), grey 32 px images",
}


def own_task(data, source: str = "imagenet", profile: Profile | None = None, test_fraction: float = 0.3) -> Task:
    """A learner's own ImageDataset (e.g. :func:`tlcourse.data.load_image_folder`) as a Task that
    :func:`tlcourse.experiments.compare` runs like the course's: ``test_fraction`` of every class
    held out (seed 0), the rest the pool to draw label budgets from.

    ``source="imagenet"``: Lite0 at ``profile.backbone_image_size``, with ``small_scratch`` (a
    SmallCNN from scratch at 32 px: Lite0 itself from scratch costs minutes a run on a CPU).
    ``source="letters"``: the letters SmallCNN; colour images are turned grey and every image
    resized to 32 px, its input; ``scratch`` is the same SmallCNN from random weights.
    """
    profile = profile or get_profile()
    if source not in OWN_SOURCES:
        raise ValueError(f"source={source!r}: choose one of {list(OWN_SOURCES)} ({'; '.join(OWN_SOURCES.values())}).")
    if source == "letters":
        grey = data.images.mean(1, keepdim=True)  # the letters network reads one channel
        data = ImageDataset(resize_images(grey, 32), data.labels, data.classes, data.card)
    pool, test = stratified_split(data, test_fraction=test_fraction, seed=0)
    name = f"{source}->{data.card.name}"
    if source == "letters":
        letters, _ = load_pretrained_cnn()
        return Task(name, pool, test, transfer_small_cnn(letters, len(data.classes)))
    task = lite0_images_task(name, pool, test, profile)
    task.extra_strategies["small_scratch"] = _small_scratch
    return task
