"""Fixtures shared by the claim tests: one `cpu`-profile digits task, so its cached backbone
features are computed once for the whole session."""
import pytest

from tlcourse import get_profile
from tlcourse.tasks import digits_task


@pytest.fixture(scope="session")
def cpu_digits():
    return digits_task(get_profile("cpu"))
