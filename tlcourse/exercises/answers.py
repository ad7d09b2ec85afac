"""A question's answer carried out of the notebook's process as data, so that checks never run
where the learner's code ran.

The notebook's process (in the grader's box) turns each answer into data
(:func:`save_answers`): tensors and models as ``torch.save`` writes them, a ``DataFrame`` as a
:class:`Table`, an optimizer as an :class:`OptimizerRecord` (its parameter groups by parameter
name and their rates), a function as a :class:`FunctionRecord` (its name only). A question that
asks for a function (``Problem.runs``) runs it there, on the check's own inputs, and hands over
only what came out. The checks run later in another process (:mod:`tlcourse.exercises.judge`)
that reads the answers back with :func:`load_answers`: ``torch.load(weights_only=True)``, with
only the classes a course model is built from allowed (``torch.nn`` layers, timm's and
transformers' blocks, tlcourse's own classes). No code of the learner's crosses: a model built
from a class the notebook defined cannot be rebuilt outside it, and the check says so.

``Problem.check`` in a notebook sends the answer through the same round trip, in memory, so the
learner sees exactly what the grader will.
"""
from __future__ import annotations

import enum
import importlib
import io
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePath

import torch
from torch import nn

from .handover import read_untrusted

ANSWER_BYTES = 1 << 30  # the largest answer file read back (a fine-tuned MiniLM is about 90 MB)
TRUSTED_PACKAGES = ("torch", "torchvision", "timm", "transformers", "tlcourse")


@dataclass
class Table:
    """A pandas DataFrame as data: its columns, index and rows."""

    columns: list
    index: list
    rows: list

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, index=self.index, columns=self.columns)


@dataclass
class OptimizerRecord:
    """An optimizer as data: its class name and parameter groups, each with its hyperparameters and
    its parameters named ``variable.parameter`` (``ft_model.block3.0.weight``)."""

    kind: str
    groups: list


@dataclass
class FunctionRecord:
    """A function (or any callable that is not a model) of the learner's: only its name crosses."""

    name: str
    kind: str

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name} (not handed over: the check ran it where it was defined)>"


@dataclass
class NotSent:
    """An answer that could not be written out as data, and why."""

    kind: str
    reason: str


@dataclass
class SameAs:
    """An answer that is the very object another variable of the same question holds."""

    name: str


@dataclass
class Raised:
    """What a learner's function raised when the check ran it (``mistake``: a check's own advice,
    raised while running it, to be shown as it is)."""

    error: str
    mistake: bool = False


class NotRebuilt(Exception):
    """An answer file that names a class the checks will not rebuild."""


OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam")


def _parameter_names(values: dict) -> dict[int, str]:
    return {id(p): f"{name}.{pname}" for name, value in values.items() if isinstance(value, nn.Module)
            for pname, p in value.named_parameters()}


