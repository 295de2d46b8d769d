"""How runs and missions display in a notebook.

`_repr_mimebundle_` offers both faces and the front-end picks: in a kernel, the live widget's view
(JupyterLab, Notebook 7, VS Code) plus the static HTML (what GitHub, nbviewer and a notebook opened
without its kernel show, since they ignore widget views) and plain text. Outside a kernel (a terminal
IPython, a script), no widget is created: HTML and text only.

The static picture is a snapshot, and a run is usually displayed while it starts. So a run displays
under a display id of its own (`display_run`, its `_ipython_display_`), and its outputs are replaced
with the current picture whenever the run settles (`refresh_run_display`): from the widget when the
mission pauses, waits for an approval or ends (in the displaying cell's context: JupyterLab updates the
output, so a saved notebook shows how the run ended), and from `wait()` / `await run` (in the waiting
cell's context: what nbclient and nbval, which ignore messages of cells that are over, take in).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import PolpoError
from ..spec import Mission, MissionRecord, TaskRecord
from .static import render_html, render_state_html
from .view import MissionView

if TYPE_CHECKING:
    from .widget import MissionWidget


class RunHandle(Protocol):
    """A run as the notebook shows it (`polpo_nb.RunHandle`): the notebook keeps its widget and the
    display id of its outputs on it, so a later display reuses them and a settled run replaces them."""

    project: Any
    mission_id: str | None
    task_id: str | None
    widget: Any
    display_id: str | None

    def record(self) -> MissionRecord | TaskRecord: ...

    def spent(self) -> Any: ...

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def in_kernel() -> bool:
    """True in a Jupyter kernel, where widget views can reach a front-end."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def watch(project: Any, mission: str | MissionRecord) -> MissionWidget:
    """The live widget of a saved mission (by name, id or record), whether or not it is running."""
    from .widget import MissionWidget

    return MissionWidget(project, mission)


def _bundle(html: str, text: str, include: Iterable[str] | None, exclude: Iterable[str] | None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {**(extra or {}), "text/html": html, "text/plain": text}
    if include is not None:
        data = {k: v for k, v in data.items() if k in set(include)}
    if exclude is not None:
        data = {k: v for k, v in data.items() if k not in set(exclude)}
    return data


def run_widget(handle: RunHandle) -> MissionWidget:
    """The handle's widget, created on first display and reused after (one model, many views)."""
    widget = handle.widget
    if widget is None:
        from .widget import MissionWidget

        if handle.mission_id:
            widget = MissionWidget(handle.project, handle.mission_id)
        else:
            widget = MissionWidget(handle.project, task=handle.task_id)
        handle.widget = widget
    return widget


def run_mimebundle(handle: RunHandle, include: Iterable[str] | None = None,
                   exclude: Iterable[str] | None = None) -> dict[str, Any] | tuple[dict[str, Any], dict[str, Any]]:
    text = repr(handle)
    if handle.project.closed:
        return {"text/plain": text}
    extra: dict[str, Any] | None = None
    metadata: dict[str, Any] = {}
    wants_widget = (include is None or WIDGET_MIME in include) and not (exclude and WIDGET_MIME in exclude)
    try:
        if wants_widget and in_kernel():
            widget = run_widget(handle)
            extra, metadata = widget._repr_mimebundle_() or ({}, {})  # (data, metadata), as anywidget returns them
            extra = {k: v for k, v in extra.items() if k == WIDGET_MIME}
            graph, state = widget.graph, widget.state  # the synced snapshot: replaced whole, never mutated
        else:
            record = handle.record()
            view = MissionView(record if isinstance(record, MissionRecord) else _as_task_run(record),
                               project_dir=handle.project.root)
            spent = handle.spent()
            if spent is not None:
                view.apply_usage(spent)
            graph, state = view.graph(), view.state(time.time() * 1000)
    except PolpoError as exc:
        return {"text/plain": f"{text}: {exc}"}
    data = _bundle(render_state_html(graph, state), f"{text} {state['mission']['status']}", include, exclude, extra)
    return (data, metadata) if metadata else data


def display_run(handle: RunHandle) -> None:
    """Display a run under the handle's display id (created on first display), so its outputs can be
    replaced when it settles; outside a kernel, an ordinary display."""
    from IPython.display import display

    data, metadata = _data_and_metadata(run_mimebundle(handle))
    if not in_kernel():
        display(data, metadata=metadata, raw=True)
        return
    if handle.display_id is None:
        handle.display_id = uuid.uuid4().hex
        widget = handle.widget
        if widget is not None:
            widget.on_settled = lambda graph, state: _update(handle, graph, state)
    display(data, metadata=metadata, raw=True, display_id=handle.display_id)


def refresh_run_display(handle: RunHandle) -> None:
    """Replace the run's outputs with its picture now (nothing if it was never displayed in a kernel)."""
    widget = handle.widget
    if handle.display_id is None or widget is None or handle.project.closed:
        return
    try:
        graph, state = widget.snapshot()
    except PolpoError:
        return
    _update(handle, graph, state)


def _update(handle: RunHandle, graph: dict[str, Any], state: dict[str, Any]) -> None:
    from IPython.display import update_display

    widget = handle.widget
    data, metadata = widget._repr_mimebundle_()  # (data, metadata), as anywidget returns them
    data = {WIDGET_MIME: data[WIDGET_MIME], "text/html": render_state_html(graph, state),
            "text/plain": f"{handle!r} {state['mission']['status']}"}
    update_display(data, metadata=metadata, raw=True, display_id=handle.display_id)


def _data_and_metadata(bundle: dict[str, Any] | tuple[dict[str, Any], dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    return bundle if isinstance(bundle, tuple) else (bundle, {})


def run_html(handle: RunHandle) -> str | None:
    """The static DAG of a run (never creates a widget); None once the project is closed."""
    data = run_mimebundle(handle, include=["text/html"])
    return data.get("text/html") if isinstance(data, dict) else data[0].get("text/html")


def mission_mimebundle(mission: Mission, include: Iterable[str] | None = None,
                       exclude: Iterable[str] | None = None) -> dict[str, Any]:
    """A mission definition or record: the static DAG (a record is a snapshot; `run` is the live view)."""
    view = MissionView(mission)
    status = getattr(mission, "status", None)
    text = f"<Mission {mission.name!r}: {len(mission.tasks)} tasks" + (f", {status.value}>" if status else ">")
    return _bundle(render_html(view), text, include, exclude)


def _as_task_run(task: Any) -> Any:
    from .widget import _TaskRun

    return _TaskRun(task)
