"""Runs and dispatch: starting a run, the ready queue, one job per task, and what follows a settled task.

Ready tasks wait in one heap for every run of the engine (higher `priority` first, then creation
order) and start while fewer than `maxConcurrency` jobs run. Scheduling uses per-task counters of unmet
dependencies, so a 2,000-task mission costs O(edges), not O(n²). A task held back by a gate or a delay
is parked until the hold lifts; one dispatched while its mission is paused is deferred until resume.
When a task settles, its dependents are released (or skipped, if it failed), the holds are checked and
the run ends once every task is terminal.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import operator
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from .. import dryrun
from ..agents.function import AgentUnavailableError
from ..errors import ConflictError, PolpoError, StoreWriteError
from ..events.catalog import CatalogEvent, MissionCompleted, MissionExecuted
from ..spec import MissionRecord, MissionStatus, Task, TaskRecord, TaskResult, TaskStatus, share_keys
from ..spec.status import LIVE_MISSION_STATES
from ..store.journal import Emit, WriteNotStored
from ..store.sqlite import Tx
from .attempts import Attempts
from .deps import EngineDeps
from .holds import has_holds, holds_allow
from .leases import Leases
from .pausing import Pauses
from .run import Run
from .states import ABORTED_PREFIX, SKIPPED_PREFIX, check_command
from .writes import RunTakenOver, Writes, end_running_attempts, put_made, put_task

log = logging.getLogger(__name__)

S = TaskStatus


class NewMission(Protocol):
    """A mission checked and not written yet, run at once (`polpo_nb.project.missions.NewMission`)."""

    @property
    def record(self) -> MissionRecord:
        """What it stores, without its tasks (`taskCount` says how many)."""

    @property
    def specs(self) -> Sequence[Task]:
        """Its tasks as defined: what the checks before anything is written look at."""

    def write(self, tx: Tx, emit: Emit) -> MissionRecord:
        """Save it as a draft (a run refused before its first write keeps it so)."""

    def write_tasks(self, tx: Tx, emit: Emit, status: TaskStatus) -> list[TaskRecord]:
        """Save it, its tasks made directly in `status`, with a save's events; their records."""


