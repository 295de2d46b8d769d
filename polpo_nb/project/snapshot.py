"""Reads that span several tables and must agree with each other (the state snapshot, the team, the
running attempts). Each is a function of one `Tx`, called inside one `Store.read()`: one read
transaction, so another process committing meanwhile is seen entirely or not at all."""

from __future__ import annotations

from ..errors import NotFoundError
from ..events.model import format_event_id
from ..spec import Team
from ..spec.state import Process, ProjectInfo, ProjectState
from ..store.sqlite import Tx


def read_team(tx: Tx) -> Team:
    return Team(name=tx.get_kv("team.name", "default"), agents=[row.agent for row in tx.agents()])


def read_processes(tx: Tx) -> list[Process]:
    """The attempts running now, in any process, with their tasks (an attempt whose task was deleted is left out)."""
    out = []
    for attempt in tx.running_attempts():
        try:
            task = tx.task(attempt.task_id)
        except NotFoundError:
            continue
        out.append(Process(task_id=task.id, mission_id=task.mission_id, title=task.title, agent_name=attempt.agent,
                           status=task.status.value, phase=task.phase.value if task.phase else None,
                           owner=attempt.owner))
    return out


def read_state(tx: Tx, project: ProjectInfo) -> ProjectState:
    """Everything a client needs to draw the project, as of one moment."""
    team = read_team(tx)
    last = tx.last_event_id()
    return ProjectState(
        project=project, tasks=tx.tasks(), missions=tx.missions(with_tasks=False), agents=team.agents,
        team=team.to_wire(exclude={"agents"}), processes=read_processes(tx),
        last_event_id=format_event_id(last) if last else None,
    )
