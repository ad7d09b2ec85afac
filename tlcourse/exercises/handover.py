"""A notebook's variables handed out of its box as data, never as code.

The process that ran the learner's cells writes its variables to a folder
(:func:`export_namespace`); the hidden tests run in another process that reads them back
(:func:`import_namespace`). Only data crosses: numbers, strings, booleans and None, lists,
tuples and dicts of them (as JSON), numpy arrays and torch tensors (as an ``.npz`` read with
``allow_pickle=False``). Models, functions and other objects stay behind; a hidden test that
asks for one is told so. Nothing is unpickled, so a crafted file can at worst be wrong data.
"""
from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import numpy as np

VALUES, ARRAYS = "values.json", "arrays.npz"
SKIPPED_NAMES = {"In", "Out", "get_ipython", "exit", "quit"}
MAX_DEPTH = 20  # nesting of lists and dicts handed over; deeper (or circular) values stay behind


class NotData(TypeError):
    """A value that is not plain data (a model, a function, a circular list)."""


def _encode(value, arrays: list, depth: int = 0):
    if depth > MAX_DEPTH:
        raise NotData("nested too deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return value.item()
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        arrays.append(value)
        return {"array": len(arrays) - 1}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        arrays.append((tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy())
        return {"tensor": len(arrays) - 1}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [_encode(v, arrays, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, arrays, depth + 1), _encode(v, arrays, depth + 1)]
                         for k, v in value.items()]}
    raise NotData(type(value).__name__)


def export_namespace(namespace: dict, folder: Path) -> None:
    """Write the data variables of ``namespace`` to ``folder``; the rest are listed by type."""
    folder.mkdir(parents=True, exist_ok=True)
    values, arrays, left = {}, [], {}
    for name, value in namespace.items():
        if name.startswith("_") or name in SKIPPED_NAMES:
            continue
        try:
            mark = len(arrays)
            values[name] = _encode(value, arrays)
        except (NotData, RecursionError, RuntimeError, ValueError) as err:
            del arrays[mark:]
            kind = type(value).__name__
            left[name] = kind if isinstance(err, NotData) else f"{kind} ({err})"
    (folder / VALUES).write_text(json.dumps({"values": values, "left_behind": left}))
    np.savez(folder / ARRAYS, *arrays)


def read_untrusted(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, a file the learner's process could have written: never through a
    symbolic link (it could point at a file outside the box), a regular file only, at most
    ``limit`` bytes."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path.name} is larger than {limit:,} bytes")
    return data


class NotHandedOver(KeyError):
    """A variable the hidden tests asked for and did not receive."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class HandedOver(dict):
    """The notebook's data variables, as the hidden tests see them: ``ns["name"]``."""

    def __init__(self, values: dict, left_behind: dict):
        super().__init__(values)
        self.left_behind = left_behind

    def __missing__(self, name):
        if name in self.left_behind:
            raise NotHandedOver(f"`{name}` is a {self.left_behind[name]}: hidden tests receive only data "
                           f"(numbers, strings, lists, dicts, arrays, tensors), not objects")
        raise NotHandedOver(f"the notebook has no variable `{name}`")


def _decode(value, arrays):
    if not isinstance(value, dict):
        return value
    (kind, inner), = value.items()
    if kind == "array":
        return arrays[f"arr_{inner}"]
    if kind == "tensor":
        import torch

        return torch.from_numpy(arrays[f"arr_{inner}"].copy())
    items = [_decode(v, arrays) for v in inner] if kind in ("list", "tuple") else None
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    if kind == "dict":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in inner}
    raise ValueError(f"unknown kind {kind!r} in the handed-over values")


def import_namespace(folder: Path, limit: int) -> HandedOver:
    """Read back what :func:`export_namespace` wrote, with no pickles and no links followed."""
    stored = json.loads(read_untrusted(folder / VALUES, limit))
    arrays = np.load(io.BytesIO(read_untrusted(folder / ARRAYS, limit)), allow_pickle=False)
    values = {name: _decode(value, arrays) for name, value in stored["values"].items()}
    return HandedOver(values, {str(k): str(v) for k, v in stored["left_behind"].items()})
