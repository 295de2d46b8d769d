"""The static DAG where widgets do not run, in Debian's Chromium: a notebook with saved outputs opened
*untrusted* in JupyterLab (its sanitizer drops `<svg>`, `<style>` and `data-*`), and the same notebook
exported by nbconvert with `sanitize_html=True` (bleach: no `style` at all, unknown tags escaped as text).

The assertions are on what a reader sees: every task's box apart from the others, its title, status,
score and attempts on lines of their own, the legend, and no markup shown as text. Screenshots go to
test-artifacts/test_notebook_static/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from lab_pages import WAIT_MS
from nbconvert import HTMLExporter
from playwright.sync_api import Browser, Page
from test_notebook_browser import ARTIFACTS as BROWSER_ARTIFACTS

import polpo_nb as polpo
from polpo_nb.notebook.display import WIDGET_MIME

ARTIFACTS = BROWSER_ARTIFACTS.parent / "test_notebook_static"
WAIT = 30

#: What each task of the saved outputs must read as: title -> (status line starts with, facts line)
FINISHED = {
    "Collect changes": ("✓ done", "researcher"),
    "Collect fixes": ("✓ done", "researcher"),
    "Draft notes": ("✓ done", "writer · score 5.0 ✓ · 2 attempts"),
    "Translate": ("✗ failed", "writer"),
    "Publish translation": ("↷ skipped", "publisher"),
    "Ship": ("⚑ awaiting approval", "publisher"),
}
ABORTED = {"Quick": ("✓ done", "researcher"), "Slow": ("⊘ aborted", "slow"), "After": ("⊘ aborted", "researcher")}

NODES_JS = """() => [...document.querySelectorAll('.polpo-static')].map(picture => ({
    svg: picture.querySelectorAll('svg').length,
    nodes: [...picture.querySelectorAll('.polpo-static-node')].map(n => {
        const r = n.getBoundingClientRect();
        return {lines: n.innerText.split('\\n').map(s => s.trim()).filter(Boolean),
                box: [r.left, r.top, r.right, r.bottom], border: getComputedStyle(n).borderTopColor};
    }),
    header: picture.querySelector('.polpo-static-header').innerText,
    legend: [...picture.querySelectorAll('.polpo-static-key')].map(k => k.innerText.trim()),
    text: picture.innerText,
}))"""


@pytest.fixture(scope="module")
def saved_notebook(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    """A notebook whose outputs are what a kernel displayed for two runs (widget view + static picture),
    as JupyterLab saves them: one run waiting for an approval after a fix, a failure and a skip, one aborted."""
    project = polpo.Project(tmp_path_factory.mktemp("static"))
    release = threading.Event()
    try:
        @project.agent("researcher")
        def researcher(task, ctx):
            return "faster startup, dark mode"

        @project.agent("writer")
        def writer(task, ctx):
            if task.title == "Translate":
                raise RuntimeError("no dictionary")
            return "draft" if ctx.feedback is None else "draft with every change"

        project.agent("publisher")(lambda task, ctx: "published")
        project.agent("slow")(lambda task, ctx: release.wait(WAIT) and "late")
        project.judge(lambda e, t, r: 5 if "every" in r.content else 2)
        mission = (polpo.Mission("release-notes").task("Collect changes", assign_to="researcher")
                   .task("Collect fixes", assign_to="researcher")
                   .task("Draft notes", assign_to="writer", depends_on=["Collect changes", "Collect fixes"],
                         expectations=["Mentions every change"])
                   .task("Translate", assign_to="writer", depends_on=["Draft notes"], max_retries=0)
                   .task("Publish translation", assign_to="publisher", depends_on=["Translate"])
                   .task("Ship", assign_to="publisher", depends_on=["Draft notes"], side_effects=True))
        finished = project.execute(mission)
        finished.wait(WAIT)
        aborted = project.execute(polpo.Mission("hotfix").task("Quick", assign_to="researcher")
                                  .task("Slow", assign_to="slow").task("After", assign_to="researcher", depends_on=["Slow"]))
        while {t.title: t.status.value for t in aborted.record().tasks} != {"Quick": "done", "Slow": "in_progress",
                                                                             "After": "pending"}:
            threading.Event().wait(0.01)
        project.abort("hotfix")
        release.set()
        cells = [nbformat.v4.new_markdown_cell("# Saved outputs")]
        for code, run in (("run", finished), ("hotfix", aborted)):
            bundle = run._repr_mimebundle_()  # no kernel here: the static picture and text
            data = {WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": "0" * 32}, **bundle}
            cells.append(nbformat.v4.new_code_cell(code, execution_count=len(cells), outputs=[
                nbformat.v4.new_output("execute_result", data=data, execution_count=len(cells))]))
        notebook = nbformat.v4.new_notebook(cells=cells)
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        return notebook
    finally:
        release.set()
        project.close()


def _check_pictures(page: Page, where: str, *, styled: bool) -> None:
    pictures = page.evaluate(NODES_JS)
    assert len(pictures) == 2, f"{where}: {len(pictures)} pictures"
    for picture, expected, name, status in ((pictures[0], FINISHED, "release-notes", "mission active"),
                                            (pictures[1], ABORTED, "hotfix", "mission cancelled")):
        assert picture["svg"] == 0
        assert "<" not in picture["text"] and "&lt;" not in picture["text"], f"{where}: markup shown as text"
        assert picture["header"].split("\n")[0].startswith(name) and status in picture["header"]
        got = {n["lines"][0]: n["lines"] for n in picture["nodes"]}
        assert set(got) == set(expected), f"{where}: {got}"
        for title, (state, facts) in expected.items():
            lines = got[title]
            assert lines[1].startswith(state) and lines[2] == facts, f"{where}: {lines}"
        boxes = [n["box"] for n in picture["nodes"]]
        for i, a in enumerate(boxes):  # every task's box stands apart: no two overlap, none is empty
            assert a[2] > a[0] and a[3] > a[1]
            for b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], f"{where}: {a} overlaps {b}"
        if styled:  # the status colours survived the sanitizer
            colours = {n["lines"][0]: n["border"] for n in picture["nodes"]}
            assert colours[next(iter(expected))] == "rgb(26, 127, 55)"
    assert pictures[0]["legend"] == ["✓ 3 done", "⚑ 1 awaiting approval", "✗ 1 failed", "↷ 1 skipped"]
    assert pictures[1]["legend"] == ["✓ 1 done", "⊘ 2 aborted"]
    assert "as of" in pictures[0]["header"] and "as of" not in pictures[1]["header"]
    if styled:  # columns: a dependency's box left of its dependents'
        nodes = {n["lines"][0]: n["box"] for n in pictures[0]["nodes"]}
        assert nodes["Collect changes"][2] <= nodes["Draft notes"][0] <= nodes["Ship"][0]


def test_static_dag_reads_in_an_untrusted_notebook_in_jupyterlab(browser: Browser, lab, saved_notebook) -> None:  # noqa: F811
    base, token, work = lab
    nbformat.write(saved_notebook, work / "saved.ipynb")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    try:
        page.goto(f"{base}/lab/tree/saved.ipynb?reset&token={token}")
        page.wait_for_selector(".jp-OutputArea-output .polpo-static-legend", timeout=WAIT_MS)
        page.wait_for_function("() => document.querySelectorAll('.polpo-static').length === 2", timeout=WAIT_MS)
        trusted = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.cells.get(1).trusted")
        assert trusted is False
        _check_pictures(page, "JupyterLab, untrusted", styled=True)
        page.locator(".polpo-static").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-untrusted.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-untrusted-failure.png"), full_page=True)
        raise
    finally:
        page.close()


@pytest.fixture
def offline_page(browser: Browser) -> Iterator[Page]:  # noqa: F811
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    page.route(re.compile(r"^https?://"), lambda route: route.abort())  # the export's CDN scripts: no network here
    yield page
    page.close()


@pytest.mark.parametrize("sanitize", [True, False], ids=["sanitized", "as-is"])
def test_static_dag_reads_in_nbconverts_html(offline_page: Page, saved_notebook, tmp_path: Path, sanitize: bool) -> None:
    html, _ = HTMLExporter(sanitize_html=sanitize).from_notebook_node(saved_notebook)
    assert "&lt;tbody&gt;" not in html and "&lt;svg" not in html
    target = tmp_path / "saved.html"
    target.write_text(html)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    offline_page.goto(target.as_uri(), wait_until="domcontentloaded")
    offline_page.wait_for_selector(".polpo-static-legend")
    _check_pictures(offline_page, f"nbconvert sanitize_html={sanitize}", styled=not sanitize)
    offline_page.screenshot(path=str(ARTIFACTS / f"nbconvert-{'sanitized' if sanitize else 'as-is'}.png"), full_page=True)