class Dispatcher:
    def __init__(self, deps: EngineDeps, runs: dict[str, Run], writes: Writes, attempts: Attempts,
                 leases: Leases) -> None:
        self.d = deps
        self.runs = runs
        self.writes = writes
        self.attempts = attempts
        self.leases = leases
        self.pauses = Pauses(deps.journal, writes, runs, release=self._release_parked, expire=self._deadline_passed,
                             halt=self.halt)
        self._ready: list[tuple[float, int, str, str]] = []
        self._running = 0
        #: runs stopped because the store refused their writes, by key: why, until resumed or ended
        self.halted: dict[str, StoreWriteError] = {}
        #: run key -> how many callers of this process wait on it (`awaiting`): its stop is raised to them
        self._awaited: Counter[str] = Counter()

    async def close(self) -> None:
        jobs = [j for run in self.runs.values() for j in run.jobs.values()]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    def run_of(self, task_id: str) -> Run | None:
        return next((r for r in self.runs.values() if task_id in r.tasks), None)

    # == starting runs =================================================================================

    async def execute_mission(self, mission_id: str, saved: MissionRecord | None = None,
                              create: NewMission | None = None, *,
                              announce: Callable[[int], CatalogEvent] | None = None) -> Run:
        """`saved`: the record the caller has just written, so the run does not read every task back;
        otherwise the mission is read. With `create` (a mission saved and run at once), saving it is the
        run's own first transaction: the mission is saved, its tasks made pending (built so, their
        drafts never stored) and the mission made active in one commit, with the events a save then an
        execute would publish. A run refused before anything is written (an agent that cannot play)
        still saves it: the mission is kept as a draft, as a save then an execute would."""
        if create is not None:
            mission, tasks = create.record, create.specs
        else:
            if saved is not None and saved.id == mission_id:
                mission = saved
            else:
                with self.d.store.read() as tx:
                    mission = tx.mission(mission_id)
            tasks = mission.tasks
        run = Run(mission, [])  # its tasks are the copies the first write commits
        try:
            self._refuse_if_running(mission)
            if not tasks:
                raise ConflictError(f"Mission {mission.name!r} has no tasks to execute")
            self._check_agents(run, tasks)  # fail fast, before anything is written
        except Exception:
            if create is not None:
                await self.d.journal.write(create.write)
            raise
        count = mission.execution_count + 1
        activate = self.writes.mission_change(
            run, MissionStatus.ACTIVE, execution_count=count, pause_reason=None, pause_message=None, error=None,
            extra=[*([announce(count)] if announce else []),  # what started it (a schedule), told with it
                   MissionExecuted(mission_id=mission.id, name=mission.name, execution_count=count,
                                   task_count=len(tasks), dry_run=run.flags.dry_run or None)],
        )

        def start(tx: Tx, emit: Emit) -> tuple[list[TaskRecord], MissionRecord]:
            if create is not None:
                started = [put_made(tx, emit, t, S.DRAFT, reason=_STARTED)
                           for t in create.write_tasks(tx, emit, S.PENDING)]
            else:
                started = [_restart(tx, emit, t) for t in mission.tasks]
                share_keys(started)  # copies of records read from the store: laid out as a new mission's
            if mission.team:
                for agent in mission.team.agents:
                    tx.put_agent(agent, mission.id if mission.team.volatile else None)
            return started, activate(tx, emit)
        started, run.mission = await self.d.journal.write(start)
        run.load(started)
        self.runs[run.key] = run
        self.pauses.watch_deadline(run)
        self.enqueue_ready(run, [tid for tid, unmet in run.unmet.items() if not unmet])  # the rest wait on theirs
        self.dispatch()
        self._check_settled(run)
        return run

    def unplayable(self, mission_id: str) -> str | None:
        """Why this engine could not start the mission (an agent it cannot play: a function registered in
        another process only), or None."""
        try:
            self.check_playable(mission_id, left_only=False)  # an execute runs every task again
        except PolpoError as exc:
            return exc.message
        return None

    def check_playable(self, mission_id: str, *, left_only: bool = True) -> None:
        """Raise, in the user's terms, when an agent of the mission's tasks (`left_only`: those not done,
        what a resume runs) cannot play here."""
        with self.d.store.read() as tx:
            mission = tx.mission(mission_id)
        tasks = [t for t in mission.tasks if t.status != S.DONE] if left_only else mission.tasks
        self._check_agents(Run(mission, []), tasks)

    def _check_agents(self, run: Run, tasks: Sequence[Task]) -> None:
        """Raise, in the user's terms, when an agent of these tasks cannot play: resolved once per agent
        (or notebook), not once per task. The resolutions are not kept: each task's first attempt
        resolves its agent on the config of that moment, as before."""
        seen: set[tuple[str, bool]] = set()
        fallbacks: dict[str, str] = {}  # agent -> the first task that falls back on it
        for task in tasks:
            key = (task.assign_to, task.notebook is not None)
            if key not in seen:
                seen.add(key)
                self.d.resolve_agent(task, run)
            if task.retry_policy is not None and task.retry_policy.fallback_agent:
                fallbacks.setdefault(task.retry_policy.fallback_agent, task.title)
        for agent, title in fallbacks.items():
            try:
                self.d.resolve_agent(agent, run)
            except AgentUnavailableError as exc:
                raise AgentUnavailableError(f"task {title!r}, retryPolicy.fallbackAgent: {exc.message}",
                                            **exc.details) from None
        self.d.check_judge(tasks)
        run.agent_cache.clear()

    def _refuse_if_running(self, mission: MissionRecord) -> None:
        if mission.status in LIVE_MISSION_STATES:
            owner = self.leases.run_owner(mission.id)
            alive = owner is not None and owner[1]
            hint = "resume or abort it" if mission.status == MissionStatus.PAUSED or not alive else "abort it first"
            raise ConflictError(f"Mission {mission.name!r} is already {mission.status.value}; {hint}")

    async def execute_task(self, task_id: str) -> Run:
        """Run one task on its own (standalone, or a mission task while its mission is not running)."""
        with self.d.store.read() as tx:
            task = tx.task(task_id)
            mission = tx.mission(task.mission_id, with_tasks=False) if task.mission_id else None
        if mission and mission.status in LIVE_MISSION_STATES:
            raise ConflictError(f"Task {task_id} belongs to mission {mission.name!r}, which is {mission.status.value}")
        key = f"task:{task_id}"
        if key in self.runs:
            raise ConflictError(f"Task {task_id} is already executing")
        threshold = mission.quality_threshold if mission else self.d.config.quality_threshold
        probe = Run(None, [task], threshold=threshold)
        self.d.resolve_agent(task, probe)
        fresh = await self.d.journal.write(lambda tx, emit: _restart(tx, emit, tx.task(task_id)))
        run = Run(None, [fresh], threshold=threshold, context=mission)  # alone: its dependencies are not in the run
        self.runs[run.key] = run
        self.enqueue_ready(run, [task_id])
        self.dispatch()
        return run

    async def run_pending(self, task_id: str) -> Run:
        """Run a standalone task already back to pending (a retry)."""
        with self.d.store.read() as tx:
            task = tx.task(task_id)
        run = Run(None, [task], threshold=self.d.config.quality_threshold)
        self.runs[run.key] = run
        self.enqueue_ready(run, [task_id])
        self.dispatch()
        return run

    # == scheduling ====================================================================================

    def enqueue_ready(self, run: Run, task_ids: Iterable[str]) -> None:
        if run.stopping:
            return
        for tid in task_ids:
            task = run.tasks.get(tid)
            if task is None or task.status != S.PENDING or run.unmet.get(tid, 0) or tid in run.jobs or tid in run.queued:
                continue
            if not holds_allow(run, task, time.time()):
                run.parked.add(tid)
                continue
            run.parked.discard(tid)
            run.queued.add(tid)
            heapq.heappush(self._ready, (-float(task.priority), task.seq, tid, run.key))

    def dispatch(self) -> None:
        limit = self.d.config.max_concurrency
        while self._ready and self._running < limit:
            _, _, tid, key = heapq.heappop(self._ready)
            run = self.runs.get(key)
            if run is None or tid not in run.queued:
                continue
            run.queued.discard(tid)
            task = run.tasks.get(tid)
            if task is None or task.status != S.PENDING:
                continue
            if not run.active:
                run.deferred.append(tid)
                continue
            self._running += 1
            run.idle.clear()
            # its begin is a write to come: a commit due meanwhile (its parents' results) waits for it
            arrived = self.d.journal.expect()
            run.jobs[tid] = asyncio.create_task(self._job(run, tid, arrived), name=f"polpo-task-{tid}")

    async def _job(self, run: Run, tid: str, arrived: Callable[[], None]) -> None:
        dryrun.enter(run.flags.dry_run)  # this job's own context: dry whoever launched it
        try:
            await self._attempt(run, tid, arrived)
        except StoreWriteError as exc:
            self.halt(run, exc)

    async def _attempt(self, run: Run, tid: str, arrived: Callable[[], None]) -> None:
        slot = True
        try:
            verdict = await self.attempts.drive(run, tid, arrived)
            if verdict is not None:
                # Done once its verdict commits: its slot and its dependents go on meanwhile, their
                # begins in that commit (Run.settle). Shielded: a job cancelled now (an abort) still
                # sees the run's copy follow what its verdict stored.
                self._running -= 1
                slot = False
                run.settle(tid, verdict)
                self.enqueue_ready(run, self._released(run, tid))
                self.dispatch()
                await asyncio.shield(verdict)
            await self.after_task(run, tid, released=verdict is not None)
        except asyncio.CancelledError:
            return  # killed/aborted: the canceller writes the outcome
        except RunTakenOver as exc:
            self.abandon(run, exc.holder)
        except WriteNotStored:
            pass  # it never began: a task it depends on failed to store its result, and that failure skips it
        except StoreWriteError:
            raise  # nothing can be written, its failure no more than its result: the run stops (`halt`)
        except AgentUnavailableError as exc:  # its agent (or fallback) went since the run started: the user's to fix
            await self.fail_task(run, tid, exc.message, reason="agent unavailable")
        except Exception:  # noqa: BLE001 - an engine bug must not stall the mission
            await self.fail_task(run, tid, traceback.format_exc(), reason="engine error")
        finally:
            arrived()  # (if it never began)
            if slot:
                self._running -= 1
            run.jobs.pop(tid, None)
            self.dispatch()
        await self.check_finished(run)  # the last job of a run closes it

    async def fail_task(self, run: Run, tid: str, error: str, *, reason: str, attempt_status: str = "failed") -> None:
        await self.attempts.fail(run, tid, error, reason=reason, attempt_status=attempt_status)
        await self.after_task(run, tid)

    # == after a task settles: dependents, gates, checkpoints, completion ===============================

    def _released(self, run: Run, tid: str) -> list[str]:
        """`tid` is done: the dependents it was the last unmet dependency of."""
        released = []
        unmet = run.unmet
        for child in run.dependents.get(tid, ()):
            unmet[child] -= 1
            if unmet[child] == 0:
                released.append(child)
        return released

    async def after_task(self, run: Run, tid: str, *, released: bool = False) -> None:
        """`released`: its dependents were released already (while its verdict committed)."""
        task = run.tasks.get(tid)
        if task is None:
            return
        holds = has_holds(run)
        if task.status == S.DONE and not released:
            released_ids = self._released(run, tid)
            if holds:  # before the released tasks are queued: a checkpoint reached now holds them back
                await self.pauses.check_gates(run)
                await self.pauses.check_delays(run)
                await self.pauses.check_checkpoints(run)
            if run.parked:
                released_ids.extend(run.parked)
            self.enqueue_ready(run, released_ids)
        elif task.status == S.FAILED:
            await self._skip_dependents(run, task)
            if holds:
                await self.pauses.check_gates(run)
        self.dispatch()
        await self.check_finished(run)

    async def _skip_dependents(self, run: Run, failed: TaskRecord) -> None:
        """Fail the pending tasks downstream of `failed` (skipped), except those another failure's skip,
        still committing, already takes (two parents failing together skip their child once)."""
        doomed: list[str] = []
        frontier = [failed.id]
        while frontier:
            for child in run.dependents.get(frontier.pop(), ()):
                if child not in doomed and child not in run.skipping and run.tasks[child].status == S.PENDING:
                    doomed.append(child)
                    frontier.append(child)
        if not doomed:
            return
        message = f"{SKIPPED_PREFIX} dependency {failed.title!r} failed"

        def skip(tx: Tx, emit: Emit) -> list[TaskRecord]:
            return [put_task(tx, emit, run.tasks[c], S.FAILED, reason=message, result=TaskResult(error=message))
                    for c in doomed]
        run.skipping.update(doomed)
        try:
            skipped = await self.d.journal.write(self.writes.fenced(run, skip))
        finally:
            run.skipping.difference_update(doomed)
        for new in skipped:
            run.tasks[new.id] = new
            run.queued.discard(new.id)
            run.parked.discard(new.id)

    async def _release_parked(self, run: Run) -> None:
        """A hold lifted (a delay elapsed): parked tasks may start."""
        self.enqueue_ready(run, list(run.parked))
        self.dispatch()
        await self.check_finished(run)

    async def check_finished(self, run: Run) -> None:
        if run.abandoned:  # let go (taken over elsewhere): not ours to close
            return
        if run.jobs or any(t in run.tasks for t in run.queued):  # (a queued task may have been deleted since)
            return
        if run.all_terminal():
            await self._finish(run)
        self._check_settled(run)

    def abandon(self, run: Run, holder: str | None) -> None:
        """Let a run go that another process took over (RunTakenOver): its jobs stop, nothing more of it
        is written here, and its waiters here read the mission as the new owner stores it."""
        if self._let_go(run):
            run.abandoned = True
            log.warning("polpo: mission %s: its run was taken over by %s while this process stalled past its lease; "
                        "this process stops running it", run.key, holder)

    @contextmanager
    def awaiting(self, key: str) -> Iterator[None]:
        """While a caller of this process waits on the run of `key` (`Engine.wait_idle`): should the run
        halt, it is told by what the wait raises, not by the log as well."""
        self._awaited[key] += 1
        try:
            yield
        finally:
            self._awaited[key] -= 1
            if not self._awaited[key]:
                del self._awaited[key]

    def halt(self, run: Run, error: StoreWriteError) -> None:
        """The store refused a write of the run (a full disk, an I/O error): nothing more of it can be
        recorded, so it stops here, as last committed. Its waiters learn why (`wait()` raises it) and
        it is listed as resumable: `resume` takes it up again once the store can be written (the
        attempts it had in flight run again), or, for a standalone task, a kill then a retry."""
        if not self._let_go(run):
            return
        what = f"mission {run.mission.name!r}" if run.mission else f"task {next(iter(run.tasks.values())).title!r}"
        way_out = "resume it" if run.mission else "kill it, then retry it"
        kept = f"What it did before is kept; once the store can be written again (free disk space, or repair " \
               f"the file), {way_out}."
        run.halted = self.halted[run.key] = StoreWriteError(
            f"{what} stopped: {error.message}. {kept}", reason=error.reason,
            public=f"{what} stopped: the project's store cannot be written ({error.reason}). {kept}")
        # Told to its waiters (`wait()` raises it), else to the log, where an operator learns of a run nobody
        # waits on (a server's). `run_key` marks the record: `polpo run` leaves it out while it follows a run
        # (it may halt before the command's waiter is there; the command prints what `wait()` raises).
        if not self._awaited[run.key]:
            log.error("polpo: %s", run.halted.message, extra={"run_key": run.key})

    def _let_go(self, run: Run) -> bool:
        """Stop a run of this engine where it is, writing nothing (its jobs and timers cancelled, its
        waiters woken); False when it is not, or no longer, run here."""
        if self.runs.get(run.key) is not run:
            return False
        del self.runs[run.key]
        run.stopping = True
        current = asyncio.current_task()
        for handle in [*run.jobs.values(), run.deadline_watch, *run.delay_timers.values()]:
            if handle is not None and handle is not current:
                handle.cancel()
        run.delay_timers.clear()
        run.finished.set()
        run.idle.set()
        return True

    def _check_settled(self, run: Run) -> None:
        """Idle = nothing running, startable or on a timer: finished, paused, or waiting for a human."""
        if not run.jobs and not run.queued and not run.delay_timers:
            run.idle.set()

    async def _finish(self, run: Run) -> None:
        status, error = outcome(run.tasks.values())
        await self._close_run(run, status, error=error)

    async def _close_run(self, run: Run, status: MissionStatus, *, error: str | None,
                         extra: Iterable[CatalogEvent] = ()) -> None:
        """The one way a run ends: mission status + `mission:completed`, volatile team released. The run
        leaves `self.runs` only once the final status is committed, so no waiter reads a stale one."""
        if run.deadline_watch and run.deadline_watch is not asyncio.current_task():
            run.deadline_watch.cancel()
        for timer in run.delay_timers.values():
            timer.cancel()
        run.delay_timers.clear()
        if run.mission is not None:
            mission = run.mission
            # an ended run is paused nowhere (an abort of a paused mission): no later command is sent to a
            # resume it cannot take. A checkpoint never passed still holds its tasks when the run goes on.
            run.flags.waiting_checkpoint = run.flags.blocked_gate = None
            await self.writes.set_mission(run, status, error=error, pause_reason=None, pause_message=None,
                                          extra=[*extra, MissionCompleted(mission_id=mission.id, name=mission.name,
                                                                          status=status.value, error=error or None)])
            if mission.team and mission.team.volatile:
                await self.d.journal.write(lambda tx, emit: tx.delete_mission_agents(mission.id))
        self.runs.pop(run.key, None)
        self.halted.pop(run.key, None)  # (an abort of a run halted earlier)
        run.finished.set()
        run.idle.set()

    async def stop(self, run: Run, status: MissionStatus, *, error: str, reason: str,
                   extra: Iterable[CatalogEvent] = ()) -> None:
        """Cancel what runs, fail what has not finished (abort, deadline), close the run."""
        await run.wind_down()

        def stop(tx: Tx, emit: Emit) -> list[TaskRecord]:
            out = []
            end_running_attempts(tx, run.tasks, "killed")
            for t in run.tasks.values():
                if t.status in (S.DONE, S.FAILED, S.DRAFT):
                    continue
                result = (t.result or TaskResult()).model_copy(update={"error": f"{ABORTED_PREFIX} {reason}"})
                out.append(put_task(tx, emit, t, S.FAILED, reason=reason, result=result, phase=None))
            return out
        for new in await self.d.journal.write(self.writes.fenced(run, stop)):
            run.tasks[new.id] = new
        await self._close_run(run, status, error=error, extra=extra)

    async def _deadline_passed(self, run: Run) -> None:
        """Its deadline as stored now, which another process may have moved or removed meanwhile."""
        assert run.mission is not None
        with self.d.store.read() as tx:
            stored = tx.mission(run.mission.id, with_tasks=False)
        if stored.deadline != run.mission.deadline:
            self.redefine(run, stored)
            return
        await self.stop(run, MissionStatus.FAILED, error="deadline", reason="mission deadline passed")

    def redefine(self, run: Run, mission: MissionRecord) -> None:
        """The run goes on with its mission as stored now (edited while it runs): its deadline is watched
        anew when it changed."""
        assert run.mission is not None
        deadline_before = run.mission.deadline
        run.redefine(mission)
        if mission.deadline != deadline_before:
            self.pauses.watch_deadline(run)

    # == a running mission edited ======================================================================

    def update_running_task(self, task: TaskRecord) -> None:
        """Keep a run's copy in step with a spec edit (priority, expectations, ...) of a pending task."""
        run = self.run_of(task.id)
        if run is not None:
            run.tasks[task.id] = task
            run.rebuild_counters()

    async def add_task_to_run(self, task: TaskRecord) -> None:
        """A task added to an active mission is scheduled at once (seed 004)."""
        if task.mission_id is None or task.mission_id not in self.runs:
            return
        run = self.runs[task.mission_id]
        run.add_task(task)
        new = await self.writes.update(run, task.id, lambda tx, emit, t: put_task(tx, emit, t, S.PENDING,
                                                                                 reason="added to a running mission"))
        run.tasks[task.id] = new
        self.enqueue_ready(run, [task.id])
        self.dispatch()

    def remove_task_from_run(self, task_id: str) -> None:
        run = self.run_of(task_id)
        if run is not None:
            run.remove_task(task_id)
            run.queued.discard(task_id)