def as_data(value, names: dict[int, str] | None = None, depth: int = 0):
    """``value`` with what cannot cross as data replaced by records (see the module's docstring)."""
    if depth > 20:
        raise ValueError("nested too deep")
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == () and hasattr(value, "item"):
        return value.item()  # a NumPy scalar (np.float64 is also a float): a plain Python number
    if isinstance(value, nn.Module) or isinstance(value, (torch.Tensor, str, bytes, int, float, bool, type(None))):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if type(value).__name__ == "DataFrame" and hasattr(value, "to_dict"):
        split = value.to_dict("split")
        return Table(*(as_data(list(split[k]), names, depth + 1) for k in ("columns", "index")),
                     [as_data(list(r), names, depth + 1) for r in split["data"]])
    if isinstance(value, torch.optim.Optimizer):
        names = names or {}
        groups = [{**{k: v for k, v in group.items() if k != "params" and isinstance(v, (int, float, bool, tuple))},
                   "params": [names.get(id(p), "(a parameter of no model in this answer)") for p in group["params"]]}
                  for group in value.param_groups]
        return OptimizerRecord(type(value).__name__, groups)
    if isinstance(value, (list, tuple)):
        items = [as_data(v, names, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k if isinstance(k, (str, int, float, bool)) else str(k): as_data(v, names, depth + 1)
                for k, v in value.items()}
    if type(value).__module__ == "numpy" and hasattr(value, "dtype") and not value.dtype.hasobject:
        return torch.from_numpy(value.copy()) if value.dtype.kind in "biuf" else value.tolist()
    if callable(value):
        return FunctionRecord(getattr(value, "__qualname__", getattr(value, "__name__", "?")), type(value).__name__)
    return value  # anything else is tried as it is; load_answers refuses classes it does not know


def _saved(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def encode(values: dict) -> bytes:
    """One question's answers (variable name -> value) as the bytes of one ``torch.save`` file,
    each variable saved on its own (so one that cannot be rebuilt costs only itself); a value
    that cannot be written becomes :class:`NotSent`."""
    names = _parameter_names(values)
    data, seen = {}, {}
    for name, value in values.items():
        if not isinstance(value, (int, float, bool, str, type(None))) and id(value) in seen:
            data[name] = _saved(SameAs(seen[id(value)]))
            continue
        seen[id(value)] = name
        try:
            data[name] = _saved(as_data(value, names))
        except Exception as err:  # an object pickle cannot write (a lambda inside a model, a generator)
            data[name] = _saved(NotSent(type(value).__name__, f"{type(err).__name__}: {err}"[:300]))
    return _saved(data)


def _trusted(obj) -> bool:
    """Whether a global named in an answer file may be rebuilt: a class a course model or record is
    made of, never a function that does more than arithmetic on tensors."""
    if isinstance(obj, type):
        module = obj.__module__.split(".")[0]
        if obj in (OrderedDict, Path, type(Path())) or issubclass(obj, enum.Enum) and module in TRUSTED_PACKAGES:
            return True
        if module == "tlcourse":
            return True
        if module in TRUSTED_PACKAGES and (issubclass(obj, nn.Module) or obj.__module__.startswith("torchvision.transforms")):
            return True
        if module == "transformers":
            from transformers import PretrainedConfig

            return issubclass(obj, PretrainedConfig)
        return False
    return getattr(obj, "__module__", None) in ("torch._C._nn", "torch.nn.functional") and callable(obj)


def _resolve(name: str):
    module, _, attribute = name.rpartition(".")
    if module.split(".")[0] not in TRUSTED_PACKAGES + ("collections", "pathlib"):
        raise NotRebuilt(f"{name} is not part of torch, timm, transformers or tlcourse")
    try:
        obj = importlib.import_module(module)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise NotRebuilt(f"{name} does not exist here ({err})") from None
    if not _trusted(obj):
        raise NotRebuilt(f"{name} is not a class a course model is built from")
    return obj


def decode_one(data: bytes):
    """Read back one value :func:`encode` saved, with ``weights_only=True`` and only trusted classes
    allowed. Raises :class:`NotRebuilt` naming the first class that is not allowed."""
    names = torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data))
    local = [n for n in names if n.split(".")[0] in ("__main__", "__mp_main__")]
    if local:
        raise NotRebuilt(f"it is built from {local[0].split('.', 1)[1]}, a class defined in the notebook: "
                         "the checks rebuild only what is made of torch.nn layers and the course's own "
                         "classes (nn.Sequential, nn.Linear, tlcourse.models ...)")
    allowed = [_resolve(n) for n in names]
    with torch.serialization.safe_globals(allowed):
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def decode(data: bytes) -> dict:
    """Every answer in :func:`encode`'s bytes; one that cannot be rebuilt becomes :class:`NotSent`."""
    saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or not all(isinstance(k, str) and isinstance(v, bytes) for k, v in saved.items()):
        raise NotRebuilt("the answers file is not what the notebook's process writes")
    values = {}
    for name, one in saved.items():
        try:
            values[name] = decode_one(one)
        except NotRebuilt as err:
            values[name] = NotSent("answer", str(err))
        except Exception as err:  # a damaged or crafted file
            values[name] = NotSent("answer", f"it could not be read back: {type(err).__name__}: {err}"[:300])
    return values


def restore(values: dict) -> dict:
    """Turn records back into objects the checks use: a :class:`Table` into a DataFrame, an
    :class:`OptimizerRecord` into an optimizer over the same answer's models' parameters."""
    values = {name: values[value.name] if isinstance(value, SameAs) and value.name in values else value
              for name, value in values.items()}
    params = {f"{name}.{pname}": p for name, value in values.items() if isinstance(value, nn.Module)
              for pname, p in value.named_parameters()}

    def back(value):
        if isinstance(value, Table):
            return value.frame()
        if isinstance(value, OptimizerRecord):
            return _optimizer(value, params)
        if isinstance(value, list):
            return [back(v) for v in value]
        if isinstance(value, tuple):
            return tuple(back(v) for v in value)
        if isinstance(value, dict):
            return {k: back(v) for k, v in value.items()}
        return value

    return {name: back(value) for name, value in values.items()}


def _optimizer(record: OptimizerRecord, params: dict):
    if record.kind not in OPTIMIZERS:
        return NotSent(record.kind, f"an optimizer the checks do not rebuild (they know {', '.join(OPTIMIZERS)})")
    groups = []
    for group in record.groups:  # a parameter of no model in this answer stays out: the checks see it missing
        held = [params[n] for n in group["params"] if n in params]
        if held:
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": held})
    if not groups:  # torch refuses an optimizer without parameters
        groups = [{"params": [nn.Parameter(torch.zeros(1))], "lr": record.groups[0].get("lr", 0.0) if record.groups else 0.0}]
    try:
        return getattr(torch.optim, record.kind)(groups)
    except (TypeError, ValueError) as err:
        return NotSent(record.kind, f"its settings could not be rebuilt: {err}")


def round_trip(values: dict) -> dict:
    """``values`` as the checks outside the notebook would see them (what ``Problem.check`` grades)."""
    return read_answers(encode(values))


def read_answers(data: bytes) -> dict:
    """The answers in ``data``, records turned back into objects (see :func:`decode`, :func:`restore`)."""
    return restore(decode(data))


def answer_file(folder: Path, question) -> Path:
    """Where the grader's runner leaves ``question``'s answers (``folder/q1.pt``)."""
    return folder / f"{question.name}.pt"


def load_answers(path: Path) -> dict:
    """Read answers :func:`save_answers` wrote, from a file the learner's process could have
    written: no link followed, at most ``ANSWER_BYTES`` read, trusted classes only."""
    return read_answers(read_untrusted(path, ANSWER_BYTES))


__all__ = ["FunctionRecord", "answer_file", "NotRebuilt", "NotSent", "OptimizerRecord", "Raised", "SameAs", "Table", "as_data", "decode",
           "decode_one", "encode", "load_answers", "read_answers", "restore", "round_trip"]
