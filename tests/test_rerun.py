"""Re-run from any task (issue 22): `project.rerun(mission, from_task=...)` re-executes that task and
everything downstream of it, reuses the upstream results, keeps every earlier attempt, and is refused
while the mission is running."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import WAIT, wait_for

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus

CHAIN = ["A", "B", "C", "D", "E"]


@pytest.fixture
def calls() -> Counter:
    return Counter()


@pytest.fixture
def counted(project: polpo.Project, calls: Counter) -> polpo.Project:
    """Agent `w` counts its calls per task and says which call it is and what it was given upstream."""
    @project.agent("w")
    def work(task, ctx):
        calls[task.title] += 1
        upstream = ",".join(f"{k}={v.content}" for k, v in sorted(ctx.upstream.items()))
        return f"{task.title}#{calls[task.title]}[{upstream}]"
    return project


def chain(name: str = "chain", **options) -> polpo.Mission:
    mission = polpo.Mission(name, **options)
    for i, title in enumerate(CHAIN):
        mission.task(title, assign_to="w", depends_on=[CHAIN[i - 1]] if i else [])
    return mission


def by_title(record) -> dict:
    return {t.title: t for t in record.tasks}


def test_rerun_from_the_middle_of_a_five_task_chain_reruns_exactly_the_tail(counted, calls, events):
    record = counted.execute(chain()).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and set(calls.values()) == {1}
    before = by_title(record)

    run = counted.rerun("chain", from_task="C")
    record = run.wait(WAIT)

    assert record.status == MissionStatus.COMPLETED
    assert calls == Counter({"A": 1, "B": 1, "C": 2, "D": 2, "E": 2})
    after = by_title(record)
    # upstream results are reused as they were; the tail was given them and the new results of each other
    assert after["A"].result == before["A"].result and after["B"].result == before["B"].result
    assert after["C"].result.content == f"C#2[B={before['B'].result.content}]"
    assert after["D"].result.content == f"D#2[C={after['C'].result.content}]"
    assert after["E"].result.content.startswith("E#2[D=D#2")
    # every earlier attempt is kept; numbers keep counting up
    attempts = counted.attempts(after["C"].id)
    assert [(a.number, a.status) for a in attempts] == [(1, "completed"), (2, "completed")]
    assert '"C#1[' in attempts[0].result and '"C#2[' in attempts[1].result
    assert [a.number for a in counted.attempts(after["A"].id)] == [1]
    # one mission:rerun event naming the task and the tail; only the tail went back to pending
    (rerun,) = events.of("mission:rerun")
    assert rerun["fromTask"] == "C" and rerun["fromTaskId"] == after["C"].id and rerun["tasks"] == ["C", "D", "E"]
    assert rerun["missionId"] == record.id and rerun["name"] == "chain"
    back = [d["title"] for d in events.of("task:transition") if d["from"] == "done" and d["to"] == "pending"]
    assert back == ["C", "D", "E"]
    statuses = [(d["from"], d["to"]) for d in events.of("mission:status")]
    assert statuses[-2:] == [("completed", "active"), ("active", "completed")]
    # the event, the three transitions and the mission's status are one commit: consecutive, one timestamp
    start = next(i for i, e in enumerate(events.events) if e.event == "mission:rerun")
    batch = events.events[start:start + 5]
    assert [e.event for e in batch] == ["mission:rerun"] + ["task:transition"] * 3 + ["mission:status"]
    assert len({e.data["timestamp"] for e in batch}) == 1 and [e.id for e in batch] == list(range(batch[0].id, batch[0].id + 5))
    assert counted.get_mission("chain").execution_count == 1  # a re-run is not a new execution


def test_rerun_takes_a_task_id_and_works_from_the_first_and_the_last_task(counted, calls):
    record = counted.execute(chain()).wait(WAIT)
    counted.rerun("chain", from_task=by_title(record)["E"].id).wait(WAIT)
    assert calls == Counter({"A": 1, "B": 1, "C": 1, "D": 1, "E": 2})
    assert counted.rerun_mission("chain", from_task="A").wait(WAIT).status == MissionStatus.COMPLETED
    assert calls == Counter({"A": 2, "B": 2, "C": 2, "D": 2, "E": 3})
    assert counted.rerun(chain(), from_task="D").wait(WAIT).status == MissionStatus.COMPLETED  # the Mission itself
    assert calls == Counter({"A": 2, "B": 2, "C": 2, "D": 3, "E": 4})


def test_rerun_of_a_failed_mission_from_the_failed_task_completes_it(project, events):
    fixed = threading.Event()

    @project.agent("flaky")
    def flaky(task, ctx):
        if not fixed.is_set():
            raise RuntimeError("not fixed yet")
        return "fine"
    project.agent("w")(lambda task, ctx: "ok")
    mission = (polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="flaky", depends_on=["a"], max_retries=0)
               .task("c", assign_to="w", depends_on=["b"]))
    record = project.execute(mission).wait(WAIT)
    assert record.status == MissionStatus.FAILED and by_title(record)["c"].result.error.startswith("skipped:")
    fixed.set()
    record = project.rerun("m", from_task="b").wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and record.error is None
    tasks = by_title(record)
    assert tasks["b"].retries == 0 and tasks["b"].result.content == "fine" and tasks["b"].result.error is None
    assert [(a.number, a.status) for a in project.attempts(tasks["b"].id)] == [(1, "failed"), (2, "completed")]
    assert ("done", "pending") not in events.transitions(tasks["a"].id)  # upstream of the re-run: untouched
    assert events.transitions(tasks["c"].id)[-5:] == [("failed", "pending"), ("pending", "assigned"),
                                                     ("assigned", "in_progress"), ("in_progress", "review"),
                                                     ("review", "done")]


def test_the_rerun_tasks_start_afresh_and_their_old_results_and_verdicts_stay_with_their_attempts(project):
    scores = iter([2, 5, 4])

    @project.judge
    def judge(expectation, task, result):
        return next(scores), "judged"
    project.agent("w")(lambda task, ctx: f"text {ctx.attempt}")
    mission = polpo.Mission("m", quality_threshold=3).task("a", assign_to="w", expectations=["good"], max_retries=1)
    record = project.execute(mission).wait(WAIT)
    (task,) = record.tasks
    assert task.retries == 1 and task.assessment.score == 5  # a fix cycle: 2 then 5
    (task,) = project.rerun("m", from_task="a").wait(WAIT).tasks
    assert task.retries == 0 and task.assessment.score == 4 and task.feedback is None
    attempts = project.attempts(task.id)
    assert [a.number for a in attempts] == [1, 2, 3]
    assert ['"text 1"' in attempts[0].result, '"text 2"' in attempts[1].result, '"text 3"' in attempts[2].result] == [True] * 3
    assert task.result.content == "text 3"
    # the verdict the re-run replaced is in the log of the attempt it judged (`polpo logs TASK`)
    (kept,) = [e.message for e in project.log(f"{task.id}-2")]
    assert kept.startswith("assessment before the re-run from 'a': score 5, passed: Assessment passed")
    assert [s.session_id for s in project.log_sessions() if s.task_id == task.id] == [f"{task.id}-2"]


def test_rerun_is_refused_while_the_mission_runs_and_nothing_is_written(project, events):
    release = threading.Event()
    project.agent("slow")(lambda task, ctx: release.wait(WAIT) and "ok")
    project.agent("w")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("busy").task("a", assign_to="w").task("b", assign_to="slow", depends_on=["a"]))
    wait_for(lambda: by_title(project.get_mission("busy"))["b"].status == TaskStatus.IN_PROGRESS)
    with pytest.raises(polpo.ConflictError) as refused:
        project.rerun("busy", from_task="a")
    message = str(refused.value)
    assert message == "Mission 'busy' is running: re-run it from 'a' once it has finished, or abort it first"
    assert "\n" not in message
    assert events.of("mission:rerun") == []
    assert by_title(project.get_mission("busy"))["a"].status == TaskStatus.DONE
    release.set()
    assert run.wait(WAIT).status == MissionStatus.COMPLETED


def test_rerun_is_refused_while_a_task_awaits_approval(project):
    project.agent("w")(lambda task, ctx: "ok")
    project.execute(polpo.Mission("ship").task("a", assign_to="w").task("deploy", assign_to="w", side_effects=True,
                                                                       depends_on=["a"])
                    .task("notify", assign_to="w", depends_on=["deploy"])).wait(WAIT)  # notify: pending behind it
    with pytest.raises(polpo.ConflictError, match="'deploy' awaits approval: approve or reject it first"):
        project.rerun("ship", from_task="a")


def test_rerun_is_refused_while_a_task_awaits_approval_after_its_process_ended(project_dir):
    """The process that ran it (`polpo run`, exit 3) is gone: the refusal said the mission "was left running
    by a process that stopped: resume or abort it", and a resume only waited for the approval again."""
    with polpo.Project(project_dir) as first:
        first.agent("w")(lambda task, ctx: "ok")
        first.execute(polpo.Mission("ship").task("a", assign_to="w").task("deploy", assign_to="w", side_effects=True,
                                                                         depends_on=["a"])).wait(WAIT)
    with polpo.Project(project_dir) as second:
        second.agent("w")(lambda task, ctx: "ok")
        with pytest.raises(polpo.ConflictError, match="'deploy' awaits approval: approve or reject it first"):
            second.rerun("ship", from_task="a")


