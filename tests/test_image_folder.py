"""load_image_folder on folders the test writes: the ImageFolder layout read back exactly, and
every bad folder a learner is likely to have, each with a message that says what to fix."""
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from tlcourse.data import DataFileError, ImageDataset, load_image_folder, save_image_folder
from tlcourse.experiments import compare


def _dataset(n_per_class=4, classes=("cats", "dogs"), channels=1, size=16):
    torch.manual_seed(0)
    k = len(classes)
    images = (torch.rand(n_per_class * k, channels, size, size) * 255).round() / 255
    return ImageDataset(images, torch.arange(k).repeat_interleave(n_per_class), list(classes))


def test_a_saved_folder_reads_back_exactly(tmp_path):
    data = _dataset()
    save_image_folder(data, tmp_path / "pets")
    back = load_image_folder(tmp_path / "pets", size=16)
    assert back.classes == ["cats", "dogs"] and back.images.shape == (8, 1, 16, 16)
    assert torch.equal(back.labels, data.labels) and torch.allclose(back.images, data.images)
    assert back.card.name == "pets" and back.card.size == 8


def test_colour_stays_colour_and_images_are_cropped_square_then_resized(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, 10:30, 0] = 255  # a red square in the middle of a black strip
    Image.fromarray(wide).save(tmp_path / "a" / "wide.png")
    Image.fromarray(np.full((8, 8), 128, dtype=np.uint8)).save(tmp_path / "b" / "grey.jpg")
    data = load_image_folder(tmp_path, size=10)
    assert data.images.shape == (2, 3, 10, 10)
    red = data.images[0, 0]  # the crop kept the red square only (bilinear blends its border pixels)
    assert red[:, 1:-1].min() > 0.99 and red.min() > 0.8 and data.images[0, 1:].max() < 0.01


def test_missing_path_file_and_folders_without_classes(tmp_path):
    with pytest.raises(DataFileError, match="There is no folder .*check the path"):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(DataFileError, match="is a file, not a folder"):
        load_image_folder(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match="has no class folders: put one sub-folder per class"):
        load_image_folder(tmp_path / "empty")


def test_a_single_class_and_an_empty_class_folder(tmp_path):
    save_image_folder(_dataset(classes=("cats",)), tmp_path / "one")
    with pytest.raises(DataFileError, match="single class folder \\(cats\\).*at least two classes"):
        load_image_folder(tmp_path / "one")
    save_image_folder(_dataset(), tmp_path / "two")
    (tmp_path / "two" / "birds").mkdir()
    (tmp_path / "two" / "birds" / "notes.txt").write_text("to do")
    with pytest.raises(DataFileError, match="birds holds no image .*delete the folder"):
        load_image_folder(tmp_path / "two")


def test_a_corrupt_image_fails_naming_it_or_is_skipped_with_a_warning(tmp_path):
    save_image_folder(_dataset(), tmp_path)
    bad = tmp_path / "dogs" / "broken.jpg"
    bad.write_bytes(b"not really a jpeg")
    with pytest.raises(DataFileError, match=f"Cannot read the image {bad}.*skip_unreadable=True"):
        load_image_folder(tmp_path, size=16)
    with pytest.warns(UserWarning, match="Skipped 1 unreadable image"):
        data = load_image_folder(tmp_path, size=16, skip_unreadable=True)
    assert len(data) == 8


def test_non_image_and_loose_files_are_left_out_with_a_warning(tmp_path):
    save_image_folder(_dataset(), tmp_path)
    (tmp_path / "cats" / "README.txt").write_text("about the cats")
    (tmp_path / "cats" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "labels.csv").write_text("a,b")
    with pytest.warns(UserWarning, match="Left out 3 file"):
        data = load_image_folder(tmp_path, size=16)
    assert len(data) == 8
    save_image_folder(_dataset(), tmp_path / "clean")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean folder warns about nothing
        load_image_folder(tmp_path / "clean", size=16)


def test_own_task_runs_through_compare_from_letters(tmp_path):
    from tlcourse import get_profile
    from tlcourse.tasks import own_task

    save_image_folder(_dataset(n_per_class=6, channels=3, size=40), tmp_path / "mine")
    task = own_task(load_image_folder(tmp_path / "mine", size=40), "letters", get_profile("smoke"))
    assert task.name == "letters->mine" and task.pool.images.shape[1:] == (1, 32, 32)
    assert len(task.test) == 4 and len(task.pool) == 8  # 30% of each class held out
    results = compare(task, ["scratch", "linear_probe"], [1], [0], progress=False)
    assert list(results["strategy"]) == ["scratch", "linear_probe"] and results["accuracy"].between(0, 1).all()
    with pytest.raises(ValueError, match="choose one of \\['imagenet', 'letters'\\]"):
        own_task(task.pool, "resnet")
