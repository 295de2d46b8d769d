"""The in-memory state of one execution: a mission run, or a standalone task run.

The store is the truth; a `Run` is the engine's working copy for scheduling (dependency counters,
parked tasks, the human-in-the-loop flags), rebuilt from the store when a run is resumed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .. import dryrun
from ..errors import StoreWriteError
from ..spec import MissionRecord, MissionStatus, Phase, TaskRecord, TaskStatus, share_keys
from ..spec.mission import DEFAULT_QUALITY_THRESHOLD
from ..store.journal import not_stored


@dataclass
class RunFlags:
    """What humans decided during the run; persisted in the `runs` row so a resume keeps it."""

    passed_checkpoints: list[str] = field(default_factory=list)
    passed_gates: list[int] = field(default_factory=list)
    overridden_gates: list[int] = field(default_factory=list)
    waiting_checkpoint: str | None = None
    blocked_gate: int | None = None
    delays_started: dict[str, float] = field(default_factory=dict)  # epoch seconds
    dry_run: bool = False  # started with a test key: every LLM call on the offline `test` model (dryrun.py)

    def to_json(self) -> dict[str, Any]:
        return {
            "passedCheckpoints": self.passed_checkpoints,
            "passedGates": self.passed_gates,
            "overriddenGates": self.overridden_gates,
            "waitingCheckpoint": self.waiting_checkpoint,
            "blockedGate": self.blocked_gate,
            "delaysStarted": self.delays_started,
            **({"dryRun": True} if self.dry_run else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunFlags:
        return cls(
            passed_checkpoints=list(data.get("passedCheckpoints", [])),
            passed_gates=list(data.get("passedGates", [])),
            overridden_gates=list(data.get("overriddenGates", [])),
            waiting_checkpoint=data.get("waitingCheckpoint"),
            blocked_gate=data.get("blockedGate"),
            delays_started=dict(data.get("delaysStarted", {})),
            dry_run=bool(data.get("dryRun", False)),
        )


class Run:
    def __init__(self, mission: MissionRecord | None, tasks: list[TaskRecord], *, threshold: float | None = None,
                 flags: RunFlags | None = None, context: MissionRecord | None = None) -> None:
        # the run's tasks live in `tasks` (the latest copy of each): the mission keeps only its own fields,
        # so the records it was read with are not held for the run's whole life (a copy of every task)
        self.mission = _own_fields(mission) if mission is not None else None
        self.context = context  # the mission a standalone run of one of its tasks borrows prompt and data from
        self.key = mission.id if mission else f"task:{tasks[0].id}"
        self.threshold = mission.quality_threshold if mission else (threshold or DEFAULT_QUALITY_THRESHOLD)
        self.flags = flags or RunFlags()
        self.flags.dry_run = self.flags.dry_run or dryrun.active()  # a test key's run, or a dry run resumed
        self.tasks: dict[str, TaskRecord] = {}
        self.by_title: dict[str, str] = {}
        self.unmet: dict[str, int] = {}
        #: a task -> those that depend on it, for the tasks some depend on: tuples of ids, which the collector
        #: stops tracking (it visits each of a run's lists at every full collection)
        self.dependents: dict[str, tuple[str, ...]] = {}
        self.parked: set[str] = set()
        self.deferred: list[str] = []
        self.queued: set[str] = set()
        self.jobs: dict[str, asyncio.Task[None]] = {}
        self.idle = asyncio.Event()
        self.stopping = False
        self.finished = asyncio.Event()
        self.deadline_watch: asyncio.Task[None] | None = None
        self.delay_timers: dict[str, asyncio.TimerHandle | asyncio.Future[None]] = {}
        self.agent_cache: dict[str, Any] = {}
        self.attempts: dict[str, int] = {}  # last attempt number per task, to number the next one
        self.attempts_loaded = False  # `attempts` holds every task of the run (read at its first attempt)
        self.budget_ledger: Any = None  # budget.MissionLedger, made when a budgeted mission first needs it
        #: the verdicts still committing of tasks whose dependents were started meanwhile (attempts.py)
        self.settling: dict[str, asyncio.Future[TaskRecord]] = {}
        #: the status the mission is being given by a write still committing (a pause, an end): from the
        #: moment it is decided, the run is no longer active, so nothing starts in the meantime
        self.leaving: MissionStatus | None = None
        #: tasks whose skip (a dependency failed) is being written: a second failure does not skip them again
        self.skipping: set[str] = set()
        #: (failures so far, next phase) of a task given back to pending when its mission paused between
        #: two of its attempts: its next run goes on with the same retry budget, escalation and phase
        self.handed_back: dict[str, tuple[int, Phase]] = {}
        #: let go because another process took it over (Dispatcher.abandon): its copies here are stale
        self.abandoned = False
        #: stopped because the store refused its writes (Dispatcher.halt): what its waiters are told
        self.halted: StoreWriteError | None = None
        self.load(tasks)

    @classmethod
    def taken_up(cls, mission: MissionRecord, tasks: list[TaskRecord], flags: RunFlags) -> Run:
        """A run of a mission as stored, which this engine is to hold (a resume, a re-run, a retry that
        reopens it): its records, read from the store, share one key table from now on (`share_keys`), as
        the records of a mission saved and run at once do, so a resumed run is as small as a new one."""
        share_keys(tasks)
        return cls(mission, tasks, flags=flags)

    @property
    def status(self) -> MissionStatus:
        return self.mission.status if self.mission else MissionStatus.ACTIVE

    @property
    def active(self) -> bool:
        return self.status == MissionStatus.ACTIVE and self.leaving is None

    def redefine(self, mission: MissionRecord) -> None:
        """The mission as stored now (edited while it runs, here or by another process): its budget,
        deadline, threshold and holds apply from now on. Its status stays the run's own."""
        assert self.mission is not None and mission.id == self.mission.id
        self.mission = _own_fields(mission).model_copy(update={"status": self.mission.status})
        self.threshold = mission.quality_threshold

    def load(self, tasks: list[TaskRecord]) -> None:
        """The run's tasks are these copies (a mission's run is made before its first write, to resolve
        its agents against; its tasks are the copies that write committed)."""
        self.tasks = {t.id: t for t in tasks}
        self.by_title = {t.title: t.id for t in tasks}
        self.unmet = {}
        self.rebuild_counters()

    def rebuild_counters(self) -> None:
        """Each task's unmet dependencies (those of the run not done) and each task's dependents: one
        pass over the edges (a 10,000-task run is started with it). A task never waits for itself: an
        earlier version stored such tasks (validation refuses them now), and counted, the edge kept the
        task pending and its run unfinished for ever."""
        tasks, by_title, unmet = self.tasks, self.by_title, self.unmet
        dependents: dict[str, list[str]] = {}
        done = TaskStatus.DONE
        for tid, task in tasks.items():
            count = 0
            for title in task.depends_on:
                parent = by_title.get(title)
                if parent is not None and parent != tid:
                    dependents.setdefault(parent, []).append(tid)
                    if tasks[parent].status != done:
                        count += 1
            unmet[tid] = count
        self.dependents = {parent: tuple(children) for parent, children in dependents.items()}

    def add_task(self, task: TaskRecord) -> None:
        self.tasks[task.id] = task
        self.by_title[task.title] = task.id
        self.rebuild_counters()

    def remove_task(self, task_id: str) -> None:
        task = self.tasks.pop(task_id)
        self.by_title.pop(task.title, None)
        self.dependents.pop(task_id, None)
        self.unmet.pop(task_id, None)
        self.parked.discard(task_id)
        self.rebuild_counters()

    def settle(self, task_id: str, verdict: asyncio.Future[TaskRecord]) -> None:
        """`task_id`'s verdict is committing while its dependents start: their begins follow it until it
        is stored, and for ever if it is not (none may begin after a result that was not stored)."""
        self.settling[task_id] = verdict

        def stored(future: asyncio.Future[TaskRecord]) -> None:
            if not not_stored(future):
                self.settling.pop(task_id, None)
        verdict.add_done_callback(stored)

    def settling_parents(self, task_id: str) -> list[asyncio.Future[TaskRecord]]:
        """The verdicts, still committing, of the tasks `task_id` depends on: its begin follows them."""
        if not self.settling:
            return []
        ids = (self.by_title.get(title) for title in self.tasks[task_id].depends_on)
        return [self.settling[i] for i in ids if i is not None and i in self.settling]

    def task_by_title(self, title: str) -> TaskRecord | None:
        tid = self.by_title.get(title)
        return self.tasks[tid] if tid else None

    async def wind_down(self) -> None:
        """Nothing new starts; the jobs in flight are cancelled and awaited (abort, deadline, interrupt)."""
        self.stopping = True
        self.queued.clear()
        jobs = list(self.jobs.values())
        settling = list(self.settling.values())  # verdicts committing: the copies must follow them first
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, *settling, return_exceptions=True)

    def final_record(self) -> MissionRecord | TaskRecord:
        """What the store holds for this run once it has finished: the engine's copies are the records it
        committed last (every change of a run's tasks goes through the engine), so a waiter in this
        process need not read and validate every task again."""
        tasks = sorted(self.tasks.values(), key=lambda t: t.seq)
        if self.mission is None:
            return tasks[0]
        return self.mission.model_copy(update={"tasks": tasks, "task_count": len(tasks)})

    def all_terminal(self) -> bool:
        return all(t.status in (TaskStatus.DONE, TaskStatus.FAILED) for t in self.tasks.values())


def _own_fields(mission: MissionRecord) -> MissionRecord:
    """Without its tasks: the run's tasks live in `Run.tasks` (the latest copy of each)."""
    return mission.model_copy(update={"tasks": []}) if mission.tasks else mission