def outcome(tasks: Iterable[TaskRecord]) -> tuple[MissionStatus, str | None]:
    """A settled mission's status and error: completed when every task is done, else failed, naming the
    failed tasks."""
    statuses = [(t.title, t.status) for t in tasks]
    if all(status == S.DONE for _, status in statuses):
        return MissionStatus.COMPLETED, None
    return MissionStatus.FAILED, f"failed tasks: {', '.join(title for title, status in statuses if status == S.FAILED)}"


#: The reason of a task's move to pending when its run starts.
_STARTED = "execution started"
#: What a new execution clears of a task's previous one.
_AFRESH: dict[str, Any] = {"phase": None, "retries": 0, "result": None, "assessment": None, "feedback": None}
#: A task's values of those fields, read in one call, and those values when cleared: `_restart` compares
#: the two tuples (a third of what comparing field by field in a generator cost, per task started).
_afresh_values = operator.attrgetter(*_AFRESH)
_CLEARED = tuple(_AFRESH.values())


def _restart(tx: Tx, emit: Emit, task: TaskRecord) -> TaskRecord:
    """A new execution starts a task afresh: results of the previous one stay in its attempts. A task
    that never ran (every task of a mission saved and run at once) has nothing to clear: its copy is
    made with the transition's changes only (a third cheaper, 2,000 times per such mission)."""
    check_command(task.id, "execute", task.status)
    ran = _afresh_values(task) != _CLEARED
    return put_task(tx, emit, task, S.PENDING, reason=_STARTED, **(_AFRESH if ran else {}))
