"""The FreezePanel of notebook 03: pick which blocks learn, train, compare against scratch.

The panel is a thin view over :mod:`tlcourse.freeze` and :func:`tlcourse.train.fit_for_steps`:
a toggle per block, the learning rate, gradient steps, discriminative decay and BatchNorm policy
as controls, and a Train button. Every click trains a *fresh* pretrained model, so runs differ
only in the settings shown, and adds one row to ``panel.results``.

Its curves and accuracies are on a **validation** set: :meth:`FreezePanel.from_task` draws it
from the task's pool, next to the labelled training examples, so choosing blocks, learning
rates or steps by the panel never looks at the test set.

Everything the buttons do is also a plain method (``panel.train(...)``, ``panel.plot()``), so
a notebook can script it and tests can run it without a browser. Without ipywidgets the panel
still trains and records; only the controls are missing.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import matplotlib.pyplot as plt
import pandas as pd
from torch import nn

from .config import get_profile, seed_everything
from .data import train_and_validation_indices
from .experiments import Settings
from .freeze import (BN_POLICIES, apply_bn_policy, count_parameters, named_blocks, param_groups,
                     set_trainable, trainable_blocks, unfreeze)
from .plots import learning_curves
from .train import History, Transform, as_tensors, fit_for_steps

try:  # the controls need ipywidgets (which brings IPython); the panel itself does not
    import ipywidgets as widgets
    from IPython.display import display
except ImportError:
    widgets = None

INSTALL_HINT = ("The FreezePanel's controls need ipywidgets: run `python -m pip install ipywidgets` "
                "and restart the kernel. Until then, script it: panel.train(trainable=['head']), "
                "panel.results, panel.plot().")
SCRATCH = "scratch"  # the baseline's label in histories and on the plot
CURVE_POINTS = 30  # validations per run at most: a long run of one-batch epochs validates every few
RESULT_COLUMNS = ("run", "trainable_blocks", "lr", "decay", "bn_policy", "steps", "epochs",
                  "trainable_params", "final_val_accuracy", "best_val_accuracy", "seconds",
                  "images_per_second")
# How panel.table() shows each column of panel.results to a learner.
TABLE_FORMATS = {"lr": "{:.0e}".format, "trainable_params": "{:,}".format,
                 "final_val_accuracy": "{:.1%}".format, "best_val_accuracy": "{:.1%}".format,
                 "seconds": lambda s: f"{s:.3g} s", "images_per_second": "{:,.0f}".format}


def trainable_text(model: nn.Module) -> str:
    """One line for the learner: how many parameters will learn, and in which blocks."""
    trainable, total = count_parameters(model, trainable_only=True), count_parameters(model)
    blocks = trainable_blocks(model)
    where = (f"in blocks: {', '.join(blocks)}" if blocks
             else "- every block is frozen: turn on at least the head")
    return f"trainable: {trainable:,} of {total:,} parameters ({trainable / total:.1%}) {where}"


class FreezePanel:
    """Fine-tune a pretrained model with chosen blocks frozen, and compare runs against scratch.

    ``make_model()`` returns a fresh pretrained model (e.g. ``lambda: task.make_model(True)``);
    ``train`` and ``val`` are ImageDatasets (or ``(inputs, labels)`` pairs); ``val`` must not be
    the test set (:meth:`from_task` draws both from a task's pool). With ``baseline`` and
    ``make_scratch_model`` (the same architecture, randomly initialised), a from-scratch run is
    trained once, the first time Train is clicked, with every block learning at
    ``Settings.lr_scratch`` and the steps of that first run.

    ``steps`` (default: the profile's ``finetune_steps``, as in the strategy comparisons) is the
    number of gradient steps of a run whatever the number of labels, in whole epochs, the
    learning rate cosine-decayed to zero (:func:`tlcourse.train.fit_for_steps`); ``batch_size``
    defaults to the comparisons' too (``Settings.batch_size``), so a run with every block
    trainable is ``finetune_all``'s run on the same labels. The validation set is scored at
    most ``CURVE_POINTS`` times a run. ``seed`` is reset before every model is built, so the
    new head starts from the same weights in every run and a run repeats exactly on CPU.

    After training: ``panel.model`` (the last trained model), ``panel.results`` (one row per
    run), ``panel.histories`` (label -> History, the baseline first).
    """

    def __init__(self, make_model: Callable[[], nn.Module], train, val, *,
                 make_scratch_model: Callable[[], nn.Module] | None = None,
                 transform: Transform | None = None, steps: int | None = None, lr: float = 1e-3,
                 batch_size: int | None = None, seed: int = 0, baseline: bool = True):
        profile = get_profile()
        self.make_model, self.make_scratch_model = make_model, make_scratch_model
        self.train_data, self.val_data, self.transform = train, val, transform
        self.batch_size, self.seed, self.baseline = batch_size or Settings().batch_size, seed, baseline
        self.defaults = {"trainable": ["head"], "lr": lr, "steps": steps or profile.finetune_steps,
                         "decay": 1.0, "bn_policy": "frozen_eval"}
        self._template = make_model()  # never trained: names the blocks and counts parameters
        self.blocks = list(named_blocks(self._template))
        self.histories: dict[str, History] = {}
        self._rows: list[dict] = []
        self.model: nn.Module | None = None
        self.last_error: str | None = None  # the message of the last click that could not train
        self.widget = self._build_controls() if widgets is not None else None
        if self.widget is not None:
            self._update_count()

    @classmethod
    def from_task(cls, task, labels_per_class: int, val_per_class: int, *, seed: int = 0,
                  scratch: bool = True, **kwargs) -> "FreezePanel":
        """A panel on ``task`` (an image :class:`tlcourse.experiments.Task` or a text task):
        ``labels_per_class`` labelled examples of every class to train on and ``val_per_class``
        *other* examples of every class to validate on, both drawn from ``task.pool`` with
        ``seed`` (:func:`tlcourse.data.train_and_validation_indices`); ``task.test`` is never
        used. ``scratch``: add the from-scratch baseline (``task.make_model(False)``).
        ``kwargs`` go to the constructor (``steps``, ``lr``, ``batch_size``)."""
        train, val = train_and_validation_indices(task.pool, labels_per_class, val_per_class, seed)
        return cls(lambda: task.make_model(True), task.train_data(train), task.train_data(val),
                   make_scratch_model=(lambda: task.make_model(False)) if scratch else None,
                   transform=task.transform, seed=seed, **kwargs)

    # --- what a notebook calls -------------------------------------------------------------

    def settings(self) -> dict:
        """What the controls show now (without ipywidgets: the constructor's defaults)."""
        if self.widget is None:
            return dict(self.defaults)
        return {"trainable": [name for name, toggle in self.toggles.items() if toggle.value],
                "lr": self.lr_slider.value, "steps": self.steps_slider.value,
                "decay": self.decay_slider.value, "bn_policy": self.bn_dropdown.value}

    def train(self, trainable: Iterable[str] | None = None, lr: float | None = None,
              steps: int | None = None, decay: float | None = None,
              bn_policy: str | None = None) -> dict:
        """Train a fresh pretrained model in which exactly the ``trainable`` blocks learn.

        An argument left as None takes what the controls show. Bad settings raise ValueError
        before anything trains (an unknown block, every block frozen, lr <= 0, decay outside
        (0, 1], an unknown BatchNorm policy). Returns the run's row of ``results``.
        """
        chosen = {"trainable": trainable, "lr": lr, "steps": steps, "decay": decay,
                  "bn_policy": bn_policy}
        settings = self.settings() | {k: v for k, v in chosen.items() if v is not None}
        settings["trainable"] = list(settings["trainable"])
        self._check(settings)
        self._train_baseline(settings["steps"])
        seed_everything(self.seed)
        model = set_trainable(self.make_model(), settings["trainable"])
        history = self._fit(model, settings["lr"], settings["steps"], settings["decay"],
                            settings["bn_policy"])
        row = self._record(model, history, settings)
        self.model = model
        self.histories[f"run {row['run']}: {'+'.join(settings['trainable'])}, lr {row['lr']:.0e}"] = history
        if self.widget is not None:
            self._render()
        return row

    @property
    def results(self) -> pd.DataFrame:
        """One row per run, in order; accuracies are fractions of the validation set, seconds
        count training only. The scratch baseline is in ``histories`` and the plot, not here."""
        return pd.DataFrame(self._rows, columns=list(RESULT_COLUMNS))

    def table(self, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """``results`` (only ``columns``, default all) as text for reading: percentages,
        seconds to three digits, whole images per second, parameters with thousands separators."""
        table = self.results[list(columns or RESULT_COLUMNS)]
        return table.apply(lambda col: col.map(TABLE_FORMATS[col.name]) if col.name in TABLE_FORMATS else col)

    def plot(self, ax=None):
        """Validation accuracy per epoch: the scratch baseline, every run, the latest in bold."""
        if not self.histories:
            raise ValueError("Nothing to plot yet: train a run first (click Train, or panel.train()).")
        ax = learning_curves(self.histories, "val_accuracy", ax)
        ax.lines[-1].set_linewidth(2.5)  # the run just trained is the last one drawn
        ax.set_title("validation accuracy: fine-tuning runs vs training from scratch")
        return ax

    def _ipython_display_(self):
        """``display(panel)``, or the panel on a cell's last line, shows the controls."""
        if self.widget is None:
            print(INSTALL_HINT)
        else:
            display(self.widget)

    # --- training --------------------------------------------------------------------------

    def _check(self, settings: dict) -> None:
        """Fail before any training, with freeze's own messages (they list the real blocks)."""
        set_trainable(self._template, settings["trainable"])
        param_groups(self._template, settings["lr"], settings["decay"])
        apply_bn_policy(self._template, settings["bn_policy"])
        if settings["steps"] < 1:
            raise ValueError(f"steps must be at least 1, got {settings['steps']}.")

    def _fit(self, model: nn.Module, lr: float, steps: int, decay: float = 1.0,
             bn_policy: str = "frozen_eval") -> History:
        val_every = math.ceil(math.ceil(steps / self._steps_per_epoch()) / CURVE_POINTS)
        return fit_for_steps(model, self.train_data, steps, self.batch_size, lr, decay, self.seed,
                             val=self.val_data, val_every=val_every, bn_policy=bn_policy,
                             transform=self.transform)

    def _steps_per_epoch(self) -> int:
        """Gradient steps in one epoch of the training set, as :func:`fit_for_steps` batches it."""
        n = len(as_tensors(self.train_data)[1])
        return math.ceil(n / min(self.batch_size, n))

    def _train_baseline(self, steps: int) -> None:
        """The from-scratch run, every block learning: trained once, the first time it is needed."""
        if not self.baseline or self.make_scratch_model is None or SCRATCH in self.histories:
            return
        seed_everything(self.seed)
        model = unfreeze(self.make_scratch_model())
        self.histories[SCRATCH] = self._fit(model, Settings().lr_scratch, steps)

    def _record(self, model: nn.Module, history: History, settings: dict) -> dict:
        """Append the run's row to ``results`` and return it."""
        rows = history.rows
        row = {"run": len(self._rows) + 1, "trainable_blocks": ", ".join(trainable_blocks(model)),
               "lr": settings["lr"], "decay": settings["decay"], "bn_policy": settings["bn_policy"],
               "steps": len(rows) * self._steps_per_epoch(), "epochs": len(rows),
               "trainable_params": count_parameters(model, trainable_only=True),
               "final_val_accuracy": history.final["val_accuracy"],
               "best_val_accuracy": history.best_val_accuracy,
               "seconds": sum(r["seconds"] for r in rows),
               "images_per_second": sum(r["images_per_second"] for r in rows) / len(rows)}
        self._rows.append(row)
        return row

    # --- the controls (only with ipywidgets) ----------------------------------------------

    def _build_controls(self):
        """One toggle per block (pressed = trainable), the training settings, Train, output."""
        d, wide = self.defaults, {"description_width": "initial"}
        self.toggles = {name: widgets.ToggleButton(value=name in d["trainable"], description=name,
                                                   tooltip="pressed: trainable; released: frozen")
                        for name in self.blocks}
        self.lr_slider = widgets.FloatLogSlider(value=d["lr"], base=10, min=-5, max=-1, step=0.25,
                                                readout_format=".0e", description="learning rate", style=wide)
        self.steps_slider = widgets.IntSlider(value=d["steps"], min=1, max=max(500, d["steps"]),
                                              description="gradient steps", style=wide)
        self.decay_slider = widgets.FloatSlider(value=d["decay"], min=0.1, max=1.0, step=0.05,
                                                description="LR decay per block", style=wide)
        self.bn_dropdown = widgets.Dropdown(options=BN_POLICIES, value=d["bn_policy"],
                                            description="BatchNorm", style=wide)
        self.train_button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.count_label, self.status, self.output = widgets.Label(), widgets.Label(), widgets.Output()
        for toggle in self.toggles.values():
            toggle.observe(self._update_count, names="value")
        self.train_button.on_click(self._on_train_click)
        return widgets.VBox([
            widgets.HBox([widgets.Label("trainable blocks, input to head:"), *self.toggles.values()]),
            self.count_label,
            widgets.HBox([self.lr_slider, self.steps_slider]),
            widgets.HBox([self.decay_slider, self.bn_dropdown]),
            widgets.HBox([self.train_button, self.status]),
            self.output])

    def _update_count(self, _change=None) -> None:
        set_trainable(self._template, self.settings()["trainable"])
        self.count_label.value = trainable_text(self._template)

    def _on_train_click(self, _button) -> None:
        """Train with what the controls show; a bad setting becomes a message, not a traceback."""
        self.train_button.disabled = True  # greyed out while training, so a second click cannot queue a run
        self.status.value = "training..."
        try:
            row = self.train()
        except ValueError as err:
            self.last_error = str(err)
            self._show_message(f"Could not train: {err}\n")
            self.status.value = "not trained: see the message below"
        else:
            self.last_error = None
            self.status.value = self._summary(row)
        finally:
            self.train_button.disabled = False

    def _show_message(self, text: str) -> None:
        """Replace the output area with ``text`` in one update: clear_output() followed by
        append_stdout() can race in the browser and lose the text."""
        self.output.outputs = ({"output_type": "stream", "name": "stdout", "text": text},)

    def _summary(self, row: dict) -> str:
        scratch = self.histories.get(SCRATCH)
        versus = f" (scratch: {scratch.best_val_accuracy:.1%})" if scratch else ""
        return (f"run {row['run']}: best val accuracy {row['best_val_accuracy']:.1%}{versus}, "
                f"{row['seconds']:.1f} s of training")

    def _render(self) -> None:
        """Replace the output area with the curves and the results table."""
        fig, ax = plt.subplots(figsize=(7, 3.5))
        self.plot(ax)
        self.output.clear_output(wait=True)
        with self.output:
            display(fig, self.table())
        plt.close(fig)  # shown once, in the output area, not again under the cell


# --- notebook 08: advice from the course's measurements ----------------------------------------

ADVICE_BUDGETS = (1, 2, 5, 10, 20, 50, 100, 500, 2_500)  # labels per class the slider offers
EVIDENCE_COLUMNS = ("task", "strategy", "labels_per_class", "seeds", "accuracy", "baseline", "gain", "seconds",
                    "trainable_parameters")


class AdvicePanel:
    """Which strategy for a project: labels per class, how near the source is, how much compute.

    A thin view over :func:`tlcourse.evidence.recommend` on ``rows`` (the table of
    :func:`tlcourse.evidence.evidence`): every change of a control recomputes ``panel.advice``
    (a :class:`tlcourse.evidence.Recommendation`) and shows it with the evidence rows it rests on.
    ``panel.ask(labels_per_class, similarity, compute)`` does the same from code.
    """

    def __init__(self, rows: pd.DataFrame, labels_per_class: int = 5, similarity: str = "near",
                 compute: str = "CPU, a minute per run"):
        from .evidence import COMPUTE, SIMILARITIES

        self.rows, self.advice = rows, None
        self.widget = None
        if widgets is not None:
            wide = {"description_width": "initial"}
            self.budget = widgets.SelectionSlider(options=ADVICE_BUDGETS, value=labels_per_class,
                                                  description="labels per class", style=wide)
            self.similarity = widgets.ToggleButtons(options=SIMILARITIES, value=similarity,
                                                    description="source similarity", style=wide)
            self.compute = widgets.Dropdown(options=list(COMPUTE), value=compute, description="compute", style=wide)
            self.answer, self.table = widgets.HTML(), widgets.HTML()
            for control in (self.budget, self.similarity, self.compute):
                control.observe(self._update, names="value")
            self.widget = widgets.VBox([self.budget, self.similarity, self.compute, self.answer, self.table])
        self.ask(labels_per_class, similarity, compute)

    def ask(self, labels_per_class: int, similarity: str, compute: str):
        """The advice for one project (also what the controls call); returns the Recommendation."""
        from .evidence import COMPUTE, recommend

        if compute not in COMPUTE:
            raise ValueError(f"compute={compute!r}: choose one of {list(COMPUTE)}.")
        self.advice = recommend(self.rows, labels_per_class, similarity, COMPUTE[compute])
        if self.widget is not None:
            self.answer.value = f"<b>{self.advice.choice}</b>: {self.advice.reason}"
            shown = self.advice.rows[list(EVIDENCE_COLUMNS)].round(3)
            self.table.value = shown.to_html(index=False)
        return self.advice

    def _update(self, _change=None) -> None:
        self.ask(self.budget.value, self.similarity.value, self.compute.value)

    def _ipython_display_(self):
        if self.widget is None:
            print(f"{self.advice}\n(The controls need ipywidgets; panel.ask(labels_per_class, similarity, "
                  "compute) works without them.)")
        else:
            display(self.widget)
