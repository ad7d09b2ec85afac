"""Every data set of the course behind one name: ``load("mnist5k", size=32)``.

Offline (shipped in installed wheels or generated; nothing is downloaded):

- ``glyphs``: characters rendered from matplotlib's fonts, the pretraining source.
  ``load("glyphs", n=10_000, chars="letters" | "digits" | "both" | "ABC...", size=32, seed=0)``
- ``mnist5k``: 5,000 real handwritten digits, 1x28x28. ``size=28``
- ``digits``: scikit-learn's 1,797 8x8 digits. ``size=8``
- ``faces``: 100 LFW faces vs 100 background patches, 1x25x25. ``size=25``
- ``solar_cells``: 2,624 electroluminescence scans of solar cells.
  ``task="binary" | "probability", size=128, cell_type=None | "mono" | "poly"``
- ``tweets``: ~22k real tweets, negative vs positive. ``task="binary" | "three_class",
  min_confidence=None, dedupe=True``
- ``spoken_digits``: "zero"..."nine" synthesized by eSpeak NG, 1 s at 16 kHz; test speakers
  never in train. ``n=2_000, split="train" | "test", seed=0``
- ``spoken_words``: the 25 other Speech Commands words, by the digits' train speakers only
  (a near source). ``n=4_000, seed=0``

Online (downloaded once into ``cache_dir()``, then offline): ``cifar10``, ``flowers102``,
``oxford_pets``, ``eurosat`` (``split="train", size=None``); the MedMNIST medical sets
``pneumoniamnist`` (chest X-rays), ``dermamnist`` (skin lesions), ``bloodmnist``,
``pathmnist``, ``breastmnist`` (``split="train" | "val" | "test" | "all", size=28``);
``sst2``, ``imdb`` (``split="train"``) and ``speech_commands`` (real recordings:
``split="train", words="digits", max_per_class=500, seed=0``).

``card(name)`` says where each comes from and under which license; ``stratified_split`` and
``few_shot_subset`` cut any of them into train/test parts and label budgets,
``split_by_speaker`` cuts speech by speaker. ``log_mel`` turns clips into spectrograms,
``spectrogram_images`` into 32 x 32 images a CNN reads, and ``SpecAugment`` masks them.

Your own images: ``load_image_folder(path, size=64)`` reads a folder with one sub-folder per
class (torchvision's ``ImageFolder`` layout) into an ImageDataset; it takes a path, not a name,
so it is not in the registry; ``save_image_folder`` writes a data set in that layout.
"""
from .audio import AudioDataset, SpecAugment, log_mel, spectrogram_images, split_by_speaker
from .core import DataArgumentError, DataFileError, DatasetCard, ImageDataset, TextDataset
from .folder import load_image_folder, save_image_folder
from .online import LazyImageDataset
from .registry import card, list_datasets, load
from .splits import (few_shot_indices, few_shot_subset, stratified_split, train_and_validation,
                     train_and_validation_indices)

__all__ = [
    "AudioDataset", "DataArgumentError", "DataFileError", "DatasetCard", "ImageDataset", "LazyImageDataset",
    "SpecAugment", "TextDataset", "card", "few_shot_indices", "few_shot_subset", "list_datasets", "load",
    "load_image_folder", "save_image_folder",
    "log_mel", "spectrogram_images", "split_by_speaker", "stratified_split", "train_and_validation",
    "train_and_validation_indices",
]
