"""The course's one training loop, evaluation, feature caching and the linear probe.

Every notebook trains through :func:`fit`, so what differs between two runs is only what the
notebook says differs: which blocks are frozen, the learning rates, the data. Data are either
an object with ``.images`` and ``.labels`` tensors (``tlcourse.data.ImageDataset``) or a pair
``(inputs, labels)``; both are moved to the device once, not per batch.

On CUDA the loop runs in bf16 autocast with ``channels_last`` images (one switch:
``fast_gpu``); on CPU it runs plain float32, repeats exactly for a seed, and keeps images
``channels_last`` too, a layout choice only (:func:`uses_channels_last`).
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import json
import math
import os
import pickle
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import get_device
from .freeze import apply_bn_policy, named_blocks, param_groups, set_trainable

Transform = Callable[[torch.Tensor], torch.Tensor]
Penalty = Callable[[nn.Module], torch.Tensor]  # model -> a scalar added to the training loss


@dataclass
class History:
    """Per-epoch records of one :func:`fit` run."""

    rows: list[dict] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    @property
    def final(self) -> dict:
        return self.rows[-1] if self.rows else {}

    @property
    def best_val_accuracy(self) -> float | None:
        accs = [r["val_accuracy"] for r in self.rows if "val_accuracy" in r]
        return max(accs) if accs else None


def as_tensors(data) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, labels)`` from an ImageDataset-like object or a pair of tensors."""
    if hasattr(data, "images") and hasattr(data, "labels"):
        x, y = data.images, data.labels
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise TypeError(f"Expected an ImageDataset or a pair (inputs, labels), got {type(data).__name__}.")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels: they must match one to one.")
    if len(x) == 0:
        raise ValueError("The data set is empty: check the split or the labels-per-class budget.")
    return x, torch.as_tensor(y, dtype=torch.long)


# Device types on which ``fast_gpu=True`` means bf16 autocast: CUDA only. The tests add "cpu"
# (torch.autocast("cpu", dtype=torch.bfloat16) exists) to run the GPU path on a machine without one.
BF16_DEVICE_TYPES = frozenset({"cuda"})


def uses_bf16(device: torch.device, fast_gpu: bool = True) -> bool:
    """Whether the forward passes on ``device`` run in bf16 autocast: ``fast_gpu`` on a device
    type in ``BF16_DEVICE_TYPES`` (CUDA). Weights, gradients and losses stay float32."""
    return fast_gpu and device.type in BF16_DEVICE_TYPES


def autocast(device: torch.device, fast_gpu: bool = True):
    """bf16 autocast where :func:`uses_bf16` says so (CUDA with ``fast_gpu``), otherwise a no-op context."""
    if uses_bf16(device, fast_gpu):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def uses_channels_last(device: torch.device, fast_gpu: bool = True) -> bool:
    """Whether image batches and conv weights are stored channels-last (NHWC) on ``device``.

    With bf16 (:func:`uses_bf16`: tensor cores want it), and always on the CPU: there the oneDNN
    convolutions ran 1.25x (SmallCNN) and 1.3-1.45x (EfficientNet-Lite0) faster per training
    step on this project's 2 cores. The arithmetic is the same float32; only rounding differs.
    """
    return device.type == "cpu" or uses_bf16(device, fast_gpu)