def test_an_unknown_task_or_mission_is_not_found(counted):
    counted.execute(chain()).wait(WAIT)
    with pytest.raises(polpo.NotFoundError, match="Mission 'chain' has no task 'Z'"):
        counted.rerun("chain", from_task="Z")
    with pytest.raises(polpo.NotFoundError):
        counted.rerun("nosuch", from_task="A")


def test_a_mission_that_never_ran_is_executed_not_rerun(counted):
    counted.save_mission(chain())
    with pytest.raises(polpo.ConflictError, match="Mission 'chain' has not run yet: execute it"):
        counted.rerun("chain", from_task="B")


def test_rerun_below_a_failed_task_says_to_rerun_from_that_task(project):
    project.agent("w")(lambda task, ctx: "ok")
    project.agent("bad")(lambda task, ctx: 1 / 0)
    mission = (polpo.Mission("m").task("a", assign_to="bad", max_retries=0).task("b", assign_to="w", depends_on=["a"]))
    project.execute(mission).wait(WAIT)
    with pytest.raises(polpo.ConflictError, match="'b' depends on 'a', which failed: re-run from 'a' instead"):
        project.rerun("m", from_task="b")


def test_a_checkpoint_after_a_rerun_task_holds_the_mission_again(counted, calls, events):
    mission = chain().checkpoint("review", after=["C"], message="read C")
    run = counted.execute(mission)
    assert run.wait(WAIT).pause_reason == "checkpoint"
    counted.resume("chain")
    assert run.wait(WAIT).status == MissionStatus.COMPLETED

    record = counted.rerun("chain", from_task="B").wait(WAIT)
    assert record.status == MissionStatus.PAUSED and record.pause_reason == "checkpoint"
    assert calls == Counter({"A": 1, "B": 2, "C": 2, "D": 1, "E": 1})
    assert len(events.of("checkpoint:waiting")) == 2
    assert counted.resume("chain").wait(WAIT).status == MissionStatus.COMPLETED
    assert calls == Counter({"A": 1, "B": 2, "C": 2, "D": 2, "E": 2})


