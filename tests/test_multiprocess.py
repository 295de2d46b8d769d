"""Several engines on one store: commands reach the run's owner, concurrent writers lose nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import wait_for

import polpo_nb as polpo
from polpo_nb.engine.states import TRANSITIONS
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 60

OWNER = textwrap.dedent("""
    import sys, polpo_nb as polpo
    project = polpo.Project(sys.argv[1])
    project.agent("w")(lambda task, ctx: "done by the owner")
    mission = (polpo.Mission("owned").task("deploy", assign_to="w", side_effects=True)
               .task("notify", assign_to="w", depends_on=["deploy"]))
    run = project.execute(mission)
    record = run.wait()
    print("settled", record.tasks[0].status.value, flush=True)
    while record.status.value == "active":
        record = run.wait()
        if record.status.value == "active":
            import time; time.sleep(0.05)
    print("final", record.status.value, flush=True)
    project.close()
""")


@pytest.fixture
def owner(project_dir: Path, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A child process owning the run of mission `owned`, once its first task awaits approval."""
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    child = subprocess.Popen([sys.executable, str(script), str(project_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().split() == ["settled", "awaiting_approval"]
        yield child
    finally:
        child.kill()


def test_approval_from_another_process_reaches_the_runs_owner(project_dir: Path, owner: subprocess.Popen):
    with polpo.Project(project_dir) as other:
        deploy = other.get_mission("owned").tasks[0]
        approved = other.approve_task(deploy.id)  # owned by the child: travels as a command
        assert approved.status == TaskStatus.DONE
        assert owner.stdout.readline().split() == ["final", "completed"]
        assert other.get_mission("owned").status == MissionStatus.COMPLETED
        with other.aio.store.read() as tx:  # the command was answered and closed
            assert tx._x("SELECT COUNT(*), SUM(done) FROM commands").fetchone() == (1, 1)
    assert owner.wait(WAIT) == 0


def test_abort_from_another_process_cancels_the_owners_run(project_dir: Path, owner: subprocess.Popen):
    with polpo.Project(project_dir) as other:
        record = other.abort("owned")
        assert record.status == MissionStatus.CANCELLED
        assert owner.stdout.readline().split() == ["final", "cancelled"]
        assert all(t.status == TaskStatus.FAILED for t in other.get_mission("owned").tasks)


def test_a_refused_command_comes_back_with_its_error(project_dir: Path, owner: subprocess.Popen):
    with polpo.Project(project_dir) as other:
        notify = other.get_mission("owned").tasks[1]
        with pytest.raises(polpo.ConflictError, match="not awaiting approval"):
            other.approve_task(notify.id)  # pending, not awaiting approval: the owner refuses
        other.abort("owned")


WORKER = textwrap.dedent("""
    import sys, polpo_nb as polpo
    root, tag = sys.argv[1], sys.argv[2]
    project = polpo.Project(root)
    project.agent(f"w{tag}")(lambda task, ctx: f"{tag}:{task.title}")
    runs = []
    for m in range(5):
        mission = polpo.Mission(f"p{tag}-m{m}")
        for t in range(5):
            mission.task(f"t{t}", assign_to=f"w{tag}", depends_on=[f"t{t-1}"] if t % 2 else [])
        runs.append(project.execute(mission))
    print(",".join(r.wait().status.value for r in runs), flush=True)
    project.close()
""")


def test_twenty_missions_from_four_processes_share_one_store(project_dir: Path, tmp_path: Path):
    polpo.Project(project_dir).close()  # create the store once, as a user would
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    workers = [subprocess.Popen([sys.executable, str(script), str(project_dir), str(i)], stdout=subprocess.PIPE,
                                text=True) for i in range(4)]
    outputs = [w.communicate(timeout=180)[0].strip() for w in workers]
    assert outputs == [",".join(["completed"] * 5)] * 4
    with polpo.Project(project_dir) as project:
        missions = project.list_missions()
        assert len(missions) == 20 and all(m.status == MissionStatus.COMPLETED for m in missions)
        events = project.replay(0)
        ids = [e.id for e in events]
        assert ids == list(range(1, len(ids) + 1))  # one global sequence, no gap, no duplicate
        chains: dict[str, list[tuple[str, str]]] = {}
        for e in events:
            if e.event == "task:transition":
                chains.setdefault(e.data["taskId"], []).append((e.data["from"], e.data["to"]))
        assert len(chains) == 100
        for steps in chains.values():
            assert steps[0][0] == "draft" and steps[-1][1] == "done"
            for (_, to), (frm, nxt) in zip(steps, steps[1:], strict=False):
                assert to == frm  # no lost transition
                assert (TaskStatus(frm), TaskStatus(nxt)) in TRANSITIONS
        assert sum(e.event == "task:completed" for e in events) == 100


def test_a_decision_on_a_run_no_process_holds_takes_it_over_and_the_mission_goes_on(project_dir: Path):
    """`polpo run` exited (3) to wait for the approval; the approval is given elsewhere: the dashboard, a
    kernel's `%polpo approve`, the HTTP API. The deciding process takes the run over, as `polpo approve`
    does, and the mission goes on; it stayed `active` for ever, its next task pending."""
    (project_dir / "agents_mod.py").write_text("def work(task, ctx):\n    return 'done'\n")
    (project_dir / "deploy.yaml").write_text(textwrap.dedent("""
        name: deploy
        team: {agents: [{name: w, handler: "agents_mod:work"}]}
        tasks:
          - {title: Deploy, assignTo: w, sideEffects: true}
          - {title: Notify, assignTo: w, dependsOn: [Deploy]}
    """))
    cli = [sys.executable, "-m", "polpo_nb.cli", "run", "deploy.yaml", "--plain"]
    assert subprocess.run(cli, cwd=project_dir, capture_output=True, timeout=WAIT).returncode == 3
    for approve in (True, False):
        with polpo.Project(project_dir) as decider:
            if not approve:  # the same again, rejected this time
                assert subprocess.run(cli, cwd=project_dir, capture_output=True, timeout=WAIT).returncode == 3
            deploy = decider.get_mission("deploy").tasks[0]
            assert deploy.status == TaskStatus.AWAITING_APPROVAL
            (decider.approve_task if approve else decider.reject_task)(deploy.id)
            record = polpo.RunHandle(decider.aio, deploy.mission_id, mission_id=deploy.mission_id).wait(WAIT)
            assert [(t.title, t.status) for t in record.tasks] == (
                [("Deploy", TaskStatus.DONE), ("Notify", TaskStatus.DONE)] if approve
                else [("Deploy", TaskStatus.FAILED), ("Notify", TaskStatus.FAILED)])
            assert record.status == (MissionStatus.COMPLETED if approve else MissionStatus.FAILED)


def test_a_retry_in_a_run_no_process_holds_takes_it_over_and_runs(project_dir: Path):
    # A module name of its own: a process keeps the first module of a name it imports (another test's
    # `agents_mod`, which never fails, made this test pass by its order alone); "fixed" is looked for in
    # the project, not in whatever directory the retrying process runs in.
    (project_dir / "flaky_agents.py").write_text(textwrap.dedent("""
        from pathlib import Path
        def work(task, ctx):
            if task.title == "Flaky" and not (Path(ctx.project_dir) / "fixed").exists():
                raise RuntimeError("not yet")
            return "done"
    """))
    (project_dir / "both.yaml").write_text(textwrap.dedent("""
        name: both
        team: {agents: [{name: w, handler: "flaky_agents:work"}]}
        tasks:
          - {title: Deploy, assignTo: w, sideEffects: true}
          - {title: Flaky, assignTo: w, maxRetries: 0}
    """))
    cli = [sys.executable, "-m", "polpo_nb.cli", "run", "both.yaml", "--plain"]
    assert subprocess.run(cli, cwd=project_dir, capture_output=True, timeout=WAIT).returncode == 3
    (project_dir / "fixed").write_text("")
    with polpo.Project(project_dir) as other:
        deploy, flaky = other.get_mission("both").tasks
        assert (deploy.status, flaky.status) == (TaskStatus.AWAITING_APPROVAL, TaskStatus.FAILED)
        other.retry_task(flaky.id)
        handle = polpo.RunHandle(other.aio, flaky.mission_id, mission_id=flaky.mission_id)
        assert [t.status for t in handle.wait(WAIT).tasks] == [TaskStatus.AWAITING_APPROVAL, TaskStatus.DONE]
        other.approve_task(deploy.id)
        assert handle.wait(WAIT).status == MissionStatus.COMPLETED


APPENDER = textwrap.dedent("""
    import sys, polpo_nb as polpo
    with polpo.Project(sys.argv[1]) as project:
        for i in range(int(sys.argv[3])):
            project.append_memory(f"{sys.argv[2]} {i}")
""")


def test_memory_appends_from_several_processes_are_all_kept(project_dir: Path, tmp_path: Path):
    """Each append read the memory, added its line and wrote it back: two processes appending at once
    (a kernel, `polpo serve`, a `polpo run`) lost lines. Appends hold the store's write lock now."""
    script = tmp_path / "appender.py"
    script.write_text(APPENDER)
    (project_dir / ".polpo").mkdir(exist_ok=True)
    children = [subprocess.Popen([sys.executable, str(script), str(project_dir), tag, "200"]) for tag in ("A", "B")]
    assert [child.wait(WAIT) for child in children] == [0, 0]
    with polpo.Project(project_dir) as project:
        lines = project.get_memory().splitlines()
    assert sorted(lines) == sorted(f"{tag} {i}" for tag in ("A", "B") for i in range(200))


def _waits_for_another_process_without_holding_the_engine(project: polpo.Project, write: Callable[[], object]) -> None:
    """Run `write` on a thread of its own while another process holds the database's write lock: the engine
    answers meanwhile, the write waits (not done, not failed), and completes once the lock is free."""
    import sqlite3

    other = sqlite3.connect(project.root / ".polpo" / "state.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    guard = threading.Timer(5.0, lambda: other.execute("COMMIT"))  # what a frozen engine would wait for
    guard.start()
    done: list[object] = []
    writer = threading.Thread(target=lambda: done.append(write()))
    try:
        writer.start()
        writer.join(0.2)
        assert project.list_tasks() == []  # the engine answers while the write waits
        assert other.in_transaction, "the engine stood still until the other process let go of its lock"
        assert not done
        other.execute("COMMIT")
    finally:
        guard.cancel()
        guard.join()
        writer.join(WAIT)
        other.close()
    assert done


def test_a_memory_edit_waiting_for_another_process_s_write_lock_leaves_the_engine_free(project_dir: Path):
    """An edit of the memory holds the store's write lock (so appends from several processes are all kept).
    It waited for that lock in SQLite's busy handler, on the engine's loop: while another process wrote,
    the project answered nothing else, not even a read. It waits on the loop's timer now."""
    with polpo.Project(project_dir) as project:
        project.put_memory("first")
        _waits_for_another_process_without_holding_the_engine(project, lambda: project.append_memory("second"))
        assert project.get_memory().splitlines() == ["first", "second"]


def test_a_write_from_the_caller_s_thread_waiting_for_another_process_leaves_the_engine_free(project_dir: Path):
    """Registering an agent writes from the caller's thread, holding the connection the engine shares. While
    another process wrote (a `polpo` command saving a big mission), it waited for the database's lock with
    the connection held, so the engine, whose reads need that connection, stood still as well."""
    with polpo.Project(project_dir) as project:
        _waits_for_another_process_without_holding_the_engine(
            project, lambda: project.agent("late")(lambda task, ctx: "ok"))
        assert "late" in [agent.name for agent in project.list_agents()]


def test_a_run_whose_writes_meet_a_lock_held_past_the_busy_timeout_waits_it_out_and_ends(
        project_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    """Another process held the write lock longer than the busy timeout just as a task's result was
    written: the result write failed, so did the task's failure, and the task stayed `in_progress` for
    ever in a run that never ended (nothing to resume either: its process was alive). A run's own writes
    now wait the lock out, saying so in the log, and the run goes on once it is free."""
    import sqlite3

    from polpo_nb.store import sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 300)
    entered, release = threading.Event(), threading.Event()

    def agent(task: polpo.TaskRecord, ctx: object) -> str:
        if task.title == "a":
            entered.set()
            release.wait(WAIT)
        return "ran"

    with polpo.Project(project_dir) as project:
        project.agent("w")(agent)
        run = project.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"]))
        assert entered.wait(WAIT)
        other = sqlite3.connect(project_dir / ".polpo" / "state.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            release.set()  # `a` returns: its result meets the lock, held past three busy timeouts
            wait_for(lambda: "locked by another process" in caplog.text)
            time.sleep(0.9)
            assert project.get_mission("m").tasks[0].status == TaskStatus.IN_PROGRESS  # nothing written yet
        finally:
            other.execute("COMMIT")
            other.close()
        record = run.wait(WAIT)
        assert record.status == MissionStatus.COMPLETED
        assert [(t.title, t.status, t.result.content if t.result else None) for t in record.tasks] == [
            ("a", TaskStatus.DONE, "ran"), ("b", TaskStatus.DONE, "ran")]


def test_memory_that_is_not_text_writes_nothing(project_dir: Path):
    with polpo.Project(project_dir) as project:
        project.put_memory("kept")
        with pytest.raises(polpo.SpecError, match="content: memory is UTF-8 text"):
            project.put_memory("lone \ud800 surrogate")
        assert project.get_memory() == "kept"
        assert sorted(p.name for p in (project_dir / ".polpo").glob("*memory*")) == ["memory.md"]


def test_an_owner_whose_run_was_taken_over_while_it_stalled_stops_it_and_writes_nothing(project_dir: Path):
    """A `polpo run` stopped (Ctrl-Z, a laptop's sleep, a loop held by a blocking call) past its lease looks
    dead; `resume` elsewhere takes the run over. When the first wakes up, its attempt's result and every
    later write of that run are refused (the run's row names the new owner): it stops running the mission,
    which went on twice before (B ran in both processes, one attempt unrecorded, a `crashed` attempt
    overwritten as `completed`)."""
    from polpo_nb.engine.ownership import release_owner

    calls: list[tuple[str, str]] = []
    stalled = threading.Event()
    with polpo.Project(project_dir) as first, polpo.Project(project_dir) as second:
        def work(who: str):
            def agent(task, ctx):
                calls.append((who, task.title))
                if who == "first" and task.title == "A":
                    stalled.wait(WAIT)
                return f"{task.title} by {who}"
            return agent
        first.agent("w")(work("first"))
        second.agent("w")(work("second"))
        run = first.execute(polpo.Mission("sb").task("A", assign_to="w").task("B", assign_to="w", depends_on=["A"]))
        wait_for_status = [t.status for t in first.get_mission("sb").tasks]
        while wait_for_status[0] != TaskStatus.IN_PROGRESS:
            wait_for_status = [t.status for t in first.get_mission("sb").tasks]
        release_owner(first.aio.owner)  # as a stalled process looks from outside: its lease lapsed
        record = second.resume("sb").wait(WAIT)
        assert record.status == MissionStatus.COMPLETED
        stalled.set()  # the first wakes up, its agent returns
        first_view = run.wait(WAIT)
        tasks = {t.title: t for t in second.get_mission("sb").tasks}
        assert {t: r.result.content for t, r in tasks.items()} == {"A": "A by second", "B": "B by second"}
        assert calls.count(("first", "B")) == 0 and calls.count(("second", "B")) == 1
        assert [a.status for a in second.attempts(tasks["A"].id)] == ["crashed", "completed"]
        assert first_view.status == MissionStatus.COMPLETED  # what the store says: the second's run
        assert second.get_mission("sb").status == MissionStatus.COMPLETED


def test_edits_of_a_mission_another_process_runs_reach_its_run(project_dir: Path):
    """Editing, deleting and adding tasks from another process (`polpo serve`, the dashboard, another
    kernel) while a mission runs or waits at its checkpoint: the edits travel to the process that runs it,
    as approve and resume do. They were stored, then undone by the owner's copies: the edited task ran
    as it was, the deleted one ran and came back, the added one stayed a draft of a "completed" mission."""
    seen: dict[str, str] = {}
    with polpo.Project(project_dir) as owner, polpo.Project(project_dir) as other:
        owner.agent("w")(lambda task, ctx: seen.setdefault(task.title, task.description) and "ok")
        mission = (polpo.Mission("edited").task("A", "a", assign_to="w").task("B", "original", assign_to="w",
                                                                             depends_on=["A"])
                   .task("C", "c", assign_to="w", depends_on=["A"]).checkpoint("look", after=["A"]))
        assert owner.execute(mission).wait(WAIT).pause_reason == "checkpoint"
        tasks = {t.title: t for t in other.get_mission("edited").tasks}
        assert other.update_task(tasks["B"].id, {"description": "EDITED"}).description == "EDITED"
        other.remove_mission_task("edited", tasks["C"].id)
        added = other.add_mission_task("edited", {"title": "X", "description": "x", "assignTo": "w",
                                                   "dependsOn": ["A"]})
        assert added.title == "X"
        other.resume("edited")
        record = polpo.RunHandle(other.aio, tasks["A"].mission_id, mission_id=tasks["A"].mission_id).wait(WAIT)
        assert record.status == MissionStatus.COMPLETED
        assert {t.title: t.status for t in record.tasks} == {"A": TaskStatus.DONE, "B": TaskStatus.DONE,
                                                            "X": TaskStatus.DONE}
        assert seen == {"A": "a", "B": "EDITED", "X": "x"}


def test_a_command_its_sender_gave_up_on_is_withdrawn_not_done_later(project_dir: Path, monkeypatch):
    """`polpo approve` told the user the owner did not answer (exit 4), and the approval then took effect
    when the owner woke up. Given up on, a command is withdrawn: the owner finds nothing to do."""
    from polpo_nb.engine import commands as commands_module

    monkeypatch.setattr(commands_module, "ANSWER_TIMEOUT", 0.3)
    with polpo.Project(project_dir) as owner, polpo.Project(project_dir) as other:
        owner.agent("w")(lambda task, ctx: "ok")
        record = owner.execute(polpo.Mission("asleep").task("Deploy", assign_to="w", side_effects=True)).wait(WAIT)
        deploy = record.tasks[0]
        assert deploy.status == TaskStatus.AWAITING_APPROVAL
        serve = owner.aio.commands.serve

        async def asleep() -> int:  # the owner does not look at its commands (stopped, stalled)
            return 0
        monkeypatch.setattr(owner.aio.commands, "serve", asleep)
        with pytest.raises(polpo.ConflictError, match="withdrawn: nothing was done"):
            other.approve_task(deploy.id)
        monkeypatch.setattr(owner.aio.commands, "serve", serve)
        assert owner._thread.call(owner.aio.commands.serve()) == 0  # it wakes up: nothing is left for it
        assert owner.get_task(deploy.id).status == TaskStatus.AWAITING_APPROVAL
