"""Pages the browser tests share: a JupyterLab of its own, a notebook run from its menu, and widget.js
alone on a stub model (no kernel), so a test of one behaviour of the widget needs no server."""

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
from playwright.sync_api import Page

from polpo_nb.notebook.widget import widget_esm

ROOT = Path(__file__).resolve().parent.parent
WAIT_MS = 45_000  # a hang is a failure, never a timing assertion
NODE_STATUSES = """() => Object.fromEntries([...document.querySelectorAll('.polpo-widget .polpo-node')]
    .map(g => [g.querySelector('title').textContent.replace(/ \\([^)]*\\)$/, ''), g.getAttribute('data-status')]))"""


def free_port() -> int:
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
    port, token = free_port(), secrets.token_hex(16)
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


def open_and_run_all(page: Page, base: str, token: str, notebook: str) -> None:
    page.goto(f"{base}/lab/tree/{notebook}?reset&token={token}")
    page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session)", timeout=WAIT_MS)
    # started, not awaited (the command's promise settles when every cell has run): the test watches the run
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def stub_widget(page: Page, graph: dict, state: dict, detail: dict, host_width: int | None = None) -> None:
    """widget.js and widget.css alone in a page, on a stub model: `select` answers with `detail`;
    `window.setState(state)` syncs a new state as the kernel would."""
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
        window.setState = (next) => { data.state = next; (handlers['change:state'] || []).forEach(f => f()); };
    }""", [js, graph, state, detail])


def statuses(page: Page) -> dict[str, str]:
    return page.evaluate(NODE_STATUSES)


def wait_for_statuses(page: Page, expected: dict[str, str]) -> None:
    page.wait_for_function(
        """([statuses, expected]) => {
            const got = (new Function('return ' + statuses))()();
            return Object.keys(got).length === Object.keys(expected).length
                && Object.entries(expected).every(([title, status]) => got[title] === status);
        }""", arg=[NODE_STATUSES, expected], timeout=WAIT_MS)
