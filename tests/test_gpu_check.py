"""benchmarks/gpu_check.sh and its Python steps, without a GPU: the script's syntax, its refusal
without one, its --cpu run end to end, the notebook runner's budget and the report's verdict."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _module(name):
    """A script of benchmarks/ imported as a module."""
    if f"benchmarks.{name}" not in sys.modules:  # dataclasses look their module up there
        spec = importlib.util.spec_from_file_location(f"benchmarks.{name}", ROOT / "benchmarks" / f"{name}.py")
        sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[f"benchmarks.{name}"]


def _run(*args, env=None, timeout=120):
    env = os.environ | {"PYTHON": sys.executable, "OMP_NUM_THREADS": "1"} | (env or {})
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_without_a_gpu_it_stops_and_says_why(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    done = _run("--out", str(tmp_path / "out"), env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert done.returncode == 2
    assert "no NVIDIA GPU here" in done.stderr and "--cpu" in done.stderr
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.slow
def test_cpu_mode_runs_every_step_and_writes_the_report(tmp_path):
    done = _run("--cpu", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["passed"] and results["hardware"]["device"] == "cpu"
    (row,) = results["loop efficiency"]
    assert row["fit images/s"] > 0 and row["bare images/s"] > 0
    assert [n["status"] for n in results["notebooks"]] == ["checked"] * 3
    assert "fit / bare" in (tmp_path / "results.md").read_text()


def _speed(ratio):
    row = {"model": "lite0", "image size": 224, "precision": "bf16 + channels_last", "fit images/s": 70 * ratio,
           "bare images/s": 70.0, "fit / bare": ratio}
    fp32 = row | {"precision": "fp32", "fit / bare": 0.1}  # not the default path on a GPU: no verdict
    return {"efficiency goal": 0.7, "hardware": {"device": "cuda"}, "tables": {"loop efficiency": [fp32, row]}}


def test_the_report_fails_below_the_goal_and_on_a_failed_notebook(tmp_path):
    report = _module("gpu_check_report")
    ok = [{"notebook": "02.ipynb", "status": "ok", "seconds": 50, "budget": 120, "profile": "gpu", "error": ""}]
    assert report.verdict(_speed(0.8), ok) == []
    (problem,) = report.verdict(_speed(0.6), ok)
    assert "60%" in problem and "70% goal" in problem
    late = [ok[0] | {"status": "timeout", "error": "still running after its budget of 120 s"}]
    assert report.verdict(_speed(0.8), late) == ["02.ipynb: timeout still running after its budget of 120 s"]
    on_cpu = _speed(0.6) | {"hardware": {"device": "cpu"}}  # --cpu: a busy CPU's ratio is not judged
    assert report.verdict(on_cpu, ok) == []
    (tmp_path / "train_speed.json").write_text(json.dumps(_speed(0.6)))
    (tmp_path / "notebooks.json").write_text(json.dumps(ok))
    assert report.main([str(tmp_path)]) == 1
    assert "**failed**" in (tmp_path / "results.md").read_text()


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_the_notebook_runner_keeps_the_budget_and_reports_errors(tmp_path):
    runner = _module("run_notebooks")
    slow = _notebook(tmp_path / "slow.ipynb", "import os\nprint(os.environ['TLCOURSE_PROFILE'])",
                     "import time\ntime.sleep(60)")
    broken = _notebook(tmp_path / "broken.ipynb", "1 / 0")
    fine = _notebook(tmp_path / "fine.ipynb", "import os\nassert os.environ['TLCOURSE_PROFILE'] == 'gpu'")
    report = tmp_path / "report.json"
    status = runner.main([str(slow), str(broken), str(fine), "--budget", "12", "--out", str(tmp_path / "done"),
                          "--json", str(report)])
    rows = {r["notebook"]: r for r in json.loads(report.read_text())}
    assert status == 1
    assert rows["slow.ipynb"]["status"] == "timeout" and rows["slow.ipynb"]["seconds"] < 30
    assert rows["broken.ipynb"]["status"] == "error" and "ZeroDivisionError" in rows["broken.ipynb"]["error"]
    assert rows["fine.ipynb"]["status"] == "ok"
    executed = nbformat.read(tmp_path / "done" / "slow.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == "gpu"
    assert runner.main(["--check", str(ROOT / "notebooks" / "02_feature_extraction.ipynb")]) == 0
    assert runner.main(["--check", str(tmp_path / "missing.ipynb")]) == 1


def test_loop_efficiency_is_the_median_of_per_round_ratios():
    speed = _module("train_speed")
    raw = speed.pd.DataFrame({"model": "m", "image size": 32, "precision": "fp32", "round": [0, 1, 2],
                              "fit images/s": [60.0, 90.0, 50.0], "bare images/s": [100.0, 100.0, 50.0]})
    (row,) = speed.efficiency_summary(raw).to_dict("records")
    assert row["fit / bare"] == pytest.approx(0.9)  # ratios 0.6, 0.9, 1.0; not 60 / 100
    assert row["fit images/s"] == 60.0 and row["bare images/s"] == 100.0 and row["meets goal"]
    assert not speed.efficiency_summary(raw.assign(**{"bare images/s": 1000.0}))["meets goal"].item()


def test_the_bare_step_trains_the_whole_model():
    speed = _module("train_speed")
    torch = speed.torch
    model = speed.make_strategy("small_cnn", speed.BASELINE)
    backbone = speed.make_backbone("small_cnn", 32, 8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rate = speed.bare_step_speed(model, backbone, 4, 2, torch.device("cpu"), fast_gpu=True)
    assert rate > 0
    assert model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(before["stem.0.weight"], model.state_dict()["stem.0.weight"])
    assert not torch.equal(before["head.weight"], model.state_dict()["head.weight"])
