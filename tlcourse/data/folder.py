"""Your own images: a folder with one sub-folder per class, as torchvision's ``ImageFolder`` reads.

::

    my_photos/
        cracked/   img001.png  img002.jpg ...
        intact/    a.png  b.png ...

:func:`load_image_folder` reads it with Pillow into an :class:`ImageDataset` (classes in sorted
order, as ``ImageFolder`` numbers them), each image cropped to a centred square and resized to
``size`` pixels. Grey when every image is grey, RGB otherwise.

What it does with what it finds, so that a bad folder says what to fix:

- a file with an image extension (``IMAGE_EXTENSIONS``) that Pillow cannot read **fails** the
  load, naming the file: a broken image is usually a download or copy that went wrong, and
  silently training without it hides that. ``skip_unreadable=True`` skips such files instead and
  names them in a warning;
- other files (``notes.txt``, ``.DS_Store``, hidden files) and files at the top level, outside
  any class folder, are left out and named in a warning;
- a missing path, a folder without class folders, a class folder without images, or a single
  class fail with a :class:`DataFileError` saying what to do next.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .core import DataFileError, DatasetCard, ImageDataset, check_size

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
LAYOUT = "one sub-folder per class, each holding that class's images (torchvision's ImageFolder layout)"


def _class_folders(root: Path) -> list[Path]:
    """The class folders of ``root``, sorted by name; a DataFileError when there are none."""
    if not root.exists():
        raise DataFileError(f"There is no folder {root}: check the path (it is read relative to "
                            f"{Path.cwd()}); it should hold {LAYOUT}.")
    if not root.is_dir():
        raise DataFileError(f"{root} is a file, not a folder: pass the folder that holds {LAYOUT}.")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataFileError(f"{root} has no class folders: put {LAYOUT}, e.g. {root / 'cats'}/ and "
                            f"{root / 'dogs'}/.")
    if len(folders) == 1:
        raise DataFileError(f"{root} has a single class folder ({folders[0].name}): a classifier needs at "
                            "least two classes. Add a folder for each other class.")
    return folders


def _image_files(folder: Path, ignored: list[Path]) -> list[Path]:
    """The image files of one class folder (sorted); anything else goes to ``ignored``."""
    files = []
    for path in sorted(folder.rglob("*")):
        if path.is_dir():
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith("."):
            files.append(path)
        else:
            ignored.append(path)
    if not files:
        raise DataFileError(f"The class folder {folder} holds no image ({', '.join(IMAGE_EXTENSIONS)}): "
                            "add its images, or delete the folder if that class is not wanted.")
    return files


def _read(path: Path, size: int) -> np.ndarray:
    """One image as RGB uint8 (size, size, 3): the centred square, resized. DataFileError if unreadable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            return np.asarray(ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataFileError(f"Cannot read the image {path} ({type(err).__name__}: {err}). Replace or delete "
                            "that file, or pass skip_unreadable=True to leave unreadable files out.") from err


def load_image_folder(path, size: int = 64, skip_unreadable: bool = False) -> ImageDataset:
    """Every image of the class folders of ``path`` as an ImageDataset ``(N, C, size, size)`` in
    [0, 1], C = 1 when every image is grey, else 3; labels numbered by sorted class-folder name.

    Unreadable images fail the load unless ``skip_unreadable``; other files are left out with a
    warning (see the module docstring).
    """
    root, size = Path(path).expanduser(), check_size(size)
    folders = _class_folders(root)
    ignored = [p for p in root.iterdir() if p.is_file()]  # loose files belong to no class
    pictures, labels, unreadable = [], [], []
    for label, folder in enumerate(folders):
        read = 0
        for file in _image_files(folder, ignored):
            try:
                pictures.append(_read(file, size))
            except DataFileError:
                if not skip_unreadable:
                    raise
                unreadable.append(file)
                continue
            labels.append(label)
            read += 1
        if read == 0:
            raise DataFileError(f"No image of the class folder {folder} could be read: replace its files.")
    if ignored:
        warnings.warn(f"Left out {len(ignored)} file(s) that are not images in a class folder: "
                      f"{', '.join(str(p) for p in ignored[:5])}{' ...' if len(ignored) > 5 else ''}", stacklevel=2)
    if unreadable:
        warnings.warn(f"Skipped {len(unreadable)} unreadable image(s): {', '.join(map(str, unreadable))}",
                      stacklevel=2)
    images = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).float() / 255
    if torch.equal(images[:, :1].expand_as(images), images):  # every image grey: keep one channel
        images = images[:, :1].contiguous()
    classes = [f.name for f in folders]
    card = DatasetCard(name=root.name, description=f"Your images from {root}.", source=str(root),
                       license="yours", size=len(images), classes=len(classes),
                       input=f"{images.shape[1]}x{size}x{size} in [0, 1]", offline=True)
    return ImageDataset(images, torch.tensor(labels), classes, card)


def save_image_folder(dataset: ImageDataset, path) -> Path:
    """Write ``dataset`` as PNG files in the layout :func:`load_image_folder` reads (one folder per
    class, ``00000.png`` ...): to try the loader, or to hand a data set to another tool."""
    from PIL import Image

    root = Path(path).expanduser()
    pixels = (dataset.images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    for i, (picture, label) in enumerate(zip(pixels, dataset.labels.tolist())):
        folder = root / dataset.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(folder / f"{i:05d}.png")
    return root
