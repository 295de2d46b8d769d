"""The team of the example mission: three Python functions play a small editorial team.

No model and no API key: `mission.yaml` names these functions with `handler: "team:NAME"` (the project
directory comes first on the import path). An agent receives its task and a context: `ctx.upstream`
holds the results of the tasks it depends on, `ctx.feedback` the assessment's feedback when its last
attempt was sent back, `ctx.output()` says what it is doing (shown live by `polpo run`).
"""

from typing import Any

from polpo_nb import TaskRecord
from polpo_nb.agents import AgentContext

CHANGES = {"changes": ["faster startup", "dark mode"], "fixes": ["crash on empty input"]}


def researcher(task: TaskRecord, ctx: AgentContext) -> dict[str, Any]:
    """Lists what changed (or what was fixed) since the last release."""
    items = CHANGES["fixes" if "fixes" in task.title else "changes"]
    ctx.output(f"found {len(items)} items")
    return {"content": ", ".join(items), "data": items}


def writer(task: TaskRecord, ctx: AgentContext) -> dict[str, Any]:
    """Writes release-notes.md from the lists; its first draft forgets an item, the review sends it back."""
    items = [item for result in ctx.upstream.values() for item in result.data]
    if ctx.feedback is None:
        items = items[:1]  # a sloppy first draft: the check in mission.yaml fails it
    text = "# Release 1.2\n\n" + "\n".join(f"- {item}" for item in items) + "\n"
    (ctx.project_dir / "release-notes.md").write_text(text)
    ctx.output(f"wrote {len(items)} items" + (" (after feedback)" if ctx.feedback else ""))
    return {"content": text, "filesCreated": ["release-notes.md"]}


def publisher(task: TaskRecord, ctx: AgentContext) -> str:
    """Publishes the notes (here: says how long they are)."""
    notes = ctx.upstream["Draft notes"].content
    return f"published {len(notes)} characters"
