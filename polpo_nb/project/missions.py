"""Editing definitions: missions and their tasks saved, changed and deleted, with every check first.

Each edit validates everything (the models, the agents through the registry, the mission's graph)
before one journal write; nothing is half-written. A mission that is running keeps running: a task
added is scheduled at once, a changed one is seen by its run, and a renamed task's dependents follow.
`AsyncProject`'s `save_mission`, `update_task`, ... are this module's methods on the project's loop.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic.alias_generators import to_camel, to_snake

from .. import dryrun
from ..engine.engine import Engine
from ..engine.schedules import first_run, iso
from ..errors import ConflictError, ForbiddenError, NotFoundError, SpecError
from ..events.catalog import MissionDeleted, MissionSaved, TaskCreated, TaskRemoved, TaskUpdated
from ..spec import (
    Mission,
    MissionRecord,
    MissionStatus,
    Task,
    TaskRecord,
    TaskStatus,
    parse,
    share_given_fields,
    utcnow,
    validated_copy,
)
from ..spec.mission import mission_problems
from ..spec.status import LIVE_MISSION_STATES, RUNNING_TASK_STATES
from ..spec.task import TASK_SPEC_FIELDS
from ..spec.validation import stored_but
from ..store.journal import Emit, Journal
from ..store.sqlite import Store, Tx
from .agents import AgentRegistry

MISSION_PATCH_FIELDS = frozenset(Mission.model_fields) - {"tasks"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


_ID_SPACE = 1 << 48  # the 12 hex digits of an id


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` ids of `new_id`'s form, consecutive from one random start: a mission's tasks then sit
    together in every index keyed by task id (its attempts, its steps, the ids), so a layer's writes
    dirty a few pages of each, not one per task, however large the project (at 100,000 tasks, 9 % less
    time per task than random ids, alternated). Two missions' ranges meet with a chance of about their
    summed sizes in 2**48: for missions of more than two tasks, less than one draw per task would."""
    start = secrets.randbelow(_ID_SPACE)
    return [f"{prefix}_{(start + i) % _ID_SPACE:012x}" for i in range(count)]


@dataclass(frozen=True)
class NewMission:
    """A mission checked but not written: `record` is what it will store, without its tasks (they are
    built by the write that stores them, numbered from the store's next `seq` then, so tasks created
    meanwhile, by this process or another, come first), `specs` its tasks as defined, `ids` theirs."""

    record: MissionRecord
    #: parsed for this mission alone: their records take their lists (`adopting`), then their places
    specs: list[Task]
    ids: list[str]

    def write(self, tx: Tx, emit: Emit) -> MissionRecord:
        """The journal write that saves it (status draft, or scheduled): the mission, its tasks, one
        `task:created` per task and `mission:saved`. Returns what was stored (a test holds it equal to a
        read), so nothing reads every task back."""
        return self.record.evolve(tasks=self.write_tasks(tx, emit, TaskStatus.DRAFT))

    def write_tasks(self, tx: Tx, emit: Emit, status: TaskStatus) -> list[TaskRecord]:
        """Save it, its tasks made directly in `status` (a mission run at once: the engine starts them
        as pending in the same transaction, so their drafts, never stored, are not built), with the
        events of a save; the tasks' records, as stored."""
        record, seq, now = self.record, tx.next_seq(), self.record.created_at
        # a draft as made when the mission was checked; a task made in another status as if moved there now
        made: dict[str, Any] = {"updated_at": now} if status == TaskStatus.DRAFT else {"status": status,
                                                                                      "updated_at": tx.now}
        tasks = [TaskRecord.adopting(spec, id=task_id, mission_id=record.id, group=record.name, seq=seq + i,
                                     created_at=now, **made)
                 for i, (spec, task_id) in enumerate(zip(self.specs, self.ids, strict=True))]
        # The parsed tasks are done with: their records stand in for them (a record is its task, plus its
        # own fields, which a write run again overrides), so each task's parsed copy is freed now rather
        # than after the save (~0.7 KB a task at the save's peak, the size of the record's own dict).
        self.specs[:] = tasks
        tx.put_mission(record)
        for task in tasks:
            _put_new_task(tx, emit, task)
        emit(MissionSaved(mission_id=record.id, name=record.name, task_count=len(tasks)))
        return tasks


