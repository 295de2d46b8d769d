"""The static picture of a mission: HTML + inline SVG for where widgets do not render (GitHub,
nbviewer, a notebook opened without its kernel).

It draws the same `MissionView` as the widget, at the same coordinates, with presentation attributes
instead of a stylesheet (sanitisers drop `<style>`) and no script. Every user string goes through
`html.escape`.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .layout import NODE_H, NODE_W, edge_path
from .view import MissionView

#: (stroke, fill) per task status; widget.css uses the same colours.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "draft": ("#8c959f", "#f6f8fa"),
    "pending": ("#8c959f", "#f6f8fa"),
    "assigned": ("#54aeff", "#ddf4ff"),
    "in_progress": ("#0969da", "#ddf4ff"),
    "review": ("#8250df", "#fbefff"),
    "awaiting_approval": ("#bf8700", "#fff8c5"),
    "done": ("#1a7f37", "#dafbe1"),
    "failed": ("#cf222e", "#ffebe9"),
}
MISSION_COLOURS: dict[str, str] = {
    "draft": "#8c959f", "scheduled": "#8c959f", "active": "#0969da", "paused": "#bf8700",
    "completed": "#1a7f37", "failed": "#cf222e", "cancelled": "#6e7781",
}
TITLE_CHARS = 22


def short(text: str, limit: int = TITLE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def duration(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def render_html(view: MissionView, now_ms: float | None = None) -> str:
    graph, state = view.graph(), view.state(now_ms)
    return render_state_html(graph, state)


def render_state_html(graph: dict[str, Any], state: dict[str, Any]) -> str:
    mission, progress, tasks = state["mission"], state["progress"], state["tasks"]
    total = progress["total"] or 1
    pct_done = 100 * progress["done"] / total
    pct_failed = 100 * progress["failed"] / total
    colour = MISSION_COLOURS.get(mission["status"], "#8c959f")
    summary = f"{progress['done']}/{progress['total']} done"
    for key, label in (("running", "running"), ("awaiting", "awaiting approval"), ("failed", "failed")):
        if progress[key]:
            summary += f" · {progress[key]} {label}"
    if progress.get("elapsed") is not None:
        summary += f" · {duration(progress['elapsed'] * 1000)}"
    parts = [
        '<div class="polpo-static" style="font-family:system-ui,-apple-system,Segoe UI,sans-serif;font-size:13px;'
        'color:#1f2328;max-width:100%">',
        '<div style="display:flex;gap:8px;align-items:center;margin:4px 0">',
        f'<strong>{escape(mission["name"])}</strong>',
        f'<span style="border:1px solid {colour};color:{colour};border-radius:10px;padding:0 8px;font-size:12px">'
        f'{escape(mission["status"])}</span>',
        f'<span style="color:#57606a">{escape(summary)}</span></div>',
    ]
    if mission.get("pause_message") or mission.get("error"):
        parts.append(f'<div style="color:#9a6700;margin:2px 0">{escape(mission.get("pause_message") or mission.get("error"))}</div>')
    parts.append(
        '<div style="height:6px;background:#eaeef2;border-radius:3px;overflow:hidden;display:flex;margin:4px 0 6px">'
        f'<div style="width:{pct_done:.1f}%;background:#1a7f37"></div>'
        f'<div style="width:{pct_failed:.1f}%;background:#cf222e"></div></div>'
    )
    width, height = graph["width"], graph["height"]
    parts.append('<div style="overflow:auto;max-height:520px;border:1px solid #d0d7de;border-radius:6px;background:#fff">')
    parts.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
                 'font-family="system-ui,-apple-system,Segoe UI,sans-serif">')
    nodes = graph["nodes"]
    for a, b in graph["edges"]:
        src, dst = nodes[a], nodes[b]
        parts.append(f'<path d="{edge_path((src["x"], src["y"]), (dst["x"], dst["y"]))}" fill="none" stroke="#afb8c1" '
                     'stroke-width="1.5"/>')
    for node in nodes:
        parts.append(_node_svg(node, tasks.get(node["id"], {"status": "draft"})))
    parts.append("</svg></div>")
    parts.append(_task_table(nodes, tasks))
    if state.get("events"):
        parts.append('<details><summary style="cursor:pointer;color:#57606a">Last events</summary>'
                     '<div style="font-family:ui-monospace,monospace;font-size:12px">')
        for e in state["events"]:
            parts.append(f'<div>{escape(e["time"])} <span style="color:#57606a">{escape(e["event"])}</span> '
                         f'{escape(e["text"])}</div>')
        parts.append("</div></details>")
    parts.append("</div>")
    return "".join(parts)


def _node_svg(node: dict[str, Any], task: dict[str, Any]) -> str:
    x, y = node["x"], node["y"]
    status = task["status"]
    stroke, fill = STATUS_COLOURS.get(status, STATUS_COLOURS["draft"])
    label = status.replace("_", " ") + (f" · {task['phase']}" if task.get("phase") and status == "in_progress" else "")
    if task.get("ms") is not None:
        label += f" · {duration(task['ms'])}"
    out = [
        f'<g data-task-id="{escape(node["id"])}" data-status="{escape(status)}">',
        f'<title>{escape(node["title"])} ({escape(node["agent"])})</title>',
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="2"/>',
        f'<text x="{x + 10}" y="{y + 19}" font-size="12" font-weight="600" fill="#1f2328">{escape(short(node["title"]))}</text>',
        f'<text x="{x + 10}" y="{y + 37}" font-size="11" fill="{stroke}">{escape(label)}</text>',
    ]
    right = x + NODE_W - 6
    if task.get("retries"):
        text = f"↻{task['retries']}"
        right -= 26
        out.append(f'<rect x="{right}" y="{y + 27}" width="24" height="14" rx="7" fill="#fff8c5" stroke="#bf8700"/>'
                   f'<text x="{right + 12}" y="{y + 38}" font-size="10" text-anchor="middle" fill="#7d4e00">{text}</text>')
    if task.get("score") is not None:
        ok = task.get("passed", True)
        right -= 32
        out.append(f'<rect x="{right}" y="{y + 27}" width="30" height="14" rx="7" fill="{"#1a7f37" if ok else "#cf222e"}"/>'
                   f'<text x="{right + 15}" y="{y + 38}" font-size="10" text-anchor="middle" fill="#fff">{task["score"]:.1f}</text>')
    out.append("</g>")
    return "".join(out)


def _task_table(nodes: list[dict[str, Any]], tasks: dict[str, dict[str, Any]]) -> str:
    rows = []
    for node in nodes:
        t = tasks.get(node["id"], {"status": "draft"})
        score = f"{t['score']:.2f}" if t.get("score") is not None else ""
        rows.append(f"<tr><td>{escape(node['title'])}</td><td>{escape(node['agent'])}</td><td>{escape(t['status'])}</td>"
                    f"<td>{score}</td><td>{t.get('retries', 0)}</td><td>{duration(t.get('ms'))}</td></tr>")
    return ('<details><summary style="cursor:pointer;color:#57606a">Tasks</summary>'
            '<table style="border-collapse:collapse;font-size:12px"><thead><tr><th align="left">task</th>'
            '<th align="left">agent</th><th align="left">status</th><th>score</th><th>retries</th><th>duration</th>'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table></details>')
