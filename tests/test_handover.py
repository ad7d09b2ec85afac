"""The notebook's variables cross from the box to the hidden tests as data only."""
import os

import numpy as np
import pytest
import torch

from tlcourse.exercises.handover import NotHandedOver, export_namespace, import_namespace, read_untrusted

LIMIT = 2**20


def test_data_crosses_and_objects_stay_behind(tmp_path):
    circular = []
    circular.append(circular)
    namespace = {"accuracy": 0.75, "n": np.int64(3), "name": "probe", "done": True, "nothing": None,
                 "history": [{"epoch": 1, "loss": 0.5}], "pair": (1, "a"), "by_label": {1: 0.5, 5: 0.8},
                 "features": np.arange(6, dtype=np.float32).reshape(2, 3),
                 "weights": torch.ones(2, requires_grad=True), "model": torch.nn.Linear(2, 2),
                 "circular": circular, "_private": 1, "In": ["cell"]}
    export_namespace(namespace, tmp_path)
    handed = import_namespace(tmp_path, LIMIT)
    assert set(handed) == {"accuracy", "n", "name", "done", "nothing", "history", "pair", "by_label",
                           "features", "weights"}
    assert handed["n"] == 3 and handed["pair"] == (1, "a") and handed["by_label"] == {1: 0.5, 5: 0.8}
    assert handed["history"] == [{"epoch": 1, "loss": 0.5}]
    np.testing.assert_array_equal(handed["features"], namespace["features"])
    assert torch.equal(handed["weights"], torch.ones(2))
    with pytest.raises(NotHandedOver, match="`model` is a Linear: hidden tests receive only data"):
        handed["model"]
    with pytest.raises(KeyError, match="no variable `missing`"):
        handed["missing"]


def test_object_arrays_are_not_pickled(tmp_path):
    export_namespace({"objects": np.array([object()], dtype=object)}, tmp_path)
    handed = import_namespace(tmp_path, LIMIT)
    assert "objects" not in handed and handed.left_behind == {"objects": "ndarray"}


def test_links_and_oversized_files_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (tmp_path / "report.json").symlink_to(secret)
    with pytest.raises(OSError):
        read_untrusted(tmp_path / "report.json", LIMIT)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        read_untrusted(tmp_path / "fifo", LIMIT)
    with pytest.raises(OSError, match="larger than"):
        read_untrusted(secret, 3)
    assert read_untrusted(secret, LIMIT) == b"not yours"
