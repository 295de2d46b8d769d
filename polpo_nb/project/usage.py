"""What a project and its missions spent, read from the store's spend rows (usage/rollup.py): functions of
one read transaction, run on the project's reader (`store/reader.py`; a project's usage by task reads
every task)."""

from __future__ import annotations

from ..engine.budget import Spent, budget_limits
from ..errors import SpecError
from ..spec import MissionRecord
from ..store.sqlite import Tx
from ..usage.rollup import GROUPINGS, MissionUsage, UsageLine, rollup, totals


def mission_usage(tx: Tx, ref: str) -> MissionUsage:
    """A mission's spend (all its executions), by task, agent and model; its budget against the spend
    of its current execution."""
    mission = tx.mission(ref)
    rows = tx.spend(mission.id)
    titles = {t.id: t.title for t in mission.tasks}
    current = [r for r in rows if r.execution == mission.execution_count]
    used = []
    if mission.budget is not None:
        now = totals(current)
        spent = Spent(now.total_tokens, now.cost_usd or 0.0, sum(r.duration_ms for r in current if r.kind == "attempt")
                      / 1000, now.unpriced_requests)
        used = [lim.to_wire() for lim in budget_limits(mission.budget, spent)]
    return MissionUsage(mission_id=mission.id, name=mission.name, total=totals(rows),
                        by_task=rollup(rows, "task", titles), by_agent=rollup(rows, "agent"),
                        by_model=rollup(rows, "model"), budget=mission.budget, budget_used=used)


def usage_lines(tx: Tx, by: str, mission: str | None = None) -> list[UsageLine]:
    """The project's spend (or one mission's) grouped `by` task, agent, model, mission or kind."""
    if by not in GROUPINGS:
        raise SpecError([{"loc": ["by"], "msg": f"usage is grouped by {', '.join(GROUPINGS)}, not {by!r}"}])
    record: MissionRecord | None = tx.mission(mission) if mission is not None else None
    rows = tx.spend(record.id if record else None)
    labels: dict[str, str] = {}
    if by == "mission":
        labels = {m.id: m.name for m in tx.missions(with_tasks=False)}
    elif by == "task":
        tasks = record.tasks if record is not None else tx.tasks()
        labels = {t.id: t.title for t in tasks}
    return rollup(rows, by, labels)
