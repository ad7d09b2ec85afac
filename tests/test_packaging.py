"""The two install routes agree, and CI runs exactly what the README tells people to run."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {r.replace(" ", "").lower() for r in reqs}


def _environment_pip_requirements() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    reqs = [l.strip()[2:] for l in lines[start + 1:] if l.startswith("      - ")]
    return {r.replace(" ", "").lower() for r in reqs}


def test_environment_yml_matches_pyproject():
    assert _environment_pip_requirements() == _pyproject_requirements()


def test_environment_pins_the_same_python():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert ">=3.11" in requires
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_torch_pins_that_work_together_here():
    reqs = _pyproject_requirements()
    assert "torch==2.14.1" in reqs and "torchvision==0.29.1" in reqs


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(make \w+)\s*$", readme, flags=re.M)
    assert "make test" in commands and "make lab" in commands
    ci = [l.strip() for l in (ROOT / ".ci/run").read_text().splitlines()
          if l.strip() and not l.lstrip().startswith("#")]
    assert ci[-1] == "make test"
