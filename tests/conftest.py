"""Fixtures shared by the claim tests, so nothing is computed twice in a session: one
`cpu`-profile task per target (each computes its backbone features once) and `measured`, a
`compare` that remembers every run, so a claim test asking for a run that another one already
made (the scratch baseline of notebooks 02, 03 and 05, the same fine-tuning budgets) reads it."""
import pandas as pd
import pytest

from tlcourse import get_profile
from tlcourse.experiments import Settings, run_one
from tlcourse.nlp import text_task
from tlcourse.tasks import digits_task, lite0_task, scans_task

CPU = get_profile("cpu")


@pytest.fixture(scope="session")
def measured():
    """``measured(task, strategies, labels_per_class, seeds, settings)``: the table
    :func:`tlcourse.experiments.compare` returns, each run made once per session.

    A run is the same run when the task object, strategy, budget, seed and settings (a frozen
    dataclass, compared field by field) are; every run is seeded, so reading it back gives the
    row it would compute again.
    """
    runs = {}

    def compare(task, strategies, labels_per_class, seeds, settings: Settings) -> pd.DataFrame:
        rows = []
        for budget in labels_per_class:
            for strategy in strategies:
                for seed in seeds:
                    key = (id(task), strategy, budget, seed, settings)
                    if key not in runs:
                        runs[key] = run_one(task, strategy, budget, seed, settings)
                    rows.append(runs[key])
        return pd.DataFrame(rows)

    return compare


@pytest.fixture(scope="session")
def cpu_digits():
    """Letters-pretrained SmallCNN -> handwritten digits (notebooks 01-03, 05)."""
    return digits_task(CPU)


@pytest.fixture(scope="session")
def cpu_lite0_digits():
    """ImageNet Lite0 -> handwritten digits (notebook 02)."""
    return lite0_task("mnist5k", CPU)


@pytest.fixture(scope="session")
def cpu_solar():
    """ImageNet Lite0 -> solar-cell scans (notebooks 02 and 05), with notebook 05's own
    strategies (``adabn_probe``, ``small_scratch``): its probes read the features notebook 02's computed."""
    return scans_task(CPU)


@pytest.fixture(scope="session")
def cpu_tweets():
    """MiniLM -> tweets (notebooks 04 and 07), its embeddings computed once (and cached on disk)."""
    task = text_task("tweets", profile=CPU)
    task.embeddings()
    return task


@pytest.fixture(scope="session")
def cpu_digits_scratch(cpu_digits, measured):
    """The SmallCNN trained from scratch at 1, 5 and 50 labels per class, the cpu profile's seeds
    and steps: the baseline of notebook 02's and notebook 03's claims."""
    return measured(cpu_digits, ["scratch"], (1, 5, 50), CPU.seeds, Settings.for_profile(CPU))