class MissionEditor:
    """The definitions of one project's missions and tasks."""

    def __init__(self, store: Store, journal: Journal, engine: Engine, agents: AgentRegistry) -> None:
        self.store = store
        self.journal = journal
        self.engine = engine
        self.agents = agents

    # == tasks =========================================================================================

    async def create_task(self, task: Task | dict[str, Any]) -> TaskRecord:
        spec = validated_copy(Task, task)
        self.agents.check_task(spec, None)
        return await self.journal.write(lambda tx, emit: _insert_task(tx, emit, spec, None))

    async def update_task(self, task_id: str, patch: dict[str, Any]) -> TaskRecord:
        keys = {to_snake(k) for k in patch}
        unknown = keys - TASK_SPEC_FIELDS
        if unknown:
            raise SpecError([{"loc": [k], "msg": "not a field a PATCH may change"} for k in sorted(unknown)])
        with self.store.read() as tx:
            current = tx.task(task_id)
            mission = tx.mission(current.mission_id) if current.mission_id else None
        if current.status in RUNNING_TASK_STATES:
            raise ConflictError(f"Task {task_id} is {current.status.value}; kill it or wait before changing it")
        if mission is not None:
            self.engine.refuse_foreign(mission)
        spec = parse(Task, {**current.spec.model_dump(by_alias=True), **patch})
        if keys & _ASSIGNMENT_FIELDS:  # who plays it changes: checked (not an edit of anything else)
            self.agents.check_task(spec, mission.team if mission else None)
        if mission is not None:
            _check_mission_tasks(mission, [spec if t.id == task_id else t for t in mission.tasks])

        def write(tx: Tx, emit: Emit) -> TaskRecord:
            updated = current.model_copy(update={**dict(spec), "updated_at": utcnow()})
            if mission is not None and spec.title != current.title:
                _rename_references(tx, mission, current.title, spec.title)
            tx.put_task(updated)
            emit(TaskUpdated(task_id=task_id, mission_id=current.mission_id, fields=sorted(to_camel(k) for k in patch)))
            return updated
        updated = await self.journal.write(write)
        self.engine.update_running_task(updated)
        return updated

    async def delete_task(self, task_id: str) -> None:
        with self.store.read() as tx:
            task = tx.task(task_id)
            mission = tx.mission(task.mission_id) if task.mission_id else None
        if task.status in RUNNING_TASK_STATES:
            raise ConflictError(f"Task {task_id} is {task.status.value}; kill it before deleting it")
        if mission is not None:
            self.engine.refuse_foreign(mission)
            _check_mission_tasks(mission, [t for t in mission.tasks if t.id != task_id])
        self.engine.remove_task_from_run(task_id)

        def write(tx: Tx, emit: Emit) -> None:
            tx.delete_task(task_id)
            emit(TaskRemoved(task_id=task_id, mission_id=task.mission_id, title=task.title))
        await self.journal.write(write)

    # == missions ======================================================================================

    async def save_mission(self, mission: Mission | dict[str, Any], *, replace: bool = False) -> MissionRecord:
        """Save a new mission; with `replace`, one of that name that does not run gets this definition
        instead (its id kept, its tasks matched by title): a mission file saved again, a notebook cell
        run again. One that runs is refused: its task list cannot change under its run."""
        spec = validated_copy(Mission, mission)
        existing = self.named(spec.name) if replace else None
        if existing is None:
            new = self.new_mission(spec)
            return await self.journal.write(new.write)
        if existing.status in LIVE_MISSION_STATES:
            raise ConflictError(f"Mission {spec.name!r} is {existing.status.value}: abort it (or let it finish) "
                                "first, then save it again")
        return await self.update_mission(existing.id, spec.to_wire())

    async def to_execute(self, mission: Mission | dict[str, Any]) -> tuple[str, MissionRecord | None, NewMission | None]:
        """What `execute` of a definition runs: (its id, the record when this call has it, so it is not
        read back; the mission to create, saved by the run's own first transaction). A mission of that
        name that is not running gets the new definition first, so re-running a notebook cell just
        works; a running one is left for the engine to refuse in the user's terms (already active)."""
        spec = validated_copy(Mission, mission)
        existing = self.named(spec.name)
        if existing is None:
            new = self.new_mission(spec)
            return new.record.id, None, new
        if existing.status in LIVE_MISSION_STATES:
            return existing.id, None, None
        saved = await self.update_mission(existing.id, spec.to_wire())
        return saved.id, saved, None

    def new_mission(self, spec: Mission) -> NewMission:
        """A mission ready to be saved, every check done (its agents; the graph was checked when `spec`
        was parsed): nothing is written yet. `execute` saves it in its run's first transaction. `spec` is
        parsed for this call alone: the records take its tasks' lists."""
        _refuse_dry_schedule(spec.schedule)
        self.agents.check(spec.tasks, spec.team)
        share_given_fields(spec.tasks)  # held until the save: thousands of sets, all alike
        now = utcnow()
        record = MissionRecord(**{**dict(spec), "tasks": []}, id=new_id("msn"), created_at=now, updated_at=now,
                               task_count=len(spec.tasks), **_schedule_fields(spec, MissionStatus.DRAFT))
        return NewMission(record, spec.tasks, new_ids("task", len(spec.tasks)))

    def named(self, name: str) -> MissionRecord | None:
        """The mission called `name` (without its tasks), or None: one lookup of the name's index, where
        reading every mission (and counting each one's tasks) grew with the project's history. A name
        that is also another mission's id finds that one first: then the missions are read."""
        with self.store.read() as tx:
            try:
                found = tx.mission(name, with_tasks=False)
            except NotFoundError:
                return None
            if found.name == name:
                return found
            return next((m for m in tx.missions(with_tasks=False) if m.name == name), None)

    async def update_mission(self, ref: str, patch: dict[str, Any]) -> MissionRecord:
        keys = {to_snake(k) for k in patch}
        unknown = keys - MISSION_PATCH_FIELDS - {"tasks"}
        if unknown:
            raise SpecError([{"loc": [k], "msg": "not a field a PATCH may change"} for k in sorted(unknown)])
        with self.store.read() as tx:
            current = tx.mission(ref)
            mark = tx.task_mark()  # where the task rows stood when `current`'s were read
        running = current.status in (MissionStatus.ACTIVE, MissionStatus.PAUSED)
        if running and "tasks" in keys:
            raise ConflictError(f"Mission {current.name!r} is {current.status.value}: its task list cannot be "
                                "replaced while it runs; add, change or remove tasks one at a time, or abort it first")
        base = current.spec_fields() if "tasks" in keys else current.spec.model_dump(by_alias=True, exclude_none=True)
        spec = parse(Mission, {**base, **patch}, context=stored_but(keys))  # what it does not change: as stored
        renamed = spec.name != current.name
        if running and renamed:  # its tasks carry its name (`group`), and its run's copies of them would be stored
            raise ConflictError(f"Mission {current.name!r} is {current.status.value}: it cannot be renamed while it "
                                "runs; rename it once it settles, or abort it first")
        if "schedule" in keys:
            _refuse_dry_schedule(spec.schedule)
        self.agents.check(spec.tasks, spec.team, kept=current.tasks, team_given="team" in keys)

        def write(tx: Tx, emit: Emit) -> MissionRecord:
            # No task row written since `current` was read (by anyone): its tasks are the stored ones, and
            # what this write makes of them is what it returns, with no read of every task back
            as_read = tx.task_mark() == mark
            tasks = _replace_tasks(tx, emit, current, spec.tasks) if "tasks" in keys else current.tasks
            update = {**dict(spec), "tasks": [], "updated_at": utcnow()}
            if "schedule" in keys or "end_date" in keys:
                update.update(_schedule_fields(spec, current.status))
            record = current.model_copy(update=update)
            tx.put_mission(record)
            if renamed:  # each task keeps its mission's name as `group`
                tasks = [task.evolve(group=spec.name) for task in (tasks if as_read else tx.tasks(mission_id=current.id))]
                for task in tasks:
                    tx.put_task(task)
            emit(MissionSaved(mission_id=current.id, name=spec.name, fields=sorted(to_camel(k) for k in patch)))
            return record.evolve(tasks=tasks, task_count=len(tasks)) if as_read else tx.mission(current.id)
        updated = await self.journal.write(write)
        self.engine.redefine_mission(updated)
        return updated

    async def delete_mission(self, ref: str) -> None:
        with self.store.read() as tx:
            mission = tx.mission(ref, with_tasks=False)
        if mission.status in (MissionStatus.ACTIVE, MissionStatus.PAUSED):
            raise ConflictError(f"Mission {mission.name!r} is {mission.status.value}; abort it before deleting it")

        def write(tx: Tx, emit: Emit) -> None:
            tx.delete_mission(mission.id)
            tx.delete_mission_agents(mission.id)
            emit(MissionDeleted(mission_id=mission.id, name=mission.name))
        await self.journal.write(write)

    async def add_mission_task(self, ref: str, task: Task | dict[str, Any]) -> TaskRecord:
        spec = validated_copy(Task, task)
        with self.store.read() as tx:
            mission = tx.mission(ref)
        self.engine.refuse_foreign(mission)
        self.agents.check_task(spec, mission.team)
        _check_mission_tasks(mission, [*mission.tasks, spec])
        record = await self.journal.write(lambda tx, emit: _insert_task(tx, emit, spec, mission))
        if mission.status == MissionStatus.ACTIVE or self.engine.is_running(mission.id):
            await self.engine.add_task_to_run(record)
            with self.store.read() as tx:
                record = tx.task(record.id)
        return record

    def named_or_id(self, ref: str) -> MissionRecord:
        with self.store.read() as tx:
            return tx.mission(ref, with_tasks=False)

    def task_titled(self, mission_id: str, title: str | None) -> TaskRecord:
        """The mission's task of that title (an addition made by the process that runs it)."""
        with self.store.read() as tx:
            mission = tx.mission(mission_id)
        found = next((t for t in mission.tasks if t.title == title), None)
        if found is None:
            raise NotFoundError(f"Mission {mission.name!r} has no task {title!r}")
        return found

    def mission_task(self, ref: str, task_id: str) -> TaskRecord:
        """The task, which must be one of the mission's (NotFoundError otherwise)."""
        with self.store.read() as tx:
            mission = tx.mission(ref, with_tasks=False)
            task = tx.task(task_id)
        if task.mission_id != mission.id:
            raise NotFoundError(f"Task {task_id} is not in mission {mission.name!r}")
        return task


