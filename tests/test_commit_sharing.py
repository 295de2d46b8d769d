"""A settled task's result and the begins of the dependents it releases share one commit.

The durability rule is "a result is durable before any dependent runs on it". A dependent's agent is
called only once its own attempt row is durable, so when that row commits in the transaction of its
parents' results (or after it), the rule holds while a chain costs one commit per task instead of
two. These tests hold the saving and the rule's edge: a dependent never starts on a result that was
not stored.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import polpo_nb as polpo
from polpo_nb.errors import IllegalTransitionError
from polpo_nb.events import EventBus
from polpo_nb.spec import MissionStatus, TaskStatus
from polpo_nb.store import Journal, Store

WAIT = 30


def _chain(n: int) -> polpo.Mission:
    mission = polpo.Mission("chain")
    for i in range(n):
        mission = mission.task(f"t{i}", assign_to="w", depends_on=[f"t{i - 1}"] if i else [])
    return mission


def test_each_result_commits_with_the_begin_of_the_task_it_releases(project, events):
    project.agent("w")(lambda task, ctx: f"did {task.title}")
    n = 8
    mission = project.save_mission(_chain(n))
    before = project.aio.store.commits
    record = project.execute(mission.id).wait(WAIT)
    commits = project.aio.store.commits - before
    assert record.status == MissionStatus.COMPLETED
    # the start, the first begin, one commit per result (with the next begin), the mission's end;
    # two commits per task (a begin, then a result) would be 2n + 2
    assert commits <= n + 3, commits
    by_id = {t.id: t.title for t in record.tasks}
    order = [(by_id[e.data["taskId"]], e.event, e.id) for e in events.events
             if e.event in ("task:completed", "agent:spawned")]
    for i in range(1, n):
        done = next(eid for title, name, eid in order if title == f"t{i - 1}" and name == "task:completed")
        spawned = next(eid for title, name, eid in order if title == f"t{i}" and name == "agent:spawned")
        assert done < spawned  # the stream still tells the parent's end before the child's start


def test_a_dependent_never_starts_on_a_result_that_was_not_stored(project, project_dir):
    started: list[str] = []
    project.agent("w")(lambda task, ctx: started.append(task.title) or "ok")
    # the disk refuses the commit that would make the parent done (a trigger: the store's own failure)
    with sqlite3.connect(project_dir / ".polpo" / "state.db") as db:
        db.execute("CREATE TRIGGER refuse BEFORE UPDATE ON tasks WHEN NEW.status = 'done' "
                   "AND json_extract(NEW.doc, '$.title') = 'parent' BEGIN SELECT RAISE(ABORT, 'disk refused'); END")
    mission = polpo.Mission("m").task("parent", assign_to="w").task("child", assign_to="w", depends_on=["parent"])
    record = project.execute(mission).wait(WAIT)
    assert started == ["parent"]
    assert record.status == MissionStatus.FAILED
    assert {t.title: t.status for t in record.tasks} == {"parent": TaskStatus.FAILED, "child": TaskStatus.FAILED}
    assert "dependency 'parent' failed" in record.tasks[1].result.error  # skipped, as for any failed dependency
    with project.aio.store.read() as tx:
        assert tx.attempts(record.tasks[1].id) == []  # the child never began


async def test_a_write_after_a_refused_one_is_refused_unrun(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    journal = Journal(store, EventBus(store), asyncio.get_running_loop())
    ran: list[str] = []

    def refused(tx, emit):
        raise ValueError("refused")

    def dependent(tx, emit):
        ran.append("dependent")
        tx.put_kv("dependent", 1)
        return "stored"

    first = journal.write(refused)
    second = journal.write(dependent, after=[first])
    third = journal.write(lambda tx, emit: "independent")
    results = await asyncio.gather(first, second, third, return_exceptions=True)
    assert isinstance(results[0], ValueError)
    assert isinstance(results[1], Exception) and "was not stored" in str(results[1])
    assert results[2] == "independent"
    assert ran == []  # run only to be rolled back would do no harm, but it never ran at all
    with store.read() as tx:
        assert tx.get_kv("dependent") is None
    # and after a write of an earlier batch that failed
    late = await asyncio.gather(journal.write(dependent, after=[first]), return_exceptions=True)
    assert isinstance(late[0], Exception) and ran == []


def test_a_kill_arriving_while_a_finished_tasks_result_is_stored_is_refused_and_the_mission_completes(project):
    """White-box on purpose: the window between a verdict queued and committed lasts two loop iterations,
    so the kill waits for it on the engine's own loop (`settling` holds a task in that window)."""
    project.agent("w")(lambda task, ctx: "ok")
    kills: list[asyncio.Task] = []

    async def kill_while_stored(task_id: str) -> object:
        runs = project.aio.engine.runs
        while not any(task_id in run.settling for run in runs.values()):
            await asyncio.sleep(0)
        return await project.aio.kill_task(task_id)

    @project.judge
    async def judge(expectation, task, result):  # on the engine's loop, before the verdict is queued
        if task.title == "a" and not kills:
            kills.append(asyncio.get_running_loop().create_task(kill_while_stored(task.id)))
        return 5

    # `b` then `a` last: a kill that cancelled `a`'s job in that window would leave the run unfinished
    mission = (polpo.Mission("m").task("b", assign_to="w")
               .task("a", assign_to="w", expectations=["well done"], depends_on=["b"]))
    record = project.execute(mission).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert [t.status for t in record.tasks] == [TaskStatus.DONE, TaskStatus.DONE]
    refusal = project._thread.call(asyncio.gather(*kills, return_exceptions=True))[0]
    assert isinstance(refusal, IllegalTransitionError) and "is done" in str(refusal)


async def test_the_runs_copy_follows_a_write_whose_waiter_gave_up(tmp_path: Path):
    """A job cancelled (killed, aborted) while its task's write is queued gives up waiting, but the
    write is in the batch and commits: the run's copy of the task must be what was stored, or the run
    would carry on from a state the store has left."""
    from polpo_nb.engine.run import Run
    from polpo_nb.engine.writes import Writes, put_task
    from polpo_nb.spec import TaskRecord

    store = Store(tmp_path / "state.db")
    journal = Journal(store, EventBus(store), asyncio.get_running_loop())
    task = TaskRecord(id="task_1", title="t", assign_to="w", status=TaskStatus.PENDING)
    await journal.write(lambda tx, emit: tx.put_task(task))
    run = Run(None, [task])
    writes = Writes(journal, owner="me", runs={})
    future = writes.queue(run, task.id, lambda tx, emit, t: put_task(tx, emit, t, TaskStatus.IN_PROGRESS,
                                                                    via=TaskStatus.ASSIGNED))
    future.cancel()  # the waiter gives up before the commit
    await journal.write(lambda tx, emit: None)  # a later write: committed after (or with) the first
    with store.read() as tx:
        stored = tx.task(task.id).status
    assert stored == TaskStatus.IN_PROGRESS
    assert run.tasks[task.id].status == stored
