#!/usr/bin/env python
"""The mission widget under load: a 500-task DAG rendered in Chromium, and a 2,000-event burst.

    .venv/bin/python benchmarks/widget.py [--tasks 500] [--burst 2000] [--spread 3] [--repeat 5] [--json] [--no-browser]

1. **Comm messages under a burst** (no browser): a `MissionWidget` watches a 500-task mission with a
   recording comm (every message the kernel would put on the wire). One task's agent emits `--burst`
   `task:output` events while the 500 no-op tasks run (about 8 more events each): once as fast as it
   can, once spread over `--spread` seconds (so the coalescing is seen across several seconds).
   Reported: events delivered, comm `update` messages, their peak count in any one-second window, the
   shortest gap between two updates, the bytes of each update, and the time a flush takes (re-read +
   build + serialise) on the engine thread.
2. **Render time in Chromium, standalone**: widget.js rendered by Chromium on a stub model holding the
   widget's real `graph` and `state` for the finished 500-task mission; timed from `render()` to the
   first animation frame after it (layout and paint of the 500 nodes and their edges), `--repeat` times.
3. **Display to render in JupyterLab**: JupyterLab started here, a notebook runs the 500-task mission,
   then a cell displays the run handle; timed in the browser from executing that cell to all 500
   nodes painted with their final status (kernel round trip, widget creation, comm open, ESM load and
   render). Also reported: the widget's own render time for that view (`data-render-ms`).

Debian's Chromium (/usr/bin/chromium) through Playwright; no browser is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import comm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import polpo_nb as polpo  # noqa: E402
from polpo_nb.notebook.widget import MissionWidget  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def build_mission(tasks: int, width: int = 25, name: str = "big") -> polpo.Mission:
    """`tasks` no-op tasks in layers of `width`, each past the first depending on two of the layer before."""
    mission = polpo.Mission(name)
    for i in range(tasks):
        layer, col = divmod(i, width)
        deps = [] if layer == 0 else sorted({f"t{(layer - 1) * width + col}", f"t{(layer - 1) * width + (col + 1) % width}"})
        mission.task(f"t{i}", assign_to="noop", depends_on=deps)
    return mission


class RecordingComm(comm.DummyComm):
    sent: list[tuple[float, str, dict[str, Any]]] = []

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
        RecordingComm.sent.append((time.monotonic(), msg_type, data or {}))


def burst(tasks: int, events: int, spread: float = 0.0) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Run the burst (its `events` outputs spread over `spread` seconds); return the figures and the
    widget's final graph and state."""
    comm.create_comm = RecordingComm
    with tempfile.TemporaryDirectory() as tmp, polpo.Project(tmp, config={"maxConcurrency": 8}) as project:
        project.agent("noop")(lambda task, ctx: "ok")

        @project.agent("chatty")
        def chatty(task: Any, ctx: Any) -> str:
            start = time.monotonic()
            for i in range(events):
                ctx.output(f"line {i}")
                if spread:  # pace the outputs on a schedule, not with a fixed sleep (sleeps overshoot)
                    ahead = start + spread * (i + 1) / events - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            return "ok"

        mission = build_mission(tasks - 1)
        mission.task("chatter", assign_to="chatty")  # a root, running alongside the first layer
        record = project.save_mission(mission)
        widget = MissionWidget(project, record.id)
        flush_times: list[float] = []
        original = widget._sync

        def timed_sync() -> None:
            start = time.perf_counter()
            original()
            flush_times.append(time.perf_counter() - start)

        widget._sync = timed_sync  # type: ignore[method-assign]
        delivered = []
        project.subscribe(delivered.append)
        RecordingComm.sent.clear()
        start = time.monotonic()
        run = project.execute("big")
        final = run.wait(300)
        def settled() -> bool:
            state = widget.state
            return state["mission"]["status"] == final.status.value and state["progress"]["done"] == len(final.tasks)

        while not settled():
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        updates = [(t, d) for t, kind, d in RecordingComm.sent if kind == "comm_msg" and d.get("method") == "update"]
        times = [t for t, _ in updates]
        peak = max(sum(1 for u in times if t <= u < t + 1.0) for t in times) if times else 0
        sizes = [len(json.dumps(d)) for _, d in updates]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        figures = {
            "tasks": len(final.tasks), "events": len(delivered), "spread_s": spread, "seconds": round(elapsed, 2),
            "updates": len(updates), "peak_updates_in_any_second": peak,
            "min_gap_ms": round(1000 * min(gaps), 1) if gaps else None,
            "update_bytes_median": int(statistics.median(sizes)) if sizes else 0,
            "graph_bytes": len(json.dumps(widget.graph)), "state_bytes": len(json.dumps(widget.state)),
            "flush_ms_median": round(1000 * statistics.median(flush_times), 2) if flush_times else None,
            "flush_ms_max": round(1000 * max(flush_times), 2) if flush_times else None,
        }
        graph, state = widget.graph, widget.state
        widget.close()
        return figures, graph, state