def as_data(value: Any) -> Any:
    """A Task or Mission as the JSON it was made from; anything else as it is (parse checks it)."""
    if isinstance(value, Task | Mission):
        return value.model_dump(by_alias=True, exclude_none=True)
    return value


def _insert_task(tx: Tx, emit: Emit, spec: Task, mission: MissionRecord | None, seq: int | None = None) -> TaskRecord:
    """`seq`: the one it gets, when the caller numbers several new tasks from one `next_seq` (each look
    writes the rows buffered so far and queries: once per task, that was most of a re-save's time)."""
    seq = tx.next_seq() if seq is None else seq
    record = _task_record(spec, seq, mission.id if mission else None, mission.name if mission else None)
    _put_new_task(tx, emit, record)
    return record


def _replace_tasks(tx: Tx, emit: Emit, current: MissionRecord, tasks: list[Task]) -> list[TaskRecord]:
    """`tasks` becomes the mission's task list, matched by title: kept tasks keep their ids and history.
    Returns the mission's tasks as stored now, in a read's order (by seq: the kept ones, then the new)."""
    existing = {t.title: t for t in current.tasks}
    wanted = {t.title for t in tasks}
    gone = [task for title, task in existing.items() if title not in wanted]
    tx.delete_tasks([task.id for task in gone])
    for task in gone:
        emit(TaskRemoved(task_id=task.id, mission_id=current.id, title=task.title))
    seq = tx.next_seq()  # after the deletions: a deleted task's seq is never given again
    kept: dict[str, TaskRecord] = {title: task for title, task in existing.items() if title in wanted}
    new: list[TaskRecord] = []
    for spec in tasks:
        old = existing.get(spec.title)
        if old is None:
            new.append(_insert_task(tx, emit, spec, current, seq))
            seq += 1
        elif not old.has_spec(spec):
            kept[spec.title] = old.model_copy(update={**dict(spec), "updated_at": utcnow()})
            tx.put_task(kept[spec.title])
            emit(TaskUpdated(task_id=old.id, mission_id=current.id))
    return [*kept.values(), *new]


