"""Fixtures shared by the claim tests, so nothing is computed twice in a session: one
`cpu`-profile digits task (its backbone features are computed once) and the scratch runs that
notebooks 02 and 03 both compare against."""
import pytest

from tlcourse import get_profile
from tlcourse.experiments import Settings, compare
from tlcourse.tasks import digits_task

CPU = get_profile("cpu")


@pytest.fixture(scope="session")
def cpu_digits():
    return digits_task(CPU)


@pytest.fixture(scope="session")
def cpu_digits_scratch(cpu_digits):
    """The SmallCNN trained from scratch at 1, 5 and 50 labels per class, the cpu profile's seeds
    and steps: the baseline of notebook 02's and notebook 03's claims."""
    return compare(cpu_digits, ["scratch"], (1, 5, 50), CPU.seeds, Settings.for_profile(CPU), progress=False)
