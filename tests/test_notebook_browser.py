"""The widget in a real browser: JupyterLab started here, Debian's Chromium driven by Playwright.

`test_quickstart_in_jupyterlab` opens notebooks/quickstart.ipynb (a copy) and runs every cell as a reader does:
it sees the DAG move, the run stop at the checkpoint, presses "Resume" in the widget, then "Approve" on the task
waiting for it, and sees the mission complete; the saved output's static picture follows it.
Screenshots go to test-artifacts/test_notebook_browser/. Playwright never downloads a browser here:
`.ci/run` installs Debian's chromium and we launch /usr/bin/chromium.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from lab_pages import ROOT, WAIT_MS, open_and_run_all, statuses, stub_widget, wait_for_statuses
from playwright.sync_api import Browser, Locator, Page
from playwright.sync_api import Error as PlaywrightError

ARTIFACTS = ROOT / "test-artifacts" / "test_notebook_browser"
PAUSED = {"Collect changes": "done", "Collect fixes": "done", "Draft notes": "done", "Publish": "pending"}


def widget_in_view(page: Page) -> Locator:
    """The widget, scrolled into view for a screenshot. Its output can be rendered anew as the run
    settles (the saved static picture beside it changes), which detaches the element Playwright found a
    moment before: then it is looked up again."""
    for _ in range(5):
        widget = page.locator(".polpo-widget").first
        try:
            widget.scroll_into_view_if_needed()
            return widget
        except PlaywrightError as exc:
            if "not attached" not in str(exc):
                raise
    raise AssertionError("the widget's output was rendered anew five times in a row")





def test_quickstart_in_jupyterlab(browser: Browser, lab: tuple[str, str, Path]) -> None:
    base, token, _ = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        _run_quickstart(page, base, token)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        raise
    assert not errors, errors


def _run_quickstart(page: Page, base: str, token: str) -> None:
    open_and_run_all(page, base, token, "quickstart.ipynb")

    # the live DAG: the reader sees tasks running, then the run stops at the editor's checkpoint
    page.wait_for_selector('.polpo-widget .polpo-node[data-status="in_progress"]', timeout=WAIT_MS)
    wait_for_statuses(page, PAUSED)
    widget = page.locator(".polpo-widget").first
    page.wait_for_function("() => document.querySelector('.polpo-widget').dataset.missionStatus === 'paused'",
                           timeout=WAIT_MS)
    assert widget.locator(".polpo-node").count() == 4 and widget.locator(".polpo-edge").count() == 3
    draft = widget.locator('.polpo-node:has(title:text-is("Draft notes (writer)"))')
    assert draft.locator(".polpo-badge-score-text").text_content() == "5.0"
    assert draft.locator(".polpo-badge-retry-text").text_content() == "×2"  # two attempts: the fix phase
    # the last cell (%polpo status) ran, and nothing resumed the run: it waits for the reader
    page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                           ".some(o => o.textContent.includes('1 paused'))", timeout=WAIT_MS)
    assert statuses(page) == PAUSED
    assert "An editor reads the draft" in widget.locator(".polpo-message").text_content()
    widget = widget_in_view(page)
    page.screenshot(path=str(ARTIFACTS / "quickstart-paused-at-checkpoint.png"), full_page=False)

    # Resume in the widget: Publish runs and waits for approval
    resume = widget.locator("button.polpo-resume")
    assert resume.is_visible()
    resume.click()
    wait_for_statuses(page, {**PAUSED, "Publish": "awaiting_approval"})
    widget = widget_in_view(page)  # the output may have been replaced as the run settled
    page.screenshot(path=str(ARTIFACTS / "quickstart-awaiting-approval.png"), full_page=False)

    # Approve: Publish done, the mission completed
    approve = widget.locator(".polpo-approval button.polpo-approve")
    assert approve.count() == 1 and "Publish" in widget.locator(".polpo-approval").text_content()
    approve.click()
    wait_for_statuses(page, {**PAUSED, "Publish": "done"})
    page.wait_for_function("() => document.querySelector('.polpo-widget').dataset.missionStatus === 'completed'",
                           timeout=WAIT_MS)
    widget = page.locator(".polpo-widget").first
    assert widget.locator(".polpo-approval").count() == 0
    page.wait_for_function("() => document.querySelector('.polpo-widget .polpo-summary').textContent.includes('4/4 done')",
                           timeout=WAIT_MS)
    # the saved output's static picture (what GitHub shows) followed the run to its end
    page.wait_for_function("""() => {
        const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
        for (let i = 0; i < cells.length; i++) {
            const outputs = cells.get(i).outputs;
            for (let j = 0; outputs && j < outputs.length; j++) {
                const html = outputs.get(j).data['text/html'];
                if (html && String(html).includes('polpo-static') && String(html).includes('mission completed')) return true;
            }
        }
        return false;
    }""", timeout=WAIT_MS)

    # the right-most node's detail: the panel hides no node
    widget.locator('.polpo-node:has(title:text-is("Publish (publisher)"))').click()
    page.wait_for_function("() => document.querySelector('.polpo-detail pre')", timeout=WAIT_MS)
    assert "published" in widget.locator(".polpo-detail").text_content()
    seen = page.evaluate(NODE_VISIBILITY)
    assert len(seen) == 4 and all(n["inside"] and n["onTop"] and not n["overlapsDetail"] for n in seen), seen
    widget_in_view(page)
    page.screenshot(path=str(ARTIFACTS / "quickstart-approved.png"), full_page=False)


def test_widget_renders_hostile_strings_as_text(browser: Browser) -> None:
    """widget.js alone, on a stub model: titles, events and outputs never become markup."""
    evil = "<img src=x onerror=\"window.pwned=1\">"
    graph = {"rev": 1, "width": 300, "height": 64,
             "nodes": [{"id": "t1", "title": evil, "agent": evil, "x": 8, "y": 8}], "edges": []}
    state = {"graphRev": 1, "mission": {"id": "m1", "name": evil, "status": "paused", "pause_message": evil},
             "tasks": {"t1": {"status": "awaiting_approval", "score": 4.0, "passed": True}},
             "progress": {"total": 1, "done": 0, "failed": 0, "running": 0, "awaiting": 1, "elapsed": 1.5, "ticking": False},
             "events": [{"id": 1, "time": "12:00:00", "event": "task:output", "text": evil}], "notice": evil}
    detail = {"type": "detail", "taskId": "t1", "task": {"id": "t1", "title": evil, "status": "awaiting_approval",
                                                        "description": evil, "result": {"content": evil}}}
    page = browser.new_page()
    stub_widget(page, graph, state, detail)
    page.locator(".polpo-node").click()
    page.wait_for_selector(".polpo-detail pre")
    assert page.locator("img").count() == 0
    assert page.evaluate("() => window.pwned") is None
    text = page.locator("#host").text_content()
    assert text.count(evil) >= 6  # name, pause message, notice, approval row, event, detail title/description/output
    assert page.locator(".polpo-node title").text_content() == f"{evil} ({evil})"
    page.locator(".polpo-approval button.polpo-approve").click()
    assert page.evaluate("() => window.sent") == [{"action": "select", "taskId": "t1"}, {"action": "approve", "taskId": "t1"}]


def test_a_press_on_approve_that_spans_a_state_update_still_approves(browser: Browser) -> None:
    """Each synced state repainted the approvals with new buttons, so a press on Approve (mouse down, then
    up) that spanned an update of another task clicked nothing: the button it began on was gone. A row
    stays while its task awaits approval."""
    graph = {"rev": 1, "width": 300, "height": 120, "edges": [],
             "nodes": [{"id": "t1", "title": "Publish", "agent": "w", "x": 8, "y": 8},
                       {"id": "t2", "title": "Draft", "agent": "w", "x": 8, "y": 64}]}

    def state(other: str) -> dict:
        return {"graphRev": 1, "mission": {"id": "m1", "name": "m", "status": "active"},
                "tasks": {"t1": {"status": "awaiting_approval"}, "t2": {"status": other}},
                "progress": {"total": 2, "done": 0, "failed": 0, "running": 1, "awaiting": 1, "elapsed": 1.0,
                             "ticking": True}, "events": []}
    page = browser.new_page()
    stub_widget(page, graph, state("in_progress"), {})
    approve = page.locator('.polpo-approval[data-task-id="t1"] button.polpo-approve')
    approve.hover()
    page.mouse.down()
    page.evaluate("(next) => window.setState(next)", state("review"))
    page.wait_for_function("""() => [...document.querySelectorAll('.polpo-node')].some(
        g => g.textContent.includes('Draft') && g.getAttribute('data-status') === 'review')""")
    page.mouse.up()
    assert page.evaluate("() => window.sent") == [{"action": "approve", "taskId": "t1"}]
    page.evaluate("(next) => window.setState(next)", {**state("done"), "tasks": {"t1": {"status": "done"},
                                                                                  "t2": {"status": "done"}}})
    assert page.locator(".polpo-approval").count() == 0  # its task no longer awaits: its row goes
    page.close()


#: Every node's box, and whether it is wholly inside the canvas's visible area and on top at its centre.
NODE_VISIBILITY = """() => {
    const canvas = document.querySelector('.polpo-canvas').getBoundingClientRect();
    const detail = document.querySelector('.polpo-detail').getBoundingClientRect();
    return [...document.querySelectorAll('.polpo-node')].map(g => {
        const r = g.querySelector('.polpo-node-box').getBoundingClientRect();
        const top = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
        const overlapsDetail = !(r.right <= detail.left || detail.right <= r.left || r.bottom <= detail.top || detail.bottom <= r.top);
        return {title: g.querySelector('title').textContent, inside: r.left >= canvas.left && r.right <= canvas.right
                && r.top >= canvas.top && r.bottom <= canvas.bottom, onTop: !!top && g.contains(top), overlapsDetail};
    });
}"""


@pytest.mark.parametrize("host_width", [1000, 1400])
def test_the_detail_panel_never_hides_a_node_of_a_wide_dag(browser: Browser, host_width: int) -> None:
    """Four layers (920 px): with the panel open every node stays whole, visible and clickable, beside the
    panel when the output is wide enough, above it otherwise."""
    titles = [["Collect changes", "Collect fixes"], ["Draft notes"], ["Review"], ["Ship"]]
    nodes, edges = [], []
    for col, column in enumerate(titles):
        for row, title in enumerate(column):
            nodes.append({"id": f"t{len(nodes)}", "title": title, "agent": "w", "x": 8 + col * 240, "y": 8 + row * 60})
    edges = [[0, 2], [1, 2], [2, 3], [3, 4]]
    graph = {"rev": 1, "width": 8 + 4 * 240 - 56 + 8, "height": 128, "nodes": nodes, "edges": edges}
    state = {"graphRev": 1, "mission": {"id": "m1", "name": "release", "status": "completed"},
             "tasks": {n["id"]: {"status": "done", "ms": 800} for n in nodes},
             "progress": {"total": 5, "done": 5, "failed": 0, "running": 0, "awaiting": 0, "elapsed": 4.0, "ticking": False},
             "events": [], "notice": None}
    detail = {"type": "detail", "task": {"id": "t4", "title": "Ship", "status": "done", "description": "Ship it " * 40,
                                         "result": {"content": "shipped\n" * 30, "durationMs": 800}}}
    page = browser.new_page(viewport={"width": host_width + 100, "height": 900})
    stub_widget(page, graph, state, detail, host_width)
    page.locator('.polpo-node:has(title:text-is("Ship (w)"))').click()
    page.wait_for_selector(".polpo-detail.polpo-open pre")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"detail-panel-{host_width}.png"), full_page=True)
    seen = page.evaluate(NODE_VISIBILITY)
    assert [n["title"] for n in seen] == ["Collect changes (w)", "Collect fixes (w)", "Draft notes (w)", "Review (w)", "Ship (w)"]
    assert all(n["inside"] and n["onTop"] and not n["overlapsDetail"] for n in seen), seen
    assert "shipped" in page.locator(".polpo-detail").text_content()


def test_http_api_notebook_finds_the_jupyter_server_running_its_kernel(browser: Browser, lab: tuple[str, str, Path]) -> None:
    """In JupyterLab, http_api.ipynb talks to the server hosting its kernel (not a `polpo serve` of its own):
    the mission it creates over HTTP lands in that server's default project, the directory it serves."""
    base, token, work = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_and_run_all(page, base, token, "http_api.ipynb")
        outputs = "() => [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent).join('\\n')"
        page.wait_for_function(f"() => ({outputs})().includes('finally: done')"
                               " || !!document.querySelector('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]')",
                               timeout=WAIT_MS)
        text = page.evaluate(outputs)
        assert "finally: done" in text, text[-3000:]
        assert f"using the Jupyter server that runs this kernel: {base}/polpo/" in text
        assert "started polpo serve" not in text
        assert "mission:done" in text and "without the token: 401" in text
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "http-api-failure.png"), full_page=True)
        raise
    # the server's default project is the directory it serves: the mission is in its store
    with httpx.Client(base_url=f"{base}/polpo/v1/", headers={"Authorization": f"token {token}"}) as client:
        names = [m["name"] for m in client.get("missions").json()]
    assert any(name.startswith("http-demo-") for name in names), names
    assert (work / ".polpo").is_dir()
