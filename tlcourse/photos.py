"""Real photos that scikit-learn and scikit-image ship: what ImageNet models are shown offline."""
from __future__ import annotations

from PIL import Image

# All are files inside installed wheels: nothing is downloaded.
PHOTO_NAMES = ("china", "flower", "chelsea", "coffee", "astronaut", "rocket")


def sample_photo(name: str) -> Image.Image:
    """One RGB photo by name: ``china``/``flower`` (scikit-learn), ``chelsea`` (a cat),
    ``coffee``, ``astronaut``, ``rocket`` (scikit-image)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        array = load_sample_image(f"{name}.jpg")
    elif name in PHOTO_NAMES:
        from skimage import data

        array = getattr(data, name)()
    else:
        raise ValueError(f"No sample photo called {name!r}; choose one of {list(PHOTO_NAMES)}.")
    return Image.fromarray(array).convert("RGB")


def sample_photos(names=PHOTO_NAMES) -> dict[str, Image.Image]:
    """Several photos at once, by name (all six by default)."""
    return {name: sample_photo(name) for name in names}
