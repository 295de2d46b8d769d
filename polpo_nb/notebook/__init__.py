"""The notebook face: the live mission widget (anywidget) and its static HTML, `%polpo` magics,
pandas views.

Nothing here is imported by `import polpo_nb`: a `RunHandle` or `Mission` imports what it needs when a
notebook displays it, `project.tasks_df()` imports pandas when called, `%load_ext polpo_nb` the magics.

    from polpo_nb.notebook import MissionWidget, watch
    watch(project, "release-notes")        # the live DAG of a saved mission
"""

from __future__ import annotations

from typing import Any

__all__ = ["MissionView", "MissionWidget", "mission_mimebundle", "render_html", "watch"]


def mission_mimebundle(mission: Any, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """A mission's DAG as static HTML in a notebook (what `polpo_nb` plugs into `Mission`'s display);
    the display module is imported on the first mission shown, not with polpo_nb."""
    from .display import mission_mimebundle as render

    return render(mission, include, exclude)


def __getattr__(name: str) -> Any:
    if name == "MissionWidget":
        from .widget import MissionWidget

        return MissionWidget
    if name == "watch":
        from .display import watch

        return watch
    if name == "MissionView":
        from .view import MissionView

        return MissionView
    if name == "render_html":
        from .static import render_html

        return render_html
    raise AttributeError(name)