def _to_device(x: torch.Tensor, device: torch.device, fast_gpu: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if x.dim() == 4 and uses_channels_last(device, fast_gpu):
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _prepare(model: nn.Module, device: torch.device, fast_gpu: bool) -> nn.Module:
    """Move ``model`` to ``device``, its conv weights in the layout its images will have."""
    model.to(device)
    if uses_channels_last(device, fast_gpu):
        model.to(memory_format=torch.channels_last)  # only 4-d tensors change; others stay as they are
    return model


def _batches(n: int, batch_size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int = 256,
            transform: Transform | None = None, device=None, fast_gpu: bool = True) -> torch.Tensor:
    """Logits ``(N, num_classes)`` for ``inputs`` ``(N, ...)``, on the CPU, in float32."""
    device = torch.device(device) if device else get_device()
    # Outside inference mode: weights moved or re-laid-out in it could never be trained again.
    _prepare(model, device, fast_gpu).eval()
    outs = []
    with torch.inference_mode():
        for idx in _batches(len(inputs), batch_size, None):
            xb = _to_device(inputs[idx], device, fast_gpu)
            with autocast(device, fast_gpu):
                outs.append(model(transform(xb) if transform else xb).float().cpu())
    return torch.cat(outs)


def evaluate(model: nn.Module, data, batch_size: int = 256, transform: Transform | None = None,
             device=None, fast_gpu: bool = True) -> dict:
    """Mean cross-entropy loss and accuracy (a fraction, 0-1) of ``model`` on ``data``.

    ``fast_gpu`` as in :func:`fit`: bf16 autocast on CUDA when True, float32 when False."""
    x, y = as_tensors(data)
    logits = predict(model, x, batch_size, transform, device, fast_gpu)
    return {"loss": F.cross_entropy(logits, y).item(),
            "accuracy": (logits.argmax(1) == y).float().mean().item()}


def _train_epoch(model, optimizer, scheduler, x, y, batch_size, generator, transform, device, fast_gpu,
                 shard=(0, 1), augment: Transform | None = None, penalty: Penalty | None = None):
    """One pass over ``x`` in shuffled batches: (mean loss, accuracy). With ``shard=(rank, world)``
    (data-parallel, see :func:`fit`) this process trains on rows rank, rank + world, ... of every
    batch, and the returned figures are the whole batch's, summed over the processes."""
    rank, world = shard
    total_loss, correct = 0.0, 0
    for idx in _batches(len(x), batch_size, generator):
        mine = idx[rank::world]
        xb, yb = x[mine], y[mine]
        if augment is not None:
            xb = augment(xb)
        with autocast(device, fast_gpu):
            logits = model(transform(xb) if transform else xb)
            # x1 in one process. In several, DDP averages the gradients over the processes, and
            # this weight makes that average the gradient of the whole batch's mean loss.
            loss = F.cross_entropy(logits.float(), yb) * (len(mine) * world / len(idx))
        # A term on the weights (L2-SP) joins the gradient; the recorded loss stays the data's.
        extra = penalty(getattr(model, "module", model)) if penalty is not None else 0.0  # same in every process
        optimizer.zero_grad(set_to_none=True)
        (loss + extra).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += loss.item() * len(idx) / world  # this process's rows' summed loss
        correct += (logits.argmax(1) == yb).sum().item()
    totals = torch.tensor([total_loss, correct], dtype=torch.float64, device=device)  # nccl reduces CUDA tensors only
    if world > 1:
        torch.distributed.all_reduce(totals)
    return totals[0].item() / len(x), totals[1].item() / len(x)


def fit(model: nn.Module, train, val=None, *, epochs: int, lr: float = 1e-3, decay: float = 1.0,
        batch_size: int = 64, weight_decay: float = 0.0, bn_policy: str = "frozen_eval",
        patience: int | None = None, seed: int = 0, transform: Transform | None = None,
        cosine: bool = False, val_every: int = 1, device=None, fast_gpu: bool = True,
        progress: bool = True, distributed: bool = False, augment: Transform | None = None,
        penalty: Penalty | None = None) -> History:
    """Train the model's trainable blocks with AdamW and cross-entropy; return the history.

    ``decay`` < 1 gives discriminative learning rates (see :func:`tlcourse.freeze.param_groups`).
    ``bn_policy`` says what BatchNorm layers do (:func:`tlcourse.freeze.apply_bn_policy`).
    ``val`` is scored every ``val_every`` epochs and after the last (a run of many short epochs
    then spends its time training, not validating). With ``val`` and ``patience``, training
    stops after ``patience`` validations without a better accuracy and the best weights are
    restored. ``cosine`` decays every learning
    rate to zero along a half cosine over the whole run (a calm last epoch). ``transform`` maps a batch of
    inputs on the device to what the model expects (for example grey 32x32 digits to
    normalised 3x128x128 for an ImageNet backbone). ``augment`` maps each *training* batch, before
    ``transform``, to a randomly changed copy (for example :func:`random_affine`): every epoch then
    sees other versions of the same labelled images; validation and testing never do.

    ``distributed``: data-parallel training in every process of torch.distributed's process group
    (launched by torchrun, see :mod:`tlcourse.distributed`), each called with the same data and
    seed. Each trains on its share of every batch (``batch_size`` is the whole batch's) and
    DistributedDataParallel averages the gradients, so the weights follow those of one process.

    ``penalty``: a function ``model -> scalar tensor`` added to every batch's loss, such as
    :func:`l2sp_penalty` (which pulls the weights back towards the pretrained ones).
    """
    device = torch.device(device) if device else get_device()
    x, y = as_tensors(train)
    x, y = _to_device(x, device, fast_gpu), y.to(device)
    _prepare(model, device, fast_gpu)
    net, shard = _data_parallel(model, device, len(x), batch_size) if distributed else (model, (0, 1))
    optimizer = torch.optim.AdamW(param_groups(model, lr, decay), weight_decay=weight_decay)
    steps = epochs * -(-len(x) // batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if cosine else None
    torch.manual_seed(seed)  # dropout and anything else random inside the model
    generator = torch.Generator().manual_seed(seed)
    history, best, best_state, waited = History(), -1.0, None, 0
    bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        apply_bn_policy(model.train(), bn_policy)
        loss, acc = _train_epoch(net, optimizer, scheduler, x, y, batch_size, generator,
                                 transform, device, fast_gpu, shard, augment, penalty)
        seconds = time.perf_counter() - start
        row = {"epoch": epoch, "train_loss": loss, "train_accuracy": acc, "seconds": seconds,
               "images_per_second": len(x) / seconds}
        validate = val is not None and (epoch % val_every == 0 or epoch == epochs)
        if validate:
            scores = evaluate(model, val, transform=transform, device=device, fast_gpu=fast_gpu)
            row |= {"val_loss": scores["loss"], "val_accuracy": scores["accuracy"]}
        history.rows.append(row)
        bar.set_postfix(loss=f"{loss:.3f}", **({"val_acc": f"{row['val_accuracy']:.3f}"} if validate else {}))
        if validate and patience is not None:
            if row["val_accuracy"] > best:
                best, best_state, waited = row["val_accuracy"], copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
                if waited >= patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _data_parallel(model: nn.Module, device: torch.device, n: int, batch_size: int):
    """``(DDP-wrapped model, (rank, world size))`` for :func:`fit`; every batch of ``n`` rows
    must give each process at least one row."""
    from torch.nn.parallel import DistributedDataParallel

    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    smallest = n % batch_size or min(n, batch_size)  # the last batch of each epoch
    if smallest < world:
        raise ValueError(f"A batch of {smallest} images cannot be shared by {world} processes: choose "
                         f"a batch size and data size whose every batch has at least {world} images.")
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids), (rank, world)


def fit_for_steps(model: nn.Module, train, steps: int, batch_size: int, lr: float, decay: float = 1.0,
                  seed: int = 0, **fit_kwargs) -> History:
    """Train with :func:`fit` for about ``steps`` gradient steps, whatever the data size: whole
    epochs (at least ``steps`` steps), the learning rate cosine-decayed to zero. So a 10-image
    run and a 500-image run get the same number of updates.

    ``train`` is whatever ``fit`` takes; ``fit_kwargs`` go to ``fit`` (``transform``, ``bn_policy``).
    """
    n = len(as_tensors(train)[1])
    batch = min(batch_size, n)
    epochs = math.ceil(steps / math.ceil(n / batch))
    return fit(model, train, epochs=epochs, lr=lr, decay=decay, batch_size=batch, seed=seed,
               cosine=True, progress=False, **fit_kwargs)


def unfreeze_schedule(blocks: list[str], steps: int) -> list[tuple[list[str], int]]:
    """Gradual unfreezing as phases ``(trainable blocks, steps)``: the last block of ``blocks``
    (the head) learns alone first, each phase adds the next block down, the last phase trains
    every block. The ``steps`` are split as evenly as whole numbers allow, the earlier phases
    taking the remainder; with fewer steps than blocks the last phases get none and are dropped,
    so the bottom blocks never unfreeze."""
    n = len(blocks)
    phases = [(blocks[n - 1 - i:], steps // n + (i < steps % n)) for i in range(n)]
    return [(trainable, share) for trainable, share in phases if share > 0]


def fit_gradual_unfreeze(model: nn.Module, train, steps: int, batch_size: int, lr: float,
                         decay: float = 1.0, seed: int = 0, **fit_kwargs) -> list[History]:
    """Gradual unfreezing (ULMFiT, Howard & Ruder 2018): the head learns first, then one more
    named block from the top joins every ``steps / len(blocks)`` steps, until every block learns.

    Each phase is :func:`fit_for_steps` on the blocks :func:`unfreeze_schedule` names, with its
    own optimizer and cosine schedule (ULMFiT's one cycle per unfrozen layer); a block joins
    once the layers above it have adapted to the new head, so the untrained head's first, large
    gradients never reach it. Returns one History per phase; ``model`` ends with the last
    phase's blocks trainable (every block, unless ``steps`` < blocks).
    """
    histories = []
    for phase, (blocks, phase_steps) in enumerate(unfreeze_schedule(list(named_blocks(model)), steps)):
        set_trainable(model, blocks)
        histories.append(fit_for_steps(model, train, phase_steps, batch_size, lr, decay, seed + phase,
                                       **fit_kwargs))
    return histories


def random_affine(degrees: float = 10, translate: float = 0.1, scale: tuple[float, float] = (0.9, 1.1)) -> Transform:
    """A training-batch augmentation: each image turned by up to ``degrees``, shifted by up to
    ``translate`` of its side and scaled within ``scale``, with its own random draw
    (torchvision's ``transforms.v2.RandomAffine``, which draws once per call, applied image by
    image). Draws come from torch's global generator, which :func:`fit` seeds."""
    from torchvision.transforms import v2

    affine = v2.RandomAffine(degrees=degrees, translate=(translate, translate), scale=scale)

    def augment(batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([affine(image) for image in batch])

    return augment


def dihedral_copies(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) square images -> (8N, C, H, W): each image turned by 0, 90, 180 and 270
    degrees, then the same four of its mirror image; copy ``j`` of image ``i`` is row ``j*N + i``.

    A fixed set instead of random flips: every epoch sees every orientation once, and the same
    8 copies can go through a frozen prefix once (:mod:`tlcourse.prefix`).
    """
    if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"dihedral_copies needs a batch of square images (N, C, H, H), got {tuple(images.shape)}.")
    turns = [torch.rot90(images, k, dims=(2, 3)) for k in range(4)]
    return torch.cat(turns + [t.flip(3) for t in turns])


def shifted_copies(images: torch.Tensor, pixels: int = 2) -> torch.Tensor:
    """(N, C, H, W) images -> (5N, C, H, W): each image as it is, then moved ``pixels`` pixels
    right, left, down and up (the border filled with zeros, the background of the course's
    characters); copy ``j`` of image ``i`` is row ``j*N + i``.

    Augmentation for images whose orientation matters (a turned 6 is a 9): where a character
    sits in its box means nothing, which way it faces does.
    """
    if images.dim() != 4:
        raise ValueError(f"shifted_copies needs a batch of images (N, C, H, W), got {tuple(images.shape)}.")
    p = pixels
    padded = F.pad(images, (p, p, p, p))
    h, w = images.shape[-2:]
    moves = [(p, p), (p, 0), (p, 2 * p), (0, p), (2 * p, p)]  # (top, left) of the crop: same, right, left, down, up
    return torch.cat([padded[..., top:top + h, left:left + w] for top, left in moves])


def l2sp_penalty(model: nn.Module, alpha: float, skip: tuple[str, ...] = ("head.",)) -> Penalty:
    """L2-SP (Li, Grandvalet & Davoine, 2018): ``alpha / 2 * ||w - w0||^2`` summed over the
    model's parameters as they are *now* (``w0``: the pretrained starting point), so fine-tuning
    may move the weights only as far as the data are worth.

    Parameters whose names start with one of ``skip`` (the new head, which has no pretrained
    value) are left out. Returns a function ``model -> scalar tensor`` for ``fit(penalty=...)``;
    ``alpha = 0`` gives plain fine-tuning.
    """
    start = {name: p.detach().clone() for name, p in model.named_parameters() if not name.startswith(skip)}

    def penalty(trained: nn.Module) -> torch.Tensor:
        moved = [(p - start[name].to(p.device)).pow(2).sum()
                 for name, p in trained.named_parameters() if name in start and p.requires_grad]
        return alpha / 2 * torch.stack(moved).sum() if moved else torch.zeros(())

    return penalty


@contextmanager
def without_head(model: nn.Module):
    """Temporarily replace the classifier (``head``, ``classifier`` or ``fc``) by the identity."""
    name = next((n for n in ("head", "classifier", "fc") if isinstance(getattr(model, n, None), nn.Module)), None)
    if name is None:
        raise ValueError(f"Cannot find the head of {type(model).__name__}: expected an attribute "
                         "named 'head', 'classifier' or 'fc'.")
    head = getattr(model, name)
    setattr(model, name, nn.Identity())
    try:
        yield model
    finally:
        setattr(model, name, head)


def extract_features(model: nn.Module, data, batch_size: int = 256, transform: Transform | None = None,
                     cache: str | Path | None = None, device=None, fast_gpu: bool = True,
                     progress: bool = True, cache_key: str | None = None) -> torch.Tensor:
    """Backbone features ``(N, D)`` (the input to the head), computed once and optionally cached.

    With ``cache`` (a file path), the features are saved there (a plain tensor) and read back by
    a later call that would compute the same thing, so a notebook can train many heads while
    running the backbone once. Beside it, ``<cache>.key`` holds a hash of what they were computed
    from: every tensor of the model's state dict without its head (weights and BatchNorm
    statistics), the input tensor, bf16 or float32, and the transform; when any of these differ
    the features are computed again and both files rewritten (atomically). A transform is known
    by its qualified name, so after editing one, or for a closure, lambda or callable object
    (whose settings a name does not show), pass ``cache_key``: a string naming the transform and
    its settings, e.g. ``cache_key="backbone_input(128)"``.
    """
    inputs = data if isinstance(data, torch.Tensor) else as_tensors(data)[0]
    device = torch.device(device) if device else get_device()
    with without_head(model):
        key = None
        if cache is not None:
            key = _features_key(model, inputs, transform, cache_key, _precision(device, fast_gpu))
            cached = _read_cached_features(Path(cache), key)
            if cached is not None:
                return cached
        features = _backbone_features(model, inputs, batch_size, transform, device, fast_gpu, progress)
    if cache is not None:
        _save_cached_features(Path(cache), key, features)
    return features


def _backbone_features(model, inputs, batch_size, transform, device, fast_gpu, progress) -> torch.Tensor:
    """``model(transform(inputs))`` batch by batch in eval mode, flattened to ``(N, D)`` on the CPU."""
    _prepare(model, device, fast_gpu).eval()
    chunks = []
    with torch.inference_mode():
        for idx in tqdm(list(_batches(len(inputs), batch_size, None)), desc="features",
                        disable=not progress, leave=False):
            xb = _to_device(inputs[idx], device, fast_gpu)
            with autocast(device, fast_gpu):
                chunks.append(model(transform(xb) if transform else xb).float().cpu())
    return torch.cat(chunks).flatten(1)


def _precision(device: torch.device, fast_gpu: bool) -> str:
    return "bf16" if uses_bf16(device, fast_gpu) else "float32"


def _features_key(model: nn.Module, inputs: torch.Tensor, transform, cache_key: str | None,
                  precision: str) -> str:
    """Hex digest of everything the features depend on (see :func:`extract_features`)."""
    h = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}|{precision}|"
                       f"{_transform_name(transform, cache_key)}|{cache_key}|".encode())
    for name, value in model.state_dict().items():
        _hash_value(h, name, value)
    _hash_value(h, "inputs", inputs)
    return h.hexdigest()


def _transform_name(transform, cache_key: str | None) -> str:
    """The qualified name of a plain function; a ValueError when a name cannot describe it."""
    if transform is None:
        return "none"
    qualname = getattr(transform, "__qualname__", type(transform).__qualname__)
    name = f"{getattr(transform, '__module__', '?')}.{qualname}"
    named = (inspect.isfunction(transform) or inspect.isbuiltin(transform)) and "<" not in name
    if not named and cache_key is None:
        raise ValueError(f"extract_features cannot cache features of the transform {name}: it is a "
                         "closure, lambda or callable object, whose settings its name does not show. "
                         "Pass cache_key='...' naming the transform and its settings (e.g. "
                         "cache_key='backbone_input(128)'), or leave out cache= to compute without a cache.")
    return name


def _hash_value(h, name: str, value) -> None:
    """Feed a name and a tensor (its dtype, shape and bytes) or any other value's repr into ``h``."""
    if not isinstance(value, torch.Tensor):
        h.update(f"{name}={value!r}|".encode())
        return
    value = value.detach().cpu().contiguous()
    h.update(f"{name}:{value.dtype}:{tuple(value.shape)}|".encode())
    h.update(value.reshape(-1).view(torch.uint8).numpy())


def _digest(tensor: torch.Tensor) -> str:
    h = hashlib.sha256()
    _hash_value(h, "features", tensor)
    return h.hexdigest()


def _key_file(cache: Path) -> Path:
    return cache.with_name(cache.name + ".key")


def _save_cached_features(cache: Path, key: str, features: torch.Tensor) -> None:
    """The tensor at ``cache``; beside it the key it was computed for and a digest of the tensor
    itself, so a tensor that was later replaced (by hand, or by a concurrent run) is not trusted."""
    save_atomic(features, cache)
    record = json.dumps({"inputs": key, "features": _digest(features)})
    _write_atomic(_key_file(cache), lambda f: f.write(record.encode()))


def _read_cached_features(cache: Path, key: str) -> torch.Tensor | None:
    """The tensor at ``cache`` if ``<cache>.key`` says it was computed for ``key`` and it is
    still the tensor that was saved there; None otherwise (missing, stale or edited)."""
    try:
        stored = json.loads(_key_file(cache).read_text())
        if not isinstance(stored, dict) or stored.get("inputs") != key:
            return None
        features = torch.load(cache, map_location="cpu", weights_only=True)
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError):
        return None  # no cache yet, or a file that is not one of ours
    if not isinstance(features, torch.Tensor) or _digest(features) != stored.get("features"):
        return None
    return features


def save_atomic(obj, path: str | Path) -> Path:
    """``torch.save(obj, path)`` all at once: written to a temporary file in the same folder, then
    renamed over ``path`` (``os.replace``), so an interrupted save leaves the old file or none,
    never half a file that a later run would read. Creates the folder; returns the path."""
    return _write_atomic(path, lambda f: torch.save(obj, f))


def _write_atomic(path: str | Path, write: Callable) -> Path:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(partial, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


class LinearProbe(nn.Module):
    """Standardise features, then one linear layer: multinomial logistic regression."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, num_classes: int):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(len(mean), num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.std)


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
                     C: float = 1.0, standardize: bool = True, max_iter: int = 500) -> LinearProbe:
    """Logistic regression on frozen features, fitted by L-BFGS in float64.

    Minimises ``C * sum(cross_entropy) + ||W||^2 / 2`` (the bias is not penalised): the same
    objective as scikit-learn's ``LogisticRegression(C=C)``, so both find the same solution.
    ``features`` is ``(N, D)``, ``labels`` ``(N,)`` integers.
    """
    features, labels = features.double(), torch.as_tensor(labels, dtype=torch.long)
    if features.dim() != 2 or len(features) != len(labels):
        raise ValueError(f"Expected features (N, D) and labels (N,), got {tuple(features.shape)} "
                         f"and {tuple(labels.shape)}.")
    num_classes = num_classes or int(labels.max()) + 1
    mean = features.mean(0) if standardize else torch.zeros(features.shape[1], dtype=torch.float64)
    std = features.std(0, unbiased=False).clamp_min(1e-6) if standardize else torch.ones_like(mean)
    probe = LinearProbe(mean, std, num_classes).double()
    nn.init.zeros_(probe.linear.weight)
    nn.init.zeros_(probe.linear.bias)
    optimizer = torch.optim.LBFGS(probe.linear.parameters(), lr=1, max_iter=max_iter,
                                  tolerance_grad=1e-9, tolerance_change=1e-12,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = C * F.cross_entropy(probe(features), labels, reduction="sum")
        loss = loss + 0.5 * probe.linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return probe.float().eval()
