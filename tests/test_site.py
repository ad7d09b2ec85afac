"""The course site (`make site`, site/build.py): built here without executing any notebook, with
every Sphinx warning an error (a broken cross-reference, a README marker that an include no longer
finds), into a temporary folder. Every page of the toc becomes an HTML file, every link and anchor
between the site's pages resolves, the Colab links match the notebooks' badges, and nothing of
solutions/ is published."""
import hashlib
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml

from tlcourse import colab

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
MARKER = "### BEGIN SOLUTION"


def _toc_files(node) -> list[str]:
    """Every ``root`` and ``file`` entry of the toc, in order."""
    if isinstance(node, dict):
        found = [node[k] for k in ("root", "file") if k in node]
        return found + [f for v in node.values() for f in _toc_files(v)]
    if isinstance(node, list):
        return [f for v in node for f in _toc_files(v)]
    return []


TOC = _toc_files(yaml.safe_load((SITE / "_toc.yml").read_text()))
CONFIG = yaml.safe_load((SITE / "_config.yml").read_text())


class _Page(HTMLParser):
    """A page's ids (anchors), its links (href and src) and its text."""

    def __init__(self, path: Path):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.text = set(), [], []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif name in ("href", "src") and value:
                self.links.append(value)

    def handle_data(self, data):
        self.text.append(data)


def _digests(folder: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / folder).glob("*.ipynb")}


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    """The site built from this checkout, no notebook executed: its html folder."""
    out = tmp_path_factory.mktemp("site")
    before = _digests("notebooks"), _digests("exercises")
    done = subprocess.run([sys.executable, str(SITE / "build.py"), "--no-execute", "--strict",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the site build failed:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    assert (_digests("notebooks"), _digests("exercises")) == before, "the build wrote into a notebook"
    return (out / "html").resolve()


@pytest.fixture(scope="module")
def pages(html):
    """Every HTML page of the site (not the theme's own templates in _static), parsed."""
    return {p.relative_to(html).as_posix(): _Page(p) for p in html.rglob("*.html")
            if "_static" not in p.relative_to(html).parts}


def test_the_toc_lists_every_notebook_and_exercise_and_no_solution():
    notebooks = {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    exercises = {f"exercises/{p.name}" for p in (ROOT / "exercises").glob("[0-9][0-9]_*.ipynb")}
    assert notebooks and exercises
    assert notebooks | exercises <= set(TOC)
    assert not [f for f in TOC if f.startswith("solutions") or f.endswith(".py")]
    assert CONFIG["only_build_toc_files"] is True, "a file outside the toc (solutions/) would be built"


def test_notebooks_run_through_the_cache_and_exercises_never_run():
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] == "cache"
    assert execute["exclude_patterns"] == ["exercises/*"]
    assert execute["raise_on_error"] is True


def test_every_page_of_the_toc_is_built(html):
    for file in TOC:
        page = html / (re.sub(r"\.(ipynb|md)$", "", file) + ".html")
        assert page.is_file(), f"{file} in site/_toc.yml produced no {page.name}"
    assert "site/intro.html" in (html / "index.html").read_text()


def test_every_link_within_the_site_resolves(html, pages):
    broken = []
    for name, page in pages.items():
        for link in page.links:
            url = urlsplit(link)
            if url.scheme or url.netloc or link == "#":
                continue  # another site (the Colab badge, the repository), or the page's top
            target = (html / name).parent / unquote(url.path) if url.path else html / name
            target = target.resolve()
            if not target.is_file() or html not in target.parents:
                broken.append(f"{name}: {link}")
            elif url.fragment and target.suffix == ".html":
                anchors = pages[target.relative_to(html).as_posix()].ids
                if unquote(url.fragment) not in anchors:
                    broken.append(f"{name}: {link} (no such anchor)")
    assert not broken, "links that lead nowhere:\n" + "\n".join(broken)
    links = pages["site/intro.html"].links
    for file in TOC[1:]:  # the course map reaches every notebook and exercise
        if not file.startswith("site/"):
            assert "../" + file.replace(".ipynb", ".html") in links, file


def test_nothing_of_the_solutions_is_published(html, pages):
    assert not [p for p in html.rglob("*") if "solutions" in p.relative_to(html).parts]
    # The marker appears only where the README's instructors' part quotes it, in prose: in no
    # other page's text, and in no other file (the pages' sources, the search index).
    quoting = [name for name, page in pages.items() if MARKER in "".join(page.text)]
    assert quoting == ["site/instructors.html"], quoting
    assert not [p for p in html.rglob("*") if p.is_file() and p.suffix != ".html"
                and MARKER in p.read_text(errors="ignore")]
    # No line of an answer either, unless the course shows it elsewhere (a notebook, an exercise).
    shown = "\n".join(p.read_text() for p in (ROOT / "notebooks").glob("*.py"))
    shown += "\n".join(c.source for p in (ROOT / "exercises").glob("*.ipynb")
                       for c in nbformat.read(p, as_version=4).cells)
    answers = set()
    for path in (ROOT / "solutions").glob("*.py"):
        for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", path.read_text(), re.S):
            answers |= {line.strip() for line in block.splitlines()
                        if len(line.strip()) >= 30 and line.strip() not in shown}
    assert len(answers) > 50
    site_text = "\n".join("".join(page.text) for page in pages.values())
    leaked = sorted(line for line in answers if line in site_text)
    assert not leaked, f"solution lines on the site: {leaked[:5]}"


def test_each_notebook_page_opens_the_same_notebook_on_colab(pages):
    assert CONFIG["repository"]["url"] == colab.REPOSITORY
    assert CONFIG["repository"]["branch"] == colab.BRANCH
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        page = pages[f"notebooks/{path.stem}.html"]
        url = re.findall(r"\((https://colab[^)]+)\)", colab.badge(f"notebooks/{path.name}"))[-1]
        # the badge in its first cell and the theme's launch button
        assert page.links.count(url) >= 2, path.name


def test_the_readme_parts_are_on_the_site(pages):
    setup = "".join(pages["site/setup.html"].text)
    assert "make lab" in setup and "make test" in setup and "TLCOURSE_PROFILE" in setup
    instructors = "".join(pages["site/instructors.html"].text)
    assert "make-exercises --kit" in instructors and "tlcourse grade" in instructors
    assert "The GPU check has not run" not in instructors  # the include stops before Benchmarks
