"""Exercise 06 · speech: spoken digits as spectrograms, a near source and a far one.

q1 compute a log-mel spectrogram by hand, q2 freeze the ImageNet Lite0 for spectrograms
(everything but the head), q3 choose between the near source (a CNN pretrained on other
spoken words) and the far one (ImageNet) for 5 labels per class, by measuring their probes,
q4 advise a team which source to start from, in words from the q3 table (a judgement
question, graded by the instructor).
Every check works on the learner's own objects: it runs their function on clips of its own,
trains a copy of their model for a few steps, and re-measures the comparison their table reports.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.audio import SPECTROGRAM, mel_filterbank
from ..freeze import frozen_batchnorms_in_train_mode, named_blocks
from . import checks, references
from .answers import Raised
from .core import Judgement, Mistake, Problem, Requirement, attempt, outcome

# --- q1 · a log-mel spectrogram by hand --------------------------------------------------------

SETTINGS = dict(SPECTROGRAM)  # q1: n_mels=32, n_fft=1024, window_ms=64, hop_ms=32: the course's images
EPS = 1e-6  # q1: added to the mel power before the log, so silence stays finite (as tlcourse.data.log_mel)
TOLERANCE = 1e-3  # q1: largest difference allowed at any cell, in natural-log units (0.1% of the power)


def _as_array(spectrogram) -> np.ndarray:
    if isinstance(spectrogram, torch.Tensor):
        spectrogram = spectrogram.detach().cpu().numpy()
    if not isinstance(spectrogram, np.ndarray):
        raise Mistake(f"log_mel_by_hand(clip) should return a tensor or a NumPy array; it returned a "
                      f"{type(spectrogram).__name__}.")
    return spectrogram.astype(np.float64)


def _variant(clip: torch.Tensor, sample_rate: int, power: float = 2.0, window: str = "hann",
             log: Callable = torch.log, hop: int | None = None) -> np.ndarray:
    """A log-mel spectrogram (n_mels, frames) of one clip, in float64, computed the right way or
    with one of the usual slips (amplitude, a rectangular or symmetric window, log10)."""
    n_fft = SETTINGS["n_fft"]
    hop = hop or round(sample_rate * SETTINGS["hop_ms"] / 1000)
    windows = {"hann": torch.hann_window(n_fft, dtype=torch.float64), "none": torch.ones(n_fft, dtype=torch.float64),
               "symmetric": torch.hann_window(n_fft, periodic=False, dtype=torch.float64)}
    frames = F.pad(clip.double(), (n_fft // 2, n_fft // 2)).unfold(0, n_fft, hop)
    spectrum = torch.fft.rfft(frames * windows[window]).abs() ** power  # (frames, n_fft // 2 + 1)
    mel = mel_filterbank(SETTINGS["n_mels"], n_fft, sample_rate).double() @ spectrum.T
    return log(mel + EPS).numpy()


def _clips() -> list[tuple[str, torch.Tensor, int]]:
    """The clips q1's function is run on: the notebook's clip (the pool's first), a digit spoken
    by a voice of the test set, and seeded noise with a tone in it."""
    audio = references.speech().audio
    t = torch.arange(audio.pool.waveforms.shape[1]) / audio.pool.sample_rate
    tone = 0.3 * torch.sin(2 * math.pi * 440 * t)
    noise = 0.05 * torch.randn(len(t), generator=torch.Generator().manual_seed(6)) + tone
    return [("the notebook's clip", audio.pool.waveforms[0], audio.pool.sample_rate),
            ("a digit spoken by another voice", audio.test.waveforms[0], audio.test.sample_rate),
            ("noise with a 440 Hz tone", noise.float(), audio.pool.sample_rate)]


def _run_by_hand(log_mel_by_hand) -> dict:
    """Where the learner's function was defined: run it on each of the check's clips and hand over
    what it returned (a tensor, or what went wrong)."""
    def one(clip):
        return torch.from_numpy(_as_array(log_mel_by_hand(clip.clone())))

    return {name: attempt(one, clip) for name, clip, _ in _clips()}


def _run(run: dict, name: str) -> np.ndarray:
    got = outcome(run[name], f"log_mel_by_hand on {name}")
    return got.numpy() if isinstance(got, torch.Tensor) else _as_array(got)


def _frames_advice(frames: int, length: int, sample_rate: int) -> str:
    n_fft, hop = SETTINGS["n_fft"], round(sample_rate * SETTINGS["hop_ms"] / 1000)
    want = 1 + length // hop
    if frames == 1 + length // n_fft:
        return (f"{frames} frames: the hop is a whole window. Frames overlap by half here: hop = "
                f"{SETTINGS['hop_ms']:g} ms = {hop} samples at {sample_rate} Hz, {want} frames.")
    if frames == 1 + (length - n_fft) // hop:
        return (f"{frames} frames: the frames are not centred. Pad n_fft // 2 = {n_fft // 2} zeros at "
                f"both ends first, so frame k is centred on sample k * hop ({want} frames).")
    return (f"{frames} frames; expected {want}: the hop is {SETTINGS['hop_ms']:g} ms, which is "
            f"{hop} samples at {sample_rate} Hz (milliseconds x sample_rate / 1000), and frame k is "
            f"centred on sample k * hop, so 1 + {length} // {hop} = {want} frames.")


def _shape(run) -> None:
    if not isinstance(run, dict):
        raise Mistake(f"`log_mel_by_hand` should be a function waveform -> spectrogram; it is a "
                      f"{type(run).__name__}.")
    name, clip, sample_rate = _clips()[0]
    got = _run(run, name)
    n_mels, want = SETTINGS["n_mels"], _variant(clip, sample_rate).shape
    if got.ndim != 2 and got.size == np.prod(want):
        raise Mistake(f"the spectrogram has shape {got.shape}; return it as (n_mels, frames) = {want}: "
                      "squeeze the extra dimensions.")
    if got.ndim != 2:
        raise Mistake(f"the spectrogram has shape {got.shape}; expected (n_mels, frames) = {want}.")
    if got.shape[0] != n_mels and got.shape[1] == n_mels:
        raise Mistake(f"the spectrogram has shape {got.shape}: the rows should be the {n_mels} mel bands "
                      "and the columns the frames. Multiply the filterbank by the power: filters @ power.T.")
    if got.shape[0] != n_mels:
        raise Mistake(f"the spectrogram has {got.shape[0]} rows; expected one per mel band, {n_mels}: "
                      f"mel_filterbank({n_mels}, {SETTINGS['n_fft']}, sample_rate).")
    if got.shape[1] != want[1]:
        raise Mistake(_frames_advice(got.shape[1], len(clip), sample_rate))


def _diagnose(got: np.ndarray, clip: torch.Tensor, sample_rate: int) -> str:
    """What went wrong, when ``got`` is one of the usual slips; else the steps to check."""
    right = _variant(clip, sample_rate)
    slips = [
        (right.T, "the spectrogram is transposed: rows are mel bands, columns frames (filters @ power.T)"),
        (_variant(clip, sample_rate, power=1.0), "this is the log of the mel *amplitude*: square the "
         "magnitude of the FFT first (power = |X|**2), then apply the filterbank"),
        (_variant(clip, sample_rate, log=torch.log10), "this is log10: use the natural log (torch.log or "
         "np.log), as tlcourse.data.log_mel does"),
        (_variant(clip, sample_rate, window="none"), "no window was applied: multiply every frame by a "
         "Hann window (torch.hann_window(n_fft)) before the FFT"),
        (_variant(clip, sample_rate, window="symmetric"), "the Hann window is the symmetric one: STFTs use "
         "the periodic one, torch.hann_window(n_fft) (or np.hanning(n_fft + 1)[:-1])"),
    ]
    for values, advice in slips:
        if np.abs(got - values).max() <= TOLERANCE:
            return advice
    loud = right > math.log(1e4 * EPS)  # cells where a different eps moves the log by under 1e-4
    if np.abs(got - right)[loud].max() <= TOLERANCE:
        return f"the silent cells differ: add {EPS:g} to the mel power before the log, log(mel + {EPS:g})"
    return (f"the values differ from tlcourse.data.log_mel by up to {np.abs(got - right).max():.3g}: check "
            "each step (frames centred, periodic Hann window, |FFT|**2, filters @ power, natural log of "
            f"power + {EPS:g})")


def _matches(run, which: slice) -> None:
    for name, clip, sample_rate in _clips()[which]:
        got, right = _run(run, name), _variant(clip, sample_rate)
        if got.shape != right.shape:
            raise Mistake(f"on {name} the spectrogram has shape {got.shape}, not {right.shape}: the "
                          "shape should not depend on the clip.")
        if np.abs(got - right).max() > TOLERANCE:
            raise Mistake(f"on {name}: {_diagnose(got, clip, sample_rate)}.")


q1 = Problem(
    name="q1", exercise="06", title="A log-mel spectrogram by hand",
    variables=("log_mel_by_hand",), points=2, runs=_run_by_hand,
    requirements=[
        Requirement("the function returns an (n_mels, frames) spectrogram", _shape, gate=True),
        Requirement("it matches tlcourse.data.log_mel on the notebook's clip", lambda f: _matches(f, slice(0, 1))),
        Requirement("it matches on clips it has not seen", lambda f: _matches(f, slice(1, None))),
    ],
    hints=[
        "A window of 64 ms at 16 kHz is 1024 samples, a hop of 32 ms 512: pad n_fft // 2 zeros at "
        "both ends, then waveform.unfold(0, n_fft, hop) cuts the frames (frame k centred on sample k * hop).",
        "Each frame times torch.hann_window(n_fft), then torch.fft.rfft: the power is its magnitude "
        "squared, shape (frames, n_fft // 2 + 1).",
        f"mel_filterbank(n_mels, n_fft, sample_rate) @ power.T gives (n_mels, frames); return "
        f"torch.log(mel + {EPS:g}).",
    ],
)


# --- q2 · the ImageNet backbone frozen for spectrograms ----------------------------------------

FIT_STEPS, FIT_BATCH = 2, 16  # q2: the check's own short fit on the grader's spectrograms


def _is_lite0(lite0_model) -> None:
    checks.expect_type(lite0_model, "`lite0_model`", nn.Module, "the model speech.imagenet.make_model(True) returns")
    if "stage7" not in named_blocks(lite0_model):
        raise Mistake("`lite0_model` is not the EfficientNet-Lite0: start from speech.imagenet.make_model(True).")
    checks.expect_head(lite0_model, 10, 1000)


def _trainable_by_name(lite0_model) -> None:
    head = {f"classifier.{name}" for name, _ in named_blocks(lite0_model)["head"].named_parameters()}
    learning = [name for name, p in lite0_model.named_parameters() if p.requires_grad and name not in head]
    frozen_head = [name for name, p in lite0_model.named_parameters() if not p.requires_grad and name in head]
    if frozen_head:
        raise Mistake(f"the head is frozen too ({', '.join(frozen_head)}): nothing would learn. "
                      "set_trainable(lite0_model, ['head']) freezes everything else and leaves the head trainable.")
    if learning:
        shown = ", ".join(learning[:3]) + (f" and {len(learning) - 3} more" if len(learning) > 3 else "")
        raise Mistake(f"{len(learning)} backbone parameter(s) still learn ({shown}): the exercise asks to "
                      "freeze everything but the head. set_trainable(lite0_model, ['head']).")


def _bn_modes(lite0_model) -> None:
    if not lite0_model.training:
        raise Mistake("`lite0_model` is in eval mode, so its head's dropout is off too: call "
                      "lite0_model.train() first, then apply_bn_policy(lite0_model, 'frozen_eval').")
    drifting = frozen_batchnorms_in_train_mode(lite0_model)
    if drifting:
        shown = ", ".join(drifting[:3]) + (", ..." if len(drifting) > 3 else "")
        raise Mistake(f"frozen BatchNorm layers of {shown} are in training mode: their running mean and "
                      "variance would drift towards the spectrograms although their weights are frozen. "
                      "apply_bn_policy(lite0_model, 'frozen_eval') after lite0_model.train().")


def short_fit(model: nn.Module) -> nn.Module:
    """A copy of ``model`` after ``FIT_STEPS`` SGD steps on the reference pool's spectrograms,
    in the modes the learner left its modules in (nothing here calls train() or eval())."""
    model = copy.deepcopy(model).cpu()
    task = references.speech().imagenet
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return model
    optimizer = torch.optim.SGD(params, lr=0.1)
    torch.manual_seed(0)  # the head's dropout (the check runs inside preserved_rng)
    for start in range(0, FIT_STEPS * FIT_BATCH, FIT_BATCH):
        images = task.pool.images[start:start + FIT_BATCH]
        loss = F.cross_entropy(model(task.transform(images)), task.pool.labels[start:start + FIT_BATCH])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def _pretrained_kept(lite0_model) -> None:
    trained = short_fit(lite0_model).state_dict()
    pretrained = references.lite0_state()
    changed = [k for k, v in pretrained.items() if not k.startswith("classifier.")
               and (k not in trained or trained[k].shape != v.shape or not torch.equal(trained[k], v))]
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise Mistake(f"after {FIT_STEPS} training steps (run here, on a copy of your model) {len(changed)} "
                      f"pretrained tensor(s) changed ({shown}): start from speech.imagenet.make_model(True), "
                      "freeze every block but the head and keep frozen BatchNorm layers in eval mode.")
    head = named_blocks(lite0_model)["head"]
    if all(torch.equal(trained[f"classifier.{k}"], v.detach().cpu()) for k, v in head.state_dict().items()):
        raise Mistake(f"the head did not change in {FIT_STEPS} training steps: it should be the one part that learns.")


q2 = Problem(
    name="q2", exercise="06", title="Freeze the ImageNet backbone for spectrograms",
    variables=("lite0_model",), points=2,
    requirements=[
        Requirement("the answer is Lite0 with a 10-class head", _is_lite0, gate=True),
        Requirement("only the head's parameters learn", _trainable_by_name),
        Requirement("it trains, with frozen BatchNorm layers in eval mode", _bn_modes),
        Requirement("a short fit changes no pretrained weight or statistic", _pretrained_kept),
    ],
    hints=[
        "named_blocks(lite0_model) lists stem, stage1 ... stage7, neck, head: the head is the "
        "new 10-class classifier, the only part that should learn here.",
        "set_trainable(lite0_model, ['head']) freezes every other block. model.train() then puts "
        "*every* BatchNorm layer in training mode, frozen ones included.",
        "lite0_model = speech.imagenet.make_model(True); set_trainable(lite0_model, ['head']); "
        "lite0_model.train(); apply_bn_policy(lite0_model, 'frozen_eval')",
    ],
)


# --- q3 · near or far source for 5 labels per class, by measuring ------------------------------

BUDGET = 5  # q3: labelled spoken digits per class
# q3: the answers best_source may take -> the (task, strategy) rows that measure them. Only probes:
# the check runs each arm again, and a probe costs a feature pass, once per process. The scratch
# baseline the notebook shows beside them is not re-run (it trains a network per seed).
# Measured on validation splits of the pools (validation_task), never on the test set.
ARMS = {
    "words": ("words->digits (validation)", "linear_probe"),  # near: a SmallCNN pretrained on other spoken words
    "imagenet": ("imagenet->digits (validation)", "linear_probe"),  # far: ImageNet Lite0 on the spectrograms
}
RUN_TOLERANCE = 0.03  # q3: |your run's accuracy - the check's own run of it|, per seed


def _runs(results, arm: str):
    task, strategy = ARMS[arm]
    at_budget = checks.runs_at(results, ("labels_per_class", BUDGET))
    return at_budget[(at_budget["task"] == task) & (at_budget["strategy"] == strategy)]


def _measured(results, best_source) -> None:
    """``results`` holds every arm at the budget over the profile's seeds, with the accuracies
    the check measures itself: a typed-in table earns nothing."""
    checks.expect_results_table(results, ("task", "strategy", "labels_per_class", "seed", "accuracy"),
                                "compare(...) (two calls joined with pd.concat)")
    on_test = sorted({str(t) for t in results["task"] if not str(t).endswith("(validation)")})
    if on_test:
        raise Mistake(f"`results` was measured on {on_test}, whose accuracy is the test set's: choose on "
                      "validation splits, compare(validation_task(speech.words), ...) and "
                      "compare(validation_task(speech.imagenet), ...).")
    seeds = references.profile_seeds()
    for arm, (task, strategy) in ARMS.items():
        runs = _runs(results, arm)
        missing = sorted(set(seeds) - set(runs["seed"]))
        if missing:
            raise Mistake(f"`results` has no {strategy} run on {task} with {BUDGET} labels per class for "
                          f"seed(s) {missing}: measure every arm over profile.seeds = {list(seeds)}.")
        for seed in seeds:
            yours = float(runs.loc[runs["seed"] == seed, "accuracy"].mean())
            ours = references.speech_accuracy(arm, BUDGET, seed)
            if not abs(yours - ours) <= RUN_TOLERANCE:
                raise Mistake(f"`results` says {strategy} on {task} (seed {seed}) scores {yours:.1%}; the same "
                              f"run here scores {ours:.1%} (tolerance {RUN_TOLERANCE:.0%}): keep the table "
                              f"compare(...) returned, measured with Settings.for_profile(profile).")


def _follows(results, best_source) -> None:
    if best_source not in ARMS:
        raise Mistake(f"`best_source` should be one of {tuple(ARMS)}, got {best_source!r}.")
    ours = {arm: np.mean([references.speech_accuracy(arm, BUDGET, s) for s in references.profile_seeds()])
            for arm in ARMS}
    yours = {arm: _runs(results, arm)["accuracy"].mean() for arm in ARMS}
    if best_source in (max(ours, key=ours.get), max(yours, key=yours.get)):
        return
    best = max(ours, key=ours.get)
    raise Mistake(f"the measurement says {best} ({ours[best]:.1%} on average over the seeds) beats "
                  f"{best_source} ({ours[best_source]:.1%}) with {BUDGET} labels per class: the choice "
                  "should follow the measurement, whatever you expected.")


q3 = Problem(
    name="q3", exercise="06", title="Near or far source for 5 labels per class? Measure, then choose",
    variables=("results", "best_source"), points=3,
    requirements=[
        Requirement("results measures every arm, as the check measures it", _measured, gate=True),
        Requirement("best_source follows the measurement", _follows),
    ],
    hints=[
        "compare(task, strategies, labels_per_class, seeds, settings) returns one row per run, with a "
        "`task` column: run it on validation_task(speech.words) (scratch and linear_probe) and on "
        "validation_task(speech.imagenet) (linear_probe), then pd.concat the two tables. The choice is "
        "between the two probes.",
        f"results = pd.concat([compare(validation_task(speech.words), ['scratch', 'linear_probe'], [{BUDGET}], "
        f"profile.seeds, settings), compare(validation_task(speech.imagenet), ['linear_probe'], [{BUDGET}], "
        "profile.seeds, settings)])",
        "means = results.groupby(['task', 'strategy'])['accuracy'].mean(); "
        "best_source = max(ARMS, key=lambda arm: means[ARMS[arm]])",
    ],
)

q4 = Judgement(
    name="q4", exercise="06", title="Advise a team with 5 recordings per command: which source?",
    variables=("advice",), requirements=(), min_words=40, instructor_points=2,
    hints=[
        "Start with a recommendation: the near source (a network pretrained on other spoken words), "
        "the far one (ImageNet), or training from scratch.",
        "Support it with your q3 table: each probe's mean validation accuracy, and scratch for scale, "
        "over how many seeds.",
        "Say what the measurement cannot tell you: synthetic voices and English digits are not their "
        "commands, and how well the near source does depends on how long it was pretrained (the profile).",
    ],
)

QUESTIONS = (q1, q2, q3, q4)
