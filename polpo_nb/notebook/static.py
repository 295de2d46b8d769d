"""The static picture of a mission, for where widgets do not run: a notebook opened untrusted or without
its kernel, GitHub, nbviewer, nbconvert's HTML.

Those places sanitize HTML, and not alike. JupyterLab keeps `class` and most inline styles but drops
`<svg>` (its text would run together) and `data-*`; nbconvert's `clean_html` keeps only a few tags
(`div span b code ul ol li abbr` ...) and no `style`, and *escapes* any other tag as visible text (a
`<table>`, through its implicit `<tbody>`, turns into "&lt;tbody&gt;"). So the picture uses only tags
every sanitizer keeps, and reads without its styles:

- an ordered list of the DAG's layers (`ol`, one `li` per dependency depth, as the widget's columns),
  each an unordered list of its tasks: with styles, columns of coloured boxes; without, a numbered
  outline with one bullet per task;
- every fact in words and a glyph (`✓ done`, `✗ failed`, `⊘ aborted`, `score 4.0 ✓`), colour only on
  top; a legend with the count of each status, and "as of HH:MM:SS" on a mission that is not over (the
  picture is a snapshot: a cell displayed while tasks ran shows them running, and says when).

No script, no `<style>`. Every user string goes through `html.escape`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from html import escape
from typing import Any

from .view import MissionView

#: (stroke, fill) per task status, and per reason a failed task did not finish; widget.css uses the same.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "draft": ("#6e7781", "#f6f8fa"),
    "pending": ("#6e7781", "#f6f8fa"),
    "assigned": ("#0969da", "#ddf4ff"),
    "in_progress": ("#0969da", "#ddf4ff"),
    "review": ("#8250df", "#fbefff"),
    "awaiting_approval": ("#9a6700", "#fff8c5"),
    "done": ("#1a7f37", "#dafbe1"),
    "failed": ("#cf222e", "#ffebe9"),
    "skipped": ("#6e7781", "#f6f8fa"),
    "aborted": ("#6e7781", "#eaeef2"),
}
#: The word and glyph of each status (what reads when colours are stripped).
STATUS_WORDS: dict[str, tuple[str, str]] = {
    "draft": ("○", "draft"),
    "pending": ("○", "pending"),
    "assigned": ("▶", "assigned"),
    "in_progress": ("▶", "running"),
    "review": ("◐", "in review"),
    "awaiting_approval": ("⚑", "awaiting approval"),
    "done": ("✓", "done"),
    "failed": ("✗", "failed"),
    "skipped": ("↷", "skipped"),
    "aborted": ("⊘", "aborted"),
}
LEGEND_ORDER = ("done", "in_progress", "assigned", "review", "awaiting_approval", "pending", "draft",
                "failed", "skipped", "aborted")
MISSION_COLOURS: dict[str, str] = {
    "draft": "#6e7781", "scheduled": "#6e7781", "active": "#0969da", "paused": "#9a6700",
    "completed": "#1a7f37", "failed": "#cf222e", "cancelled": "#6e7781",
}
TERMINAL = frozenset({"completed", "failed", "cancelled"})
NODE_WIDTH = 184  # px, as the widget's boxes (layout.NODE_W)
DEPS_SHOWN = 3
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


def shown_status(task: dict[str, Any]) -> str:
    """The status a reader is shown: a failed task that was skipped or aborted says so."""
    return str(task.get("reason") or task["status"])


def render_html(view: MissionView, now_ms: float | None = None) -> str:
    return render_state_html(view.graph(), view.state(now_ms))


def render_state_html(graph: dict[str, Any], state: dict[str, Any], *, as_of: float | None = None) -> str:
    """The picture of one synced (graph, state) pair; `as_of` (epoch seconds, default now) dates a
    mission that is not over."""
    mission, progress, tasks = state["mission"], state["progress"], state["tasks"]
    status = mission["status"]
    colour = MISSION_COLOURS.get(status, "#6e7781")
    parts = [
        '<div class="polpo-static" style="font-family:system-ui,-apple-system,sans-serif;font-size:13px;'
        'color:#1f2328;background:#ffffff;max-width:100%;padding:4px 0">',
        '<div class="polpo-static-header" style="display:flex;flex-wrap:wrap;gap:8px;align-items:baseline;margin:2px 0">',
        f'<b class="polpo-static-name">{escape(mission["name"])}</b> ',
        f'<span class="polpo-static-status" style="border:1px solid {colour};color:{colour};border-radius:10px;'
        f'padding:0 8px;font-size:12px">mission {escape(status)}</span> ',
        f'<span class="polpo-static-summary" style="color:#57606a">{escape(_summary(progress, status, as_of))}</span>',
        *([f'<span class="polpo-static-spend" style="color:#57606a">· {escape(spend_text(state["spend"]))}</span>']
          if state.get("spend") else []),
        "</div>",
    ]
    message = mission.get("pause_message") or mission.get("error")
    if message:
        parts.append(f'<div class="polpo-static-message" style="color:#9a6700;margin:2px 0">{escape(message)}</div>')
    parts.append(_progress_bar(progress))
    parts.append(_layers(graph, tasks))
    parts.append(_legend(tasks.values()))
    if state.get("notice"):
        parts.append(f'<div style="color:#cf222e">{escape(state["notice"])}</div>')
    parts.append("</div>")
    return "".join(parts)


def _summary(progress: dict[str, Any], status: str, as_of: float | None) -> str:
    text = f"{progress['done']}/{progress['total']} tasks done"
    if progress.get("elapsed") is not None:
        text += f" in {duration(progress['elapsed'] * 1000)}"
    if status not in TERMINAL and status != "draft":
        text += f" · as of {time.strftime('%H:%M:%S', time.localtime(as_of))}"
    return text


def spend_text(spend: dict[str, Any]) -> str:
    """`12,345 tokens · $0.0123 · 2 unpriced calls`: a mission's or a task's spend (view.py `spend_state`,
    `task_state`); calls nobody could price are said, never shown as $0."""
    parts = [f"{spend['tokens']:,} tokens"]
    if spend.get("usd") is not None:
        parts.append(f"${spend['usd']:.4f}")
    if spend.get("unpriced"):
        parts.append(f"{spend['unpriced']} unpriced call{'s' if spend['unpriced'] != 1 else ''}")
    return " · ".join(parts)


def _progress_bar(progress: dict[str, Any]) -> str:
    total = progress["total"] or 1
    return ('<div class="polpo-static-progress" style="display:flex;height:6px;background:#eaeef2;border-radius:3px;'
            f'overflow:hidden;margin:4px 0 6px"><span style="display:block;width:{100 * progress["done"] / total:.1f}%;'
            f'background:#1a7f37"></span><span style="display:block;width:{100 * progress["failed"] / total:.1f}%;'
            'background:#cf222e"></span></div>')


def _layers(graph: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> str:
    """The DAG as the widget draws it: one column per layer (the nodes' x), top to bottom by y."""
    nodes = graph["nodes"]
    deps: dict[int, list[int]] = {}
    for a, b in graph["edges"]:
        deps.setdefault(b, []).append(a)
    columns: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        columns.setdefault(node["x"], []).append(i)
    out = ['<ol class="polpo-static-dag" style="display:flex;gap:24px;align-items:flex-start;list-style:none;'
           'margin:0;padding:8px;overflow:auto;max-height:560px;border:1px solid #d0d7de;border-radius:6px;'
           'background:#ffffff">']
    for depth, x in enumerate(sorted(columns)):
        out.append(f'<li class="polpo-static-layer" style="list-style:none;margin:0;padding:0;flex:none">'
                   f'<span style="color:#57606a;font-size:11px">step {depth + 1}</span>'
                   '<ul style="list-style:none;margin:0;padding:0">')
        for i in sorted(columns[x], key=lambda i: nodes[i]["y"]):
            titles = [nodes[d]["title"] for d in deps.get(i, [])]
            out.append(_node(nodes[i], tasks.get(nodes[i]["id"], {"status": "draft"}), titles))
        out.append("</ul></li>")
    out.append("</ol>")
    return "".join(out)


def _node(node: dict[str, Any], task: dict[str, Any], after: list[str]) -> str:
    shown = shown_status(task)
    stroke, fill = STATUS_COLOURS.get(shown, STATUS_COLOURS["draft"])
    glyph, word = STATUS_WORDS.get(shown, ("○", shown.replace("_", " ")))
    line = f"{glyph} {word}"
    if task.get("phase") and task["status"] == "in_progress":
        line += f" ({task['phase']})"
    if task.get("ms") is not None:
        line += f" · {duration(task['ms'])}"
    facts = [node["agent"]]
    if node.get("notebook"):  # its body is a notebook: marked, with its label only when one was given
        facts = [f"📓 {node['notebook']}", *([node["agent"]] if node["agent"] != node["notebook"] else [])]
    if task.get("score") is not None:
        facts.append(f"score {task['score']:.1f} {'✓' if task.get('passed', True) else '✗'}")
    if task.get("attempts"):
        facts.append(f"{task['attempts']} attempts")
    if task.get("tokens") is not None:
        facts.append(spend_text(task))
    out = [
        f'<li class="polpo-static-node polpo-status-{escape(shown)}" style="list-style:none;box-sizing:border-box;'
        f'width:{NODE_WIDTH}px;margin:6px 0 0;padding:4px 8px;border:2px solid {stroke};border-radius:6px;'
        f'background:{fill};overflow-wrap:anywhere">',
        f'<div class="polpo-static-title" style="font-weight:600">{escape(node["title"])}</div>',
        f'<div class="polpo-static-state" style="color:{stroke};font-size:12px">{escape(line)}</div>',
        f'<div class="polpo-static-facts" style="color:#57606a;font-size:11px">{escape(" · ".join(facts))}</div>',
    ]
    executed = task.get("executed")
    if executed:  # a notebook task's latest executed copy, relative to the notebook showing the picture
        out.append(f'<div class="polpo-static-executed" style="font-size:11px"><a href="{escape(executed["href"])}" '
                   f'title="{escape(executed["path"])}">📓 executed notebook</a></div>')
    if after:
        shown_deps = ", ".join(short(t) for t in after[:DEPS_SHOWN])
        if len(after) > DEPS_SHOWN:
            shown_deps += f" +{len(after) - DEPS_SHOWN} more"
        out.append(f'<div class="polpo-static-after" style="color:#57606a;font-size:11px">after {escape(shown_deps)}</div>')
    out.append("</li>")
    return "".join(out)


def _legend(tasks: Iterable[dict[str, Any]]) -> str:
    """Each status present, with its glyph, colour and count: the key to the picture and its summary."""
    counts: dict[str, int] = {}
    for task in tasks:
        shown = shown_status(task)
        counts[shown] = counts.get(shown, 0) + 1
    items = []
    for status in sorted(counts, key=lambda s: LEGEND_ORDER.index(s) if s in LEGEND_ORDER else len(LEGEND_ORDER)):
        stroke, fill = STATUS_COLOURS.get(status, STATUS_COLOURS["draft"])
        glyph, word = STATUS_WORDS.get(status, ("○", status.replace("_", " ")))
        items.append(f'<li class="polpo-static-key polpo-status-{escape(status)}" style="list-style:none;display:inline-block;'
                     f'margin:0 10px 0 0;padding:0 6px;border:1px solid {stroke};border-radius:4px;background:{fill};'
                     f'color:{stroke}">{escape(f"{glyph} {counts[status]} {word}")}</li>')
    return ('<ul class="polpo-static-legend" style="list-style:none;margin:6px 0 0;padding:0;font-size:12px">'
            + "".join(items) + "</ul>")
