"""The widget's "Re-run from here" end to end (issue 22): JupyterLab and Debian's Chromium, a notebook whose
mission completed; the reader opens a task's panel, presses the button, and the DAG runs that task and what
follows it again, not what comes before it."""

from __future__ import annotations

from pathlib import Path

import nbformat
from lab_pages import ROOT, WAIT_MS, open_and_run_all
from playwright.sync_api import Browser, Page
from test_notebook_browser import wait_for_statuses

CELLS = [
    "import polpo_nb as polpo\n\nproject = polpo.Project('.')\ncalls = {}\n\n\n"
    "@project.agent('w')\ndef work(task, ctx):\n    calls[task.title] = calls.get(task.title, 0) + 1\n"
    "    return f'{task.title} #{calls[task.title]}'",
    "mission = (polpo.Mission('rerun-demo').task('Collect', assign_to='w')\n"
    "           .task('Draft', assign_to='w', depends_on=['Collect'])\n"
    "           .task('Publish', assign_to='w', depends_on=['Draft']))\nrun = project.execute(mission)\nrun",
]
DONE = {"Collect": "done", "Draft": "done", "Publish": "done"}
ARTIFACTS = ROOT / "test-artifacts" / "test_rerun_lab_browser"


def _output_of(page: Page, title: str) -> str:
    """Open a task's panel and read its output."""
    widget = page.locator(".polpo-widget").first
    widget.locator(f'.polpo-node:has(title:text-is("{title} (w)"))').click()
    page.wait_for_function(f"() => (document.querySelector('.polpo-detail .polpo-detail-title') || {{}}).textContent"
                           f" === {title!r} && document.querySelector('.polpo-detail pre')", timeout=WAIT_MS)
    return widget.locator(".polpo-detail pre").last.text_content()


def test_the_rerun_button_reruns_the_task_and_what_follows_it(browser: Browser, lab: tuple[str, str, Path]) -> None:  # noqa: F811
    base, token, work = lab
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(notebook, work / "rerun.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        open_and_run_all(page, base, token, "rerun.ipynb")
        page.wait_for_function("() => (document.querySelector('.polpo-widget') || {dataset: {}}).dataset.missionStatus"
                               " === 'completed'", timeout=WAIT_MS)
        wait_for_statuses(page, DONE)
        assert _output_of(page, "Draft") == "Draft #1"

        page.locator(".polpo-widget .polpo-detail button.polpo-rerun").click()
        page.wait_for_function("() => document.querySelector('.polpo-widget').dataset.missionStatus === 'active'",
                               timeout=WAIT_MS)
        page.wait_for_function("() => document.querySelector('.polpo-widget').dataset.missionStatus === 'completed'",
                               timeout=WAIT_MS)
        wait_for_statuses(page, DONE)
        assert _output_of(page, "Publish") == "Publish #2"
        assert _output_of(page, "Draft") == "Draft #2"
        assert _output_of(page, "Collect") == "Collect #1"  # upstream: reused, not called again
        page.locator(".polpo-widget").first.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "rerun-from-draft.png"), full_page=False)
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "rerun-failure.png"), full_page=True)
        raise
    assert not errors, errors