def test_a_checkpoint_upstream_of_the_rerun_stays_passed(counted, calls):
    mission = chain().checkpoint("review", after=["A"])
    run = counted.execute(mission)
    assert run.wait(WAIT).status == MissionStatus.PAUSED
    counted.resume("chain")
    assert run.wait(WAIT).status == MissionStatus.COMPLETED
    assert counted.rerun("chain", from_task="D").wait(WAIT).status == MissionStatus.COMPLETED
    assert calls == Counter({"A": 1, "B": 1, "C": 1, "D": 2, "E": 2})


def test_rerun_of_a_mission_paused_at_a_checkpoint_redoes_the_reviewed_task(counted, calls):
    """The editor reads the draft at the checkpoint and asks for another one: the checkpoint applies again."""
    mission = chain().checkpoint("review", after=["B"], message="read B")
    assert counted.execute(mission).wait(WAIT).pause_reason == "checkpoint"
    record = counted.rerun("chain", from_task="B").wait(WAIT)
    assert record.status == MissionStatus.PAUSED and record.pause_reason == "checkpoint"
    assert calls == Counter({"A": 1, "B": 2})
    assert counted.resume("chain").wait(WAIT).status == MissionStatus.COMPLETED
    assert calls == Counter({"A": 1, "B": 2, "C": 1, "D": 1, "E": 1})


