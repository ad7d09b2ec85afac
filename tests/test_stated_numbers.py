"""Every number a notebook's prose states is backed: printed by one of its code cells, held by a
claim test, or fixed (not a measurement). The same goes for the notebook's row in the README.

What counts as a stated number (``stated_numbers``): in a markdown cell, with inline code
(`...`) left out, a number followed by a unit of a result:

* the number: digits (``74.4``, ``5,000``) or a number word (``one`` to ``twenty``, ``thirty``
  ... ``ninety``, ``hundred``); a range counts as one (``1.6-2.6x``, ``1.6 to 2.6 times``);
* the unit: ``%``, ``percent``, ``point(s)``, ``percentage point(s)``, ``x`` written on the
  number (``2.4x``; ``3x3`` is a size and does not count), ``times``, a time (``s``, ``ms``,
  ``second(s)``, ``min``, ``minute(s)``, ``hour(s)``), a rate (``images/s``), or a size
  (``M``, ``k``, ``B``, ``million``, ``billion``).

So "notebook 03", "k=3", "block3", "Figure 2", "5 labels per class", step numbers and years are
not stated numbers: they carry no such unit. A budget belongs to a claim through the phrase
around it (below), not as a number of its own.

Where the backing is listed: ``tests/stated_numbers/NN_name.toml``, one file per notebook.
Each ``[[number]]`` entry has ``text``, a phrase of the notebook's markdown as written (``**``
and backticks included; whitespace is collapsed, so it may span lines), and exactly one backing:

* ``printed = "expr"``: ``expr`` occurs in a code cell of the notebook (the cell that prints it);
* ``claim = "test_claims_NN.py::test_name"``: that function exists in ``tests/``, and each number
  of the phrase's stated numbers is recorded in its source (an assertion's bound or its
  ``measured:`` comment), at the precision stated (``6 points`` matches ``+6.1``; ``99%``
  matches ``0.99``);
* ``fixed = "why"``: not a measurement (a setting, a citation, a data set's size), and why.

A stated number is covered when it lies inside an occurrence of an entry's phrase. The test
fails on a stated number no entry covers, and on an entry whose phrase is no longer in the
notebook (stale). A notebook with no file passes only while it states no numbers. ``[[readme]]``
entries do the same for the notebook's row in the README's Notebooks table; there a stated number
is also covered when the same number-and-unit is covered in the notebook itself, and one more
backing is allowed, ``timed = "..."``: a one-off timing that the README presents as one (its cpu
time column, a benchmark's recorded range), saying where it was timed.
"""
import ast
import re
import tomllib
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = ROOT / "tests" / "stated_numbers"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
BACKINGS = ("printed", "claim", "fixed")