def _rename_references(tx: Tx, mission: MissionRecord, old: str, new: str) -> None:
    """Dependencies name tasks by title: a renamed task's dependents follow it."""
    for task in mission.tasks:
        if old in task.depends_on:
            tx.put_task(task.model_copy(update={"depends_on": [new if d == old else d for d in task.depends_on]}))


def _check_mission_tasks(mission: MissionRecord, tasks: list[Any]) -> None:
    """SpecError when the mission with `tasks` would not be a valid graph (cycles, unknown dependencies)."""
    candidate = Mission.model_construct(**{**dict(mission.spec), "tasks": tasks})
    problems = mission_problems(candidate)
    if problems:
        raise SpecError([{"loc": [int(p) if p.isdigit() else p for p in path.split(".")], "msg": msg}
                         for path, msg in problems])


#: A task's fields that say who plays it: an edit of one of them checks the agent again.
_ASSIGNMENT_FIELDS = frozenset({"assign_to", "notebook", "retry_policy"})


def _refuse_dry_schedule(schedule: str | None) -> None:
    """In a dry run (a test key's request), no schedule: what it starts runs later, in the engine, outside
    the request, so it could not be dry (as a test key cannot open /mcp)."""
    if schedule and dryrun.active():
        raise ForbiddenError("A test key cannot set a schedule: the runs a schedule starts happen outside the "
                             "request, so they could not be dry runs. Save the mission without one, or use a live key")