def test_a_checkpoint_the_rerun_does_not_redo_must_be_resumed_first(counted, calls):
    mission = (polpo.Mission("m").task("x", assign_to="w").task("y", assign_to="w")
               .task("z", assign_to="w", depends_on=["x"]).checkpoint("review", after=["x"]))
    assert counted.execute(mission).wait(WAIT).pause_reason == "checkpoint"
    with pytest.raises(polpo.ConflictError) as refused:
        counted.rerun("m", from_task="y")
    assert str(refused.value) == ("Mission 'm' is paused at checkpoint 'review', which a re-run from 'y' does not "
                                  "redo: resume it first")
    assert calls == Counter({"x": 1, "y": 1})
    assert counted.get_mission("m").status == MissionStatus.PAUSED


def test_a_gate_after_a_rerun_task_is_judged_again(project):
    scores = iter([5, 3])  # 3 passes the threshold (3), not the gate (4)

    @project.judge
    def judge(expectation, task, result):
        return next(scores), "judged"
    project.agent("w")(lambda task, ctx: "ok")
    mission = (polpo.Mission("g").task("a", assign_to="w", expectations=["good"], max_retries=0)
               .task("b", assign_to="w", depends_on=["a"]).gate(after=["a"], blocks=["b"], min_score=4))
    assert project.execute(mission).wait(WAIT).status == MissionStatus.COMPLETED
    record = project.rerun("g", from_task="a").wait(WAIT)
    assert record.status == MissionStatus.PAUSED and record.pause_reason == "gate"
    assert by_title(record)["b"].status == TaskStatus.PENDING


def test_the_async_face_reruns_too(counted, calls):
    counted.execute(chain()).wait(WAIT)

    async def rerun() -> MissionStatus:
        run = await counted.aio.rerun_mission("chain", from_task="D")
        return (await run).status
    assert counted._thread.call(rerun()) == MissionStatus.COMPLETED
    assert calls["D"] == 2 and calls["C"] == 1


OWNER = textwrap.dedent("""
    import sys, polpo_nb as polpo
    from collections import Counter
    calls = Counter()
    project = polpo.Project(sys.argv[1])

    @project.agent("w")
    def work(task, ctx):
        calls[task.title] += 1
        return f"{task.title}#{calls[task.title]}"

    mission = (polpo.Mission("owned").task("draft", assign_to="w").task("publish", assign_to="w", depends_on=["draft"])
               .checkpoint("review", after=["draft"]))
    run = project.execute(mission)
    print("settled", run.wait().status.value, flush=True)
    sys.stdin.readline()  # the test has re-run the mission from another process
    print("calls", calls["draft"], calls["publish"], run.wait().status.value, flush=True)
    project.close()
""")


