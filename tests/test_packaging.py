"""The install routes agree: pyproject's ranges, the one set of exact pins (constraints.txt) that
`make` installs with, and environment.yml; CI runs exactly what the README tells people to run."""
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _requirements(*extras: str) -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    return [r for r in reqs if _name(r.name) != "tlcourse"]


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def _constraints() -> dict[str, str]:
    return _pins((ROOT / "constraints.txt").read_text().splitlines())


def _environment_pins() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    return _pins(l.strip()[2:] for l in lines[start + 1:] if l.startswith("      - "))


def test_every_requirement_is_pinned_inside_its_range():
    pins = _constraints()
    for req in _requirements("lab", "test", "hub", "site"):
        assert _name(req.name) in pins, f"{req.name} is not pinned in constraints.txt: run `make lock`"
        assert req.specifier.contains(pins[_name(req.name)]), (
            f"constraints.txt pins {req.name}=={pins[_name(req.name)]}, outside pyproject's {req}")


def test_dev_extra_is_lab_test_hub_and_site():
    assert PROJECT["optional-dependencies"]["dev"] == ["tlcourse[lab,test,hub,site]"]


def test_learner_environment_excludes_test_tools():
    lab = {_name(r.name) for r in _requirements("lab")}
    assert not lab & {"pytest", "nbval"}


def test_environment_yml_is_the_learner_set_at_the_constrained_versions():
    env, pins = _environment_pins(), _constraints()
    assert set(env) == {_name(r.name) for r in _requirements("lab")}
    assert {name: pins[name] for name in env} == env


# Declared for what they run, not for an import: the notebook server, its kernel, the pytest
# plugins (nbval; pytest-xdist, which runs `make test` in two processes), the pairing tool
# (jupytext is also imported by the notebook-source test), the workshop hub (`make hub`) and the
# site builder (jupyter-book, which site/build.py runs).
PROGRAMS = {"jupyterlab", "ipykernel", "nbval", "jupytext", "pytest", "pytest-xdist", "jupyterhub", "jupyter-book"}


def test_every_declared_library_is_imported_somewhere():
    """A dependency that nothing imports only slows installs (nbclient was one)."""
    modules_of = {}
    for module, dists in packages_distributions().items():
        for dist in dists:
            modules_of.setdefault(_name(dist), set()).add(module)
    code = "\n".join(p.read_text() for folder in ("tlcourse", "tests", "benchmarks")
                     for p in (ROOT / folder).rglob("*.py"))
    for req in _requirements("lab", "test", "hub", "site"):
        if _name(req.name) in PROGRAMS:
            continue
        modules = modules_of.get(_name(req.name), set())
        used = [m for m in modules if re.search(rf"(import|from)\s+{m}\b|[\"']{m}[\"'.]", code)]
        assert used, f"{req.name} is declared in pyproject.toml but nothing imports {sorted(modules)}"


def test_environment_pins_the_same_python():
    assert ">=3.11" in PROJECT["requires-python"]
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_torch_pins_that_work_together_here():
    pins = _constraints()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(make [\w-]+)\s*$", readme, flags=re.M)
    assert "make test" in commands and "make lab" in commands
    ci = [l.strip() for l in (ROOT / ".ci/run").read_text().splitlines()
          if l.strip() and not l.lstrip().startswith("#")]
    assert ci[-1] == "make test"
