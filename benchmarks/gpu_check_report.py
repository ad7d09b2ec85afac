"""Gather what ``benchmarks/gpu_check.sh`` measured into ``results.json`` and ``results.md``.

    python benchmarks/gpu_check_report.py gpu_check_results/

Reads, from that folder, ``train_speed.json`` (``benchmarks/train_speed.py --json``),
``notebooks.json`` (``benchmarks/run_notebooks.py --json``) and, when present, ``nvidia-smi.txt``.
The key number is the loop efficiency: full fine-tuning through ``fit`` as a share of the bare
training step's images/s, on the course's default path (bf16 + channels_last where it ran).
Exit status 0 when every such share meets the goal (on a GPU; on the CPU it is only reported) and
every notebook finished; 1 otherwise.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def verdict(speed: dict, notebooks: list[dict]) -> list[str]:
    """What failed, one line each (empty: the check passed). The speed goal is a GPU's: on the
    CPU (``--cpu``, the script testing itself at tiny sizes on a machine that may be busy) the
    ratio is reported, not judged."""
    rows = speed["tables"]["loop efficiency"]
    default = [r for r in rows if r["precision"] != "fp32"] or rows  # the path fit takes by default
    if speed["hardware"].get("device") == "cpu":
        default = []
    problems = [f"{r['model']} at {r['image size']}px ({r['precision']}): fit runs {r['fit / bare']:.0%} "
                f"of the bare step, below the {speed['efficiency goal']:.0%} goal" for r in default
                if r["fit / bare"] < speed["efficiency goal"]]
    problems += [f"{n['notebook']}: {n['status']} {n['error']}".rstrip() for n in notebooks
                 if n["status"] not in ("ok", "checked")]
    return problems


def markdown(speed: dict, notebooks: list[dict], smi: str, problems: list[str]) -> str:
    """The report a person reads: verdict, key numbers, notebooks, hardware and versions."""
    lines = ["# GPU check", "", "**passed**" if not problems else "**failed**:", *[f"- {p}" for p in problems], "",
             f"## Full fine-tuning through fit vs the bare training step (goal >= {speed['efficiency goal']:.0%})", "",
             "| model | image size | precision | fit images/s | bare images/s | fit / bare |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['model']} | {r['image size']} | {r['precision']} | {r['fit images/s']:,.0f} | "
              f"{r['bare images/s']:,.0f} | {r['fit / bare']:.0%} |" for r in speed["tables"]["loop efficiency"]]
    lines += ["", "## Notebooks", "", "| notebook | profile | status | seconds | budget |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {n['notebook']} | {n['profile']} | {n['status']} | {n['seconds']:.0f} | {n['budget']:.0f} |"
              for n in notebooks]
    lines += ["", "## Hardware and versions", "", "| | |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in speed["hardware"].items()]
    if smi:
        lines += ["", "```", smi.strip(), "```"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Read the folder's measurements, write results.json and results.md, print the verdict."""
    folder = Path((argv or sys.argv[1:] or ["gpu_check_results"])[0])
    speed = json.loads((folder / "train_speed.json").read_text())
    notebooks = json.loads((folder / "notebooks.json").read_text())
    smi_file = folder / "nvidia-smi.txt"
    smi = smi_file.read_text() if smi_file.exists() else ""
    problems = verdict(speed, notebooks)
    (folder / "results.json").write_text(json.dumps(
        {"passed": not problems, "problems": problems, "loop efficiency": speed["tables"]["loop efficiency"],
         "notebooks": notebooks, "hardware": speed["hardware"], "nvidia-smi": smi,
         "train_speed": speed}, indent=1))
    (folder / "results.md").write_text(markdown(speed, notebooks, smi, problems))
    print("gpu check " + ("passed" if not problems else "failed:\n  " + "\n  ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