@pytest.fixture
def owner(project_dir: Path, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A child process owning mission `owned`, paused at its checkpoint after `draft`."""
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    child = subprocess.Popen([sys.executable, str(script), str(project_dir)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().split() == ["settled", "paused"]
        yield child
    finally:
        child.kill()


def test_rerun_of_a_run_another_live_process_owns_is_carried_out_by_that_process(project_dir, owner):
    with polpo.Project(project_dir) as other:
        handle = other.rerun("owned", from_task="draft")  # the child holds the run: travels as a command
        record = handle.wait(WAIT)
        assert record.status == MissionStatus.PAUSED and record.pause_reason == "checkpoint"
        draft = by_title(record)["draft"]
        assert draft.result.content == "draft#2"  # run by the child's agent, its second call
        assert [a.owner for a in other.attempts(draft.id)] == [other.attempts(draft.id)[0].owner] * 2
        owner.stdin.write("go\n")
        owner.stdin.flush()
        assert owner.stdout.readline().split() == ["calls", "2", "0", "paused"]
        with other.aio.store.read() as tx:
            assert tx._x("SELECT kind, done FROM commands").fetchall() == [("rerun", 1)]
    assert owner.wait(WAIT) == 0


def test_the_event_is_in_the_catalog_and_the_stream_schema():
    from polpo_nb.events.catalog import CATALOG, MissionRerun, stream_event_schema

    assert CATALOG["mission:rerun"] == (MissionRerun,)
    wire = MissionRerun(mission_id="m", name="n", from_task="C", from_task_id="t", tasks=["C", "D"]).to_wire()
    assert wire == {"missionId": "m", "name": "n", "fromTask": "C", "fromTaskId": "t", "tasks": ["C", "D"]}
    assert "mission:rerun" in str(stream_event_schema())


def test_a_delay_after_a_rerun_task_counts_again(counted, calls, events):
    mission = chain().delay("settle", after=["B"], blocks=["C"], duration="PT0.1S")
    assert counted.execute(mission).wait(WAIT).status == MissionStatus.COMPLETED
    record = counted.rerun("chain", from_task="B").wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert calls == Counter({"A": 1, "B": 2, "C": 2, "D": 2, "E": 2})
    names = events.names()
    rerun_at = names.index("mission:rerun")
    assert names[rerun_at:].count("delay:started") == 1 and names[rerun_at:].count("delay:elapsed") == 1
    c = by_title(record)["C"].id
    second_c = [i for i, e in enumerate(events.events) if e.event == "agent:spawned" and e.data["taskId"] == c][-1]
    assert second_c > max(i for i, name in enumerate(names) if name == "delay:elapsed")


def test_rerun_of_an_aborted_mission_from_a_task_the_abort_stopped(project):
    release = threading.Event()
    project.agent("w")(lambda task, ctx: "ok")
    project.agent("slow")(lambda task, ctx: release.wait(WAIT) and "slow ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="slow", depends_on=["a"])
                          .task("c", assign_to="w", depends_on=["b"]))
    wait_for(lambda: by_title(project.get_mission("m"))["b"].status == TaskStatus.IN_PROGRESS)
    assert project.abort("m").status == MissionStatus.CANCELLED
    release.set()
    assert run.wait(WAIT).status == MissionStatus.CANCELLED
    record = project.rerun("m", from_task="b").wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert [t.status for t in record.tasks] == [TaskStatus.DONE] * 3
    assert [a.status for a in project.attempts(by_title(record)["b"].id)] == ["killed", "completed"]


def test_rerun_of_an_interrupted_mission_takes_it_over(project_dir):
    release = threading.Event()
    with polpo.Project(project_dir) as first:
        first.agent("w")(lambda task, ctx: "ok")
        first.agent("slow")(lambda task, ctx: release.wait(WAIT) and "ok")
        first.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="slow", depends_on=["a"]))
        wait_for(lambda: by_title(first.get_mission("m"))["b"].status == TaskStatus.IN_PROGRESS)
        assert first.interrupt_mission("m").pause_reason == "interrupted"
        release.set()
    with polpo.Project(project_dir) as second:
        calls: Counter = Counter()
        second.agent("w")(lambda task, ctx: calls.update([task.title]) or "again")
        second.agent("slow")(lambda task, ctx: calls.update([task.title]) or "again")
        record = second.rerun("m", from_task="a").wait(WAIT)
        assert record.status == MissionStatus.COMPLETED and calls == Counter({"a": 1, "b": 1})
        assert [t.result.content for t in record.tasks] == ["again", "again"]


def test_a_task_that_has_not_run_is_resumed_not_rerun(counted, calls):
    assert counted.execute(chain().checkpoint("review", after=["B"])).wait(WAIT).pause_reason == "checkpoint"
    with pytest.raises(polpo.ConflictError, match="is pending: only a task that has run .* can be re-run from"):
        counted.rerun("chain", from_task="D")
    assert calls == Counter({"A": 1, "B": 1})


def test_the_orchestrators_tool_table_reruns_too(counted, calls):
    """The chat's orchestrator (and MCP, which serves the same table) has a rerun_mission tool."""
    from polpo_nb.chat.tools import run_tool, tool_by_name

    counted.execute(chain()).wait(WAIT)
    spec = tool_by_name("rerun_mission")
    answer, ok = counted._thread.call(run_tool(counted.aio, spec, {"mission": "chain", "fromTask": "E"}))
    assert ok and answer["missionId"] == counted.get_mission("chain").id and answer["status"] in ("active", "completed")
    wait_for(lambda: counted.get_mission("chain").status == MissionStatus.COMPLETED and calls["E"] == 2)
    assert calls == Counter({"A": 1, "B": 1, "C": 1, "D": 1, "E": 2})
    refused, ok = counted._thread.call(run_tool(counted.aio, spec, {"mission": "chain", "fromTask": "Z"}))
    assert not ok and refused == {"ok": False, "error": "Mission 'chain' has no task 'Z'", "code": "NOT_FOUND"}


def test_two_engines_rerunning_at_once_start_one_rerun(project_dir, monkeypatch):
    """Two engines on one store (two processes would be the same): both have read the mission as completed
    and found no live owner of its run before either writes (a barrier after the last check before the
    write); the write's own check lets one through, refuses the other.

    The barrier sits after the owner check, not before it: an engine that reached that check after the
    other's write would hand its re-run to the owner (refused there as running), and a barrier met by a
    third call would stall the owner's loop (seen under load, a 30 s hang)."""
    from polpo_nb.engine.leases import Leases

    calls: Counter = Counter()
    first, second = polpo.Project(project_dir), polpo.Project(project_dir)
    try:
        for project in (first, second):
            project.agent("w")(lambda task, ctx: calls.update([task.title]) or "ok")
        first.execute(chain()).wait(WAIT)
        both_checked = threading.Barrier(2, timeout=WAIT)
        checks: list[str] = []

        def refuse_foreign_then_wait(leases, mission):
            refuse_foreign(leases, mission)
            checks.append(mission.name)
            if len(checks) <= 2:  # the two re-runs' own checks only
                both_checked.wait()
        refuse_foreign = Leases.refuse_foreign
        monkeypatch.setattr(Leases, "refuse_foreign", refuse_foreign_then_wait)
        outcomes: list[object] = []

        def rerun(project: polpo.Project) -> None:
            try:
                outcomes.append(project.rerun("chain", from_task="D").wait(WAIT).status)
            except polpo.ConflictError as exc:
                outcomes.append(str(exc))
        threads = [threading.Thread(target=rerun, args=(p,)) for p in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        refusal = "Mission 'chain' was started by another process meanwhile: re-run it once it has finished"
        assert sorted(map(str, outcomes)) == sorted([str(MissionStatus.COMPLETED), refusal])
        assert calls == Counter({"A": 1, "B": 1, "C": 1, "D": 2, "E": 2})
        with first.aio.store.read() as tx:  # the store, not this engine's feed: the re-run may be the other's
            assert [e.event for e in tx.events_after(0)].count("mission:rerun") == 1
    finally:
        first.close()
        second.close()


def test_rerun_of_a_mission_paused_at_its_gate_judges_the_gate_again(project):
    scores = iter([3, 5])

    @project.judge
    def judge(expectation, task, result):
        return next(scores), "judged"
    project.agent("w")(lambda task, ctx: "ok")
    mission = (polpo.Mission("g").task("a", assign_to="w", expectations=["good"], max_retries=0)
               .task("b", assign_to="w", depends_on=["a"]).gate(after=["a"], blocks=["b"], min_score=4))
    assert project.execute(mission).wait(WAIT).pause_reason == "gate"
    record = project.rerun("g", from_task="a").wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert by_title(record)["a"].assessment.score == 5 and by_title(record)["b"].status == TaskStatus.DONE


@pytest.mark.parametrize("how", ["rerun", "retry"])
def test_rerun_and_retry_start_afresh_even_after_an_attempt_a_crash_ended_with_stored_steps(project, how):
    """A crashed attempt that stored steps runs on when its task is resumed (exact resume); a re-run or a
    retry asks for the task again, so it gets a new attempt whose steps run again."""
    ran: Counter = Counter()

    @project.agent("w")
    def work(task, ctx):
        return ctx.step("work", lambda: ran.update([task.title]) or f"{task.title}#{ran[task.title]}")

    mission = polpo.Mission("afresh").task("A", assign_to="w").task("B", assign_to="w", depends_on=["A"])
    b = by_title(project.execute(mission).wait(WAIT))["B"]
    # as if a crash had ended B's attempt after its step was stored (and, for the retry, the run then failed)
    project._thread.call(project.aio.journal.write(lambda tx, emit: tx.finish_attempt(b.id, 1, "crashed", None)))
    if how == "rerun":
        record = project.rerun("afresh", from_task="B").wait(WAIT)
    else:
        project._thread.call(project.aio.journal.write(
            lambda tx, emit: tx.put_task(tx.task(b.id).model_copy(update={"status": TaskStatus.FAILED}))))
        project.retry_task(b.id)
        wait_for(lambda: project.get_task(b.id).status == TaskStatus.DONE, WAIT)
        record = project.get_mission("afresh")
    assert by_title(record)["B"].result.content == "B#2"
    assert [a.number for a in project.attempts(b.id)] == [1, 2]


def test_a_mission_aborted_while_paused_is_re_run_not_sent_to_a_resume_it_cannot_take(project):
    """An abort ends the pause: a re-run from the held task is not refused as "paused at checkpoint
    ..., resume it first" (a cancelled mission cannot be resumed). The checkpoint, never passed, holds
    the re-run task back again until a human resumes."""
    started: list[str] = []
    project.agent("w")(lambda task, ctx: started.append(task.title) or "ok")
    mission = (polpo.Mission("ck").task("A", assign_to="w").task("B", assign_to="w", depends_on=["A"])
               .checkpoint("review", after=["A"]))
    assert project.execute(mission).wait(WAIT).pause_reason == "checkpoint"
    project.abort("ck")
    record = project.rerun("ck", from_task="B").wait(WAIT)
    assert (record.status, record.pause_reason) == (MissionStatus.PAUSED, "checkpoint")
    assert project.resume("ck").wait(WAIT).status == MissionStatus.COMPLETED
    assert started == ["A", "B"]
