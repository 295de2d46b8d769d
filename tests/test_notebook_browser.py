"""The widget in a real browser: JupyterLab started here, Debian's Chromium driven by Playwright.

`test_quickstart_in_jupyterlab` opens notebooks/quickstart.ipynb (a copy) and runs every cell as a reader does:
it sees the DAG move, the run stop at the checkpoint, presses "Resume" in the widget, then "Approve" on the task
waiting for it, and sees the mission complete; the saved output's static picture follows it.
Screenshots go to test-artifacts/test_notebook_browser/. Playwright never downloads a browser here:
`.ci/run` installs Debian's chromium and we launch /usr/bin/chromium.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from polpo_nb.notebook.widget import widget_esm

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "test_notebook_browser"
WAIT_MS = 45_000  # a hang is a failure, never a timing assertion
PAUSED = {"Collect changes": "done", "Collect fixes": "done", "Draft notes": "done", "Publish": "pending"}

NODE_STATUSES = """() => Object.fromEntries([...document.querySelectorAll('.polpo-widget .polpo-node')]
    .map(g => [g.querySelector('title').textContent.replace(/ \\([^)]*\\)$/, ''), g.getAttribute('data-status')]))"""



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A JupyterLab server on copies of the demo notebooks, isolated from the user's Jupyter config."""
    work = tmp_path / "lab"
    work.mkdir()
    for notebook in ("quickstart.ipynb", "http_api.ipynb"):
        shutil.copy(ROOT / "notebooks" / notebook, work / notebook)
    port, token = _free_port(), secrets.token_hex(16)
    jupyter = {name: tmp_path / name for name in ("config", "runtime", "settings", "workspaces")}
    for path in jupyter.values():
        path.mkdir()
    # every cell stays in the DOM (JupyterLab 4 detaches off-screen cells by default), and no news toast
    for plugin, settings in (("notebook-extension/tracker", {"windowingMode": "none"}),
                             ("apputils-extension/notification", {"fetchNews": "false"})):
        target = jupyter["settings"] / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(settings))
    # a reader is there: the quickstart must wait for the widget's buttons, not resume from code
    env = {**{k: v for k, v in os.environ.items() if k != "POLPO_UNATTENDED"},
           "TMPDIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(jupyter["config"]),
           "JUPYTER_RUNTIME_DIR": str(jupyter["runtime"]), "JUPYTERLAB_SETTINGS_DIR": str(jupyter["settings"]),
           "JUPYTERLAB_WORKSPACES_DIR": str(jupyter["workspaces"])}
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.allow_root=True", "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            assert server.poll() is None, (tmp_path / "lab.log").read_text()
            try:
                if httpx.get(f"{base}/api/status", headers={"Authorization": f"token {token}"}, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()
            time.sleep(0.2)
        yield base, token, work
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _statuses(page: Page) -> dict[str, str]:
    return page.evaluate(NODE_STATUSES)


def _wait_for_statuses(page: Page, expected: dict[str, str]) -> None:
    page.wait_for_function(
        """([statuses, expected]) => {
            const got = (new Function('return ' + statuses))()();
            return Object.keys(got).length === Object.keys(expected).length
                && Object.entries(expected).every(([title, status]) => got[title] === status);
        }""", arg=[NODE_STATUSES, expected], timeout=WAIT_MS)


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


def _open_and_run_all(page: Page, base: str, token: str, notebook: str) -> None:
    page.goto(f"{base}/lab/tree/{notebook}?reset&token={token}")
    page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session)", timeout=WAIT_MS)
    # started, not awaited (the command's promise settles when every cell has run): the test watches the run
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def _run_quickstart(page: Page, base: str, token: str) -> None:
    _open_and_run_all(page, base, token, "quickstart.ipynb")

    # the live DAG: the reader sees tasks running, then the run stops at the editor's checkpoint
    page.wait_for_selector('.polpo-widget .polpo-node[data-status="in_progress"]', timeout=WAIT_MS)
    _wait_for_statuses(page, PAUSED)
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
    assert _statuses(page) == PAUSED
    assert "An editor reads the draft" in widget.locator(".polpo-message").text_content()
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "quickstart-paused-at-checkpoint.png"), full_page=False)

    # Resume in the widget: Publish runs and waits for approval
    resume = widget.locator("button.polpo-resume")
    assert resume.is_visible()
    resume.click()
    _wait_for_statuses(page, {**PAUSED, "Publish": "awaiting_approval"})
    widget = page.locator(".polpo-widget").first  # the output may have been replaced as the run settled
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "quickstart-awaiting-approval.png"), full_page=False)

    # Approve: Publish done, the mission completed
    approve = widget.locator(".polpo-approval button.polpo-approve")
    assert approve.count() == 1 and "Publish" in widget.locator(".polpo-approval").text_content()
    approve.click()
    _wait_for_statuses(page, {**PAUSED, "Publish": "done"})
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
    widget.scroll_into_view_if_needed()
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
    _stub_widget(page, graph, state, detail)
    page.locator(".polpo-node").click()
    page.wait_for_selector(".polpo-detail pre")
    assert page.locator("img").count() == 0
    assert page.evaluate("() => window.pwned") is None
    text = page.locator("#host").text_content()
    assert text.count(evil) >= 6  # name, pause message, notice, approval row, event, detail title/description/output
    assert page.locator(".polpo-node title").text_content() == f"{evil} ({evil})"
    page.locator(".polpo-approval button.polpo-approve").click()
    assert page.evaluate("() => window.sent") == [{"action": "select", "taskId": "t1"}, {"action": "approve", "taskId": "t1"}]


def _stub_widget(page: Page, graph: dict, state: dict, detail: dict, host_width: int | None = None) -> None:
    """widget.js and widget.css alone in a page, on a stub model: `select` answers with `detail`."""
    width = f" style='width:{host_width}px'" if host_width else ""
    page.set_content(f"<div id='host'{width}></div>")
    page.add_style_tag(content=(ROOT / "polpo_nb" / "notebook" / "widget.css").read_text())
    js = widget_esm()  # widget.js with the shared DAG renderer inlined, as anywidget gets it
    page.evaluate("""async ([src, graph, state, detail]) => {
        const url = URL.createObjectURL(new Blob([src], {type: 'text/javascript'}));
        const widget = (await import(url)).default;
        const data = {graph, state}, handlers = {};
        const model = {get: k => data[k], on: (n, f) => (handlers[n] ??= []).push(f), off() {},
                       send: m => { (window.sent ??= []).push(m); if (m.action === 'select') handlers['msg:custom'].forEach(f => f({...detail, taskId: m.taskId})); }};
        widget.render({model, el: document.getElementById('host')});
    }""", [js, graph, state, detail])


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
    _stub_widget(page, graph, state, detail, host_width)
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
        _open_and_run_all(page, base, token, "http_api.ipynb")
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