WORDS = dict(zip(("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                  "fifteen sixteen seventeen eighteen nineteen twenty").split(), range(21)))
WORDS |= {w: 10 * i for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), start=3)}
WORDS |= {"hundred": 100}
_NUMBER = r"(?:\d[\d,]*(?:\.\d+)?|(?:%s)\b)" % "|".join(WORDS)
_UNIT = (r"(?:%|x\b|M\b|k\b|B\b|\s(?:percentage points?|points?|percent|times|ms|s|seconds?|min|"
         r"minutes?|hours?|million|billion|\w+/s)\b)")
STATED = re.compile(rf"(?<![\w.]){_NUMBER}(?:\s*(?:-|–|\sto\s)\s*{_NUMBER})?{_UNIT}", re.IGNORECASE)
CODE_SPAN = re.compile(r"`[^`]*`")


def normalise(text: str) -> str:
    return " ".join(text.split())


def stated_numbers(text: str) -> list[re.Match]:
    """The stated numbers of normalised markdown ``text`` (rule in the module docstring)."""
    without_code = CODE_SPAN.sub(lambda m: " " * len(m.group()), text)
    return list(STATED.finditer(without_code))


def values(token: str) -> list[tuple[float, int]]:
    """Each number in a stated number, with its decimals: ``"1.6-2.6x"`` -> [(1.6, 1), (2.6, 1)]."""
    found = re.findall(rf"(?<![\w.]){_NUMBER}", token, re.IGNORECASE)
    return [(float(WORDS[n.lower()]), 0) if n.lower() in WORDS
            else (float(n.replace(",", "")), len(n.partition(".")[2])) for n in found]


def recorded(token: str, source: str) -> bool:
    """Whether every number of ``token`` stands in ``source``, rounded as stated (or as a fraction)."""
    written = [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", source)]
    return all(any(round(w, d) == v or round(w * 100, d) == v for w in written) for v, d in values(token))


def markdown_and_code(script: Path) -> tuple[list[str], str]:
    cells = jupytext.read(script).cells
    return ([normalise(c.source) for c in cells if c.cell_type == "markdown"],
            "\n".join(c.source for c in cells if c.cell_type == "code"))


def readme_row(name: str) -> str:
    """The notebook's row of the README's Notebooks table ('' if it has none)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    return next((normalise(line) for line in lines if line.startswith(f"| `{name}` |")), "")


def entries(name: str, kind: str) -> list[dict]:
    path = NUMBERS / f"{name}.toml"
    return tomllib.loads(path.read_text()).get(kind, []) if path.exists() else []


def sentence(text: str, match: re.Match) -> str:
    """The sentence (or table cell, or clause after a semicolon) around ``match``."""
    starts = [m.end() for m in re.finditer(r"[.;|] ", text[:match.start()])]
    end = re.search(r"[.;|] |$", text[match.end():]).start() + match.end()
    return text[(starts or [0])[-1]:end + 1].strip()


def uncovered(texts: list[str], phrases: list[str], also_covered: set[str] = frozenset()) -> list[str]:
    """The stated numbers of ``texts`` outside every occurrence of ``phrases``, each with its sentence."""
    missing = []
    for text in texts:
        spans = [(m.start(), m.start() + len(p)) for p in phrases for m in re.finditer(re.escape(p), text)]
        for match in stated_numbers(text):
            inside = any(a <= match.start() and match.end() <= b for a, b in spans)
            if not inside and normalise(match.group()) not in also_covered:
                missing.append(f"{match.group()!r} in: {sentence(text, match)}")
    return missing


def covered_tokens(texts: list[str], phrases: list[str]) -> set[str]:
    return {normalise(m.group()) for p in phrases for t in texts if p in t for m in stated_numbers(p)}


def backing_problems(entry: dict, code: str, readme: bool) -> list[str]:
    kinds = [k for k in BACKINGS + ("timed",) if k in entry]
    if len(kinds) != 1 or ("timed" in kinds and not readme):
        return [f"{entry['text']!r} needs exactly one of {', '.join(BACKINGS)}"
                + (" or timed" if readme else "") + f", has {kinds or 'none'}"]
    if "printed" in entry and entry["printed"] not in code:
        return [f"{entry['text']!r}: no code cell contains {entry['printed']!r}"]
    if "claim" in entry:
        return claim_problems(entry["text"], entry["claim"])
    return []


def claim_problems(text: str, claim: str) -> list[str]:
    file, _, function = claim.partition("::")
    path = ROOT / "tests" / file
    tree = ast.parse(path.read_text()) if path.exists() else ast.Module(body=[])
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function]
    if not found:
        return [f"{text!r}: no function {function} in tests/{file}"]
    lines = path.read_text().splitlines()[found[0].lineno - 1:found[0].end_lineno]  # with the last comment
    source = "\n".join(lines)
    return [f"{text!r}: {m.group()!r} is not recorded in {claim} (its bound or `measured:` comment)"
            for m in stated_numbers(text) if not recorded(m.group(), source)]


def _fix(name: str) -> str:
    return (f"list it in tests/stated_numbers/{name}.toml with printed = / claim = / fixed = (see "
            "tests/test_stated_numbers.py), or reword the sentence to claim only what a code cell prints "
            "or a claim test holds")


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_a_notebook_states_is_backed(script):
    texts, _ = markdown_and_code(script)
    missing = uncovered(texts, [e["text"] for e in entries(script.stem, "number")])
    assert not missing, f"notebooks/{script.name} states numbers nothing backs ({_fix(script.stem)}):\n" + \
        "\n".join(missing)


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_the_readme_states_for_a_notebook_is_backed(script):
    texts, _ = markdown_and_code(script)
    in_notebook = covered_tokens(texts, [e["text"] for e in entries(script.stem, "number")])
    readme_phrases = [e["text"] for e in entries(script.stem, "readme")]
    missing = uncovered([readme_row(script.stem)], readme_phrases, in_notebook)
    assert not missing, (f"the README's row for {script.stem} states numbers that neither the notebook "
                         f"backs nor a [[readme]] entry does ({_fix(script.stem)}):\n" + "\n".join(missing))


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_listed_number_is_still_stated_and_backed(script):
    texts, code = markdown_and_code(script)
    problems = []
    for kind, where in (("number", texts), ("readme", [readme_row(script.stem)])):
        for entry in entries(script.stem, kind):
            if not any(entry["text"] in text for text in where):
                problems.append(f"stale [[{kind}]] entry: {entry['text']!r} is no longer stated; remove it")
            problems += backing_problems(entry, code, readme=kind == "readme")
    assert not problems, f"tests/stated_numbers/{script.stem}.toml:\n" + "\n".join(problems)


def test_every_numbers_file_belongs_to_a_notebook():
    names = {p.stem for p in NOTEBOOKS}
    orphans = [p.name for p in NUMBERS.glob("*.toml") if p.stem not in names]
    assert not orphans, f"{orphans} name no notebooks/NN_name.py: rename or delete them"


@pytest.mark.parametrize("text, expected", [
    ("beats TF-IDF by 6 points (74.4% vs 68.4%)", ["6 points", "74.4%", "68.4%"]),
    ("head only runs 2.4x. Padding: 1.6-2.6x, or 1.6 to 2.6 times", ["2.4x", "1.6-2.6x", "1.6 to 2.6 times"]),
    ("more than fifty times as long, 8 s a run, 261 sentences/s", ["fifty times", "8 s", "261 sentences/s"]),
    ("within about one point; more than 15 percentage points", ["one point", "15 percentage points"]),
    ("0.4M parameters, 390k of them, 1.3 million photos", ["0.4M", "390k", "1.3 million"]),
])
def test_stated_numbers_are_numbers_with_a_unit_of_a_result(text, expected):
    assert [m.group() for m in stated_numbers(text)] == expected


@pytest.mark.parametrize("text", [
    "notebook 03, cell 4, Figure 2, step 1. then 2.", "`finetune_last_k` with `k=3` and `decay = 0.3`",
    "32 filters of 3x3 pixels, 28x28 images, block3 (4x4)", "5 labels per class, 1,000 test tweets (2019)",
    "layer4 and the top-1 accuracy",
])
def test_settings_names_and_sizes_are_not_stated_numbers(text):
    assert stated_numbers(text) == []


def test_a_claim_must_record_the_number_it_holds():
    assert recorded("6 points", "assert margin >= 4  # measured: +6.1 (74.4% vs 68.4%)")
    assert recorded("99%", "assert accuracy >= 0.99")
    assert recorded("1.6-2.6x", "# 1.6 and 2.6")
    assert not recorded("7 points", "assert margin >= 4  # measured: +6.1")
    assert recorded("fifty times", "ratio > 50") and not recorded("fifty times", "ratio > 5")


def test_a_number_is_backed_only_inside_a_listed_phrase():
    text = "The probe wins by 6 points (74.4% vs 68.4%). Scratch trails by 7 points."
    missing = uncovered([text], ["by 6 points (74.4% vs 68.4%)"])
    assert missing == ["'7 points' in: Scratch trails by 7 points."]
    assert uncovered([text], ["by 6 points (74.4% vs 68.4%)"], also_covered={"7 points"}) == []


def test_a_one_off_timing_may_back_the_readme_only():
    timing = {"text": "| 15 s |", "timed": "one cpu-profile run"}
    assert backing_problems(timing, code="", readme=True) == []
    assert backing_problems(timing, code="", readme=False)
    assert backing_problems({"text": "50%", "fixed": "chance", "printed": "acc"}, code="acc", readme=False)