def _schedule_fields(spec: Mission, status: MissionStatus) -> dict[str, Any]:
    """`nextRunAt`, and `scheduled` for a mission that has not run yet. Called when a schedule is set (a
    new mission, a PATCH of `schedule` or `endDate`): one that ends before it first fires is refused
    (an edit of another field of a schedule that has run its course does not come here)."""
    next_run_at = first_run(spec, datetime.now(UTC))
    if spec.schedule and next_run_at is None and spec.end_date is not None:
        raise SpecError([{"loc": ["endDate"], "msg": f"endDate {iso(spec.end_date)} is before the first occurrence "
                          f"of {spec.schedule!r} from now: the schedule would never fire"}])
    fields: dict[str, Any] = {"next_run_at": next_run_at}
    if status in (MissionStatus.DRAFT, MissionStatus.SCHEDULED):
        fields["status"] = MissionStatus.SCHEDULED if next_run_at else MissionStatus.DRAFT
    return fields


def _task_record(spec: Task, seq: int, mission_id: str | None, group: str | None, now: str | None = None,
                 task_id: str | None = None) -> TaskRecord:
    """The record of a task about to be created: its spec as it was validated, and its ids."""
    now = now or utcnow()
    return TaskRecord.extending(spec, id=task_id or new_id("task"), mission_id=mission_id, group=group, seq=seq,
                                created_at=now, updated_at=now)


def _put_new_task(tx: Tx, emit: Emit, record: TaskRecord) -> None:
    tx.put_new_task(record)
    emit(TaskCreated(task_id=record.id, mission_id=record.mission_id, title=record.title, assign_to=record.assign_to))