def render_standalone(graph: dict[str, Any], state: dict[str, Any], repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    js = (ROOT / "polpo_nb" / "notebook" / "widget.js").read_text()
    css = (ROOT / "polpo_nb" / "notebook" / "widget.css").read_text()
    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_content(f"<style>{css}</style><div id='host'></div>")
            ms = page.evaluate("""async ([src, graph, state]) => {
                const url = URL.createObjectURL(new Blob([src], {type: 'text/javascript'}));
                const widget = (await import(url)).default;
                const data = {graph, state};
                const model = {get: k => data[k], on() {}, off() {}, send() {}};
                const start = performance.now();
                widget.render({model, el: document.getElementById('host')});
                await new Promise(r => requestAnimationFrame(() => r()));
                return performance.now() - start;
            }""", [js, graph, state])
            nodes = page.locator(".polpo-node").count()
            if nodes != len(graph["nodes"]):
                raise SystemExit(f"rendered {nodes} nodes, expected {len(graph['nodes'])}")
            times.append(ms)
            page.close()
        browser.close()
    return {"render_ms_median": round(statistics.median(times), 1), "render_ms_max": round(max(times), 1),
            "repeat": repeat}


NOTEBOOK_SETUP = """
import sys
sys.path.insert(0, {root!r})
import tempfile, polpo_nb as polpo
from benchmarks.widget import build_mission
project = polpo.Project(tempfile.mkdtemp(), config={{"maxConcurrency": 8}})
project.agent("noop")(lambda task, ctx: "ok")
record = project.execute(build_mission({tasks})).wait(300)
print(record.status.value, len(record.tasks))
"""


def render_in_jupyterlab(tasks: int, repeat: int) -> dict[str, Any]:
    import nbformat
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="polpo-bench-lab-"))
    for name in ("config", "runtime", "settings", "workspaces", "nb"):
        (work / name).mkdir()
    target = work / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps({"windowingMode": "none"}))
    cells = [nbformat.v4.new_code_cell(NOTEBOOK_SETUP.format(root=str(ROOT), tasks=tasks))]
    # each cell displays a new handle on the finished run, as `run` displays: a new widget every time
    cells += [nbformat.v4.new_code_cell("polpo.RunHandle(project.aio, record.id, mission_id=record.id)")
              for _ in range(repeat)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, work / "nb" / "bench.ipynb")
    port = _free_port()
    token = secrets.token_hex(8)
    env = {**os.environ, "TMPDIR": str(work), "JUPYTER_CONFIG_DIR": str(work / "config"),
           "JUPYTER_RUNTIME_DIR": str(work / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work / 'nb'}", "--ServerApp.allow_root=True",
         "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"],
        cwd=work / "nb", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/bench.ipynb?reset&token={token}")
            page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session)", timeout=120_000)
            run_cell = """async (index) => {
                const panel = window.jupyterapp.shell.currentWidget;
                panel.content.activeCellIndex = index;
                await window.jupyterapp.commands.execute('notebook:run-cell');
            }"""
            page.evaluate(run_cell, 0)
            page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                                   ".some(o => o.textContent.includes('completed'))", timeout=300_000)
            end_to_end, own = [], []
            for i in range(repeat):
                elapsed = page.evaluate("""async ([index, tasks]) => {
                    const panel = window.jupyterapp.shell.currentWidget;
                    panel.content.activeCellIndex = index;
                    const start = performance.now();
                    window.jupyterapp.commands.execute('notebook:run-cell');
                    const widgets = () => document.querySelectorAll('.polpo-widget');
                    const before = widgets().length;
                    while (true) {
                        const all = widgets();
                        if (all.length > before) {
                            const last = all[all.length - 1];
                            const done = last.querySelectorAll('.polpo-node[data-status="done"]').length;
                            if (done === tasks && last.dataset.renderMs) {
                                await new Promise(r => requestAnimationFrame(() => r()));
                                return [performance.now() - start, Number(last.dataset.renderMs)];
                            }
                        }
                        await new Promise(r => setTimeout(r, 5));
                    }
                }""", [i + 1, tasks])
                end_to_end.append(elapsed[0])
                own.append(elapsed[1])
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return {"display_to_render_ms_median": round(statistics.median(end_to_end), 1),
            "display_to_render_ms_max": round(max(end_to_end), 1),
            "widget_render_ms_median": round(statistics.median(own), 1), "repeat": repeat}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--spread", type=float, default=3.0, help="seconds the second burst is spread over")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-browser", action="store_true", help="only the comm figures")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    figures, graph, state = burst(args.tasks, args.burst)
    results["burst"] = figures
    results["burst_spread"] = burst(args.tasks, args.burst, args.spread)[0]
    if not args.no_browser:
        results["chromium_standalone"] = render_standalone(graph, state, args.repeat)
        results["jupyterlab"] = render_in_jupyterlab(args.tasks, args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for key in ("burst", "burst_spread"):
        b = results[key]
        print(f"{key}: {b['events']} events ({args.burst} outputs from one agent + {b['tasks'] - 1} no-op tasks) in "
              f"{b['seconds']} s -> {b['updates']} comm updates (peak {b['peak_updates_in_any_second']} in any 1 s "
              f"window, shortest gap {b['min_gap_ms']} ms); update {b['update_bytes_median']} B median (graph "
              f"{b['graph_bytes']} B sent once, state {b['state_bytes']} B); flush {b['flush_ms_median']} ms median, "
              f"{b['flush_ms_max']} ms max")
    b = results["burst"]
    if "chromium_standalone" in results:
        c = results["chromium_standalone"]
        print(f"chromium, widget.js alone: {b['tasks']} nodes rendered in {c['render_ms_median']} ms median "
              f"({c['render_ms_max']} ms max, {c['repeat']} runs)")
        j = results["jupyterlab"]
        print(f"jupyterlab: display cell executed -> {b['tasks']} nodes painted in {j['display_to_render_ms_median']} ms median "
              f"({j['display_to_render_ms_max']} ms max, {j['repeat']} runs); the view's own render {j['widget_render_ms_median']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
