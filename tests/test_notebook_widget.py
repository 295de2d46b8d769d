"""The mission widget without a browser: its synced state, coalescing, actions, escaping, displays, and
the parent header of its messages in a real kernel."""

from __future__ import annotations

import asyncio
import pathlib
import queue
import re
import textwrap
import threading
import time

import comm
import pytest
from support import wait_for

import polpo_nb as polpo
from polpo_nb.notebook import display as nb_display
from polpo_nb.notebook.layout import NODE_W, layered_layout
from polpo_nb.notebook.static import render_html
from polpo_nb.notebook.view import MissionView
from polpo_nb.notebook.widget import MIN_INTERVAL, MissionWidget
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30  # seconds: a hang is a failure, never a timing assertion
EVIL = "<img src=x onerror=alert(1)>"


class Comms:
    """Every message the widgets would send to a front-end."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, dict]] = []
        self.sent_at: list[float] = []  # time.monotonic() of each message, as the engine loop's clock reads

    def update_times(self, widget: MissionWidget) -> list[float]:
        return [at for (t, cid, d), at in zip(self.messages, self.sent_at, strict=True)
                if t == "comm_msg" and cid == widget.model_id and d.get("method") == "update"]

    def updates(self, widget: MissionWidget) -> list[dict]:
        return [d for t, cid, d in self.messages if t == "comm_msg" and cid == widget.model_id and d.get("method") == "update"]

    def custom(self, widget: MissionWidget) -> list[dict]:
        return [d["content"] for t, cid, d in self.messages
                if t == "comm_msg" and cid == widget.model_id and d.get("method") == "custom"]


@pytest.fixture
def comms(monkeypatch) -> Comms:
    log = Comms()

    class RecordingComm(comm.DummyComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            log.messages.append((msg_type, self.comm_id, data or {}))
            log.sent_at.append(time.monotonic())

    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    return log


def front_end(widget: MissionWidget, **content) -> None:
    """A custom message as the browser sends it (the button handlers in widget.js)."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def by_title(widget: MissionWidget) -> dict[str, dict]:
    ids = {n["title"]: n["id"] for n in widget.graph["nodes"]}
    return {title: widget.state["tasks"][tid] for title, tid in ids.items()}


def settled_like(widget: MissionWidget, record) -> bool:
    tasks = widget.state["tasks"]
    return (widget.state["mission"]["status"] == record.status.value
            and all(tasks[t.id]["status"] == t.status.value for t in record.tasks))


def test_widget_state_after_a_mission_run(project, comms):
    @project.agent("w")
    def work(task, ctx):
        if task.title == "broken":
            raise RuntimeError("no luck")
        return "thin" if task.title == "draft" and ctx.feedback is None else f"did {task.title}"

    project.judge(lambda e, t, r: 2 if r.content == "thin" else 5)
    mission = (polpo.Mission("report").task("research", assign_to="w").task("broken", assign_to="w", max_retries=0)
               .task("draft", assign_to="w", depends_on=["research"], expectations=["complete"])
               .task("appendix", assign_to="w", depends_on=["broken"]))
    run = project.execute(mission)
    widget = MissionWidget(project, run.mission_id)
    record = run.wait(WAIT)
    assert record.status == MissionStatus.FAILED
    wait_for(lambda: settled_like(widget, record))

    graph = widget.graph
    titles = [n["title"] for n in graph["nodes"]]
    assert titles == ["research", "broken", "draft", "appendix"]
    index = {t: i for i, t in enumerate(titles)}
    assert sorted(map(tuple, graph["edges"])) == sorted([(index["research"], index["draft"]), (index["broken"], index["appendix"])])
    x = {n["title"]: n["x"] for n in graph["nodes"]}
    assert x["draft"] >= x["research"] + NODE_W and x["research"] == x["broken"]

    tasks = by_title(widget)
    assert tasks["research"]["status"] == "done" and "ms" in tasks["research"]
    assert tasks["draft"] == {**tasks["draft"], "status": "done", "score": 5.0, "passed": True, "attempts": 2}
    assert tasks["broken"]["status"] == "failed" and tasks["appendix"]["status"] == "failed"
    progress = widget.state["progress"]
    assert {k: progress[k] for k in ("total", "done", "failed", "running", "awaiting")} == \
        {"total": 4, "done": 2, "failed": 2, "running": 0, "awaiting": 0}
    assert progress["elapsed"] is not None and progress["ticking"] is False
    events = widget.state["events"]
    assert events[-1]["event"] == "mission:completed" and len(events) <= 12
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    # what the front-end received is what the widget holds
    assert comms.updates(widget)[-1]["state"]["state"] == widget.state


def test_a_burst_of_1000_events_costs_one_message(project, comms):
    """Coalescing, with the clock and the timer in the test's hands (no wall-clock involved)."""
    @project.agent("chatty")
    def chatty(task, ctx):
        for i in range(1000):
            ctx.output(f"line {i}")
        return "ok"

    record = project.save_mission(polpo.Mission("burst").task("talk", assign_to="chatty"))
    now = [100.0]
    scheduled: list[tuple[float, object]] = []
    widget = MissionWidget(project, record.id, clock=lambda: now[0], schedule=lambda d, fn: scheduled.append((d, fn)))
    updates_before = len(comms.updates(widget))
    events = []
    project.subscribe(events.append, "task:output")
    run = project.execute("burst")
    run.wait(WAIT)
    wait_for(lambda: len(events) == 1000)

    assert len(scheduled) == 1 and scheduled[0][0] == 0.0  # the first event asked for a flush; 1,000+ more did not
    assert widget.flushes == 0 and len(comms.updates(widget)) == updates_before

    loop = project.aio._loop
    loop.call_soon_threadsafe(scheduled[0][1])
    wait_for(lambda: widget.flushes == 1)
    assert len(comms.updates(widget)) == updates_before + 1
    assert by_title(widget)["talk"]["status"] == "done"
    assert widget.state["events"][-1]["event"] == "mission:completed"

    # the next event, 30 ms later, is held back for the rest of the interval
    now[0] += 0.03
    project.update_task(run.record().tasks[0].id, {"description": "one more change"})
    wait_for(lambda: len(scheduled) == 2)
    assert scheduled[1][0] == pytest.approx(MIN_INTERVAL - 0.03)


def test_flushes_stay_within_ten_a_second_under_a_real_burst(project, comms):
    @project.agent("chatty")
    async def chatty(task, ctx):
        for i in range(1000):
            ctx.output(f"line {i}")
            if i % 20 == 0:
                await asyncio.sleep(0.005)
        return "ok"

    record = project.save_mission(polpo.Mission("burst").task("talk", assign_to="chatty"))
    widget = MissionWidget(project, record.id)
    start = time.monotonic()
    first = len(comms.updates(widget))
    final = project.execute("burst").wait(WAIT)
    wait_for(lambda: settled_like(widget, final) and widget.state["events"][-1]["event"] == "mission:completed")
    elapsed = time.monotonic() - start
    sent = len(comms.updates(widget)) - first
    # the interval is enforced between messages, so in `elapsed` seconds there can be at most this many
    assert 1 <= sent <= elapsed / MIN_INTERVAL + 1
    assert sent < 100  # 1,000+ events did not become 1,000 messages
    times = comms.update_times(widget)[first:]
    # send to send, never closer than the interval (so never more than ten in any second); a scheduling
    # property of the widget (the timer is set from the previous send), not a speed measurement
    assert all(b - a >= MIN_INTERVAL - 1e-3 for a, b in zip(times, times[1:], strict=False)), times


def test_approve_and_reject_buttons_decide_tasks(project, comms):
    project.agent("w")(lambda task, ctx: "ok")
    mission = (polpo.Mission("ship").task("deploy", assign_to="w", side_effects=True)
               .task("announce", assign_to="w", side_effects=True))
    run = project.execute(mission)
    widget = MissionWidget(project, run.mission_id)
    record = run.wait(WAIT)
    ids = {t.title: t.id for t in record.tasks}
    wait_for(lambda: widget.state["progress"]["awaiting"] == 2)

    front_end(widget, action="approve", taskId=ids["deploy"])
    front_end(widget, action="reject", taskId=ids["announce"])
    wait_for(lambda: by_title(widget)["deploy"]["status"] == "done" and by_title(widget)["announce"]["status"] == "failed")
    assert project.get_task(ids["deploy"]).status == TaskStatus.DONE


def test_actions_on_tasks_of_another_mission_are_refused(project, comms):
    project.agent("w")(lambda task, ctx: "ok")
    other = project.execute(polpo.Mission("other").task("deploy", assign_to="w", side_effects=True)).wait(WAIT)
    run = project.execute(polpo.Mission("mine").task("x", assign_to="w"))
    widget = MissionWidget(project, run.mission_id)
    run.wait(WAIT)
    front_end(widget, action="approve", taskId=other.tasks[0].id)
    wait_for(lambda: widget.state["notice"] is not None)
    assert "not in this mission" in widget.state["notice"]
    assert project.get_task(other.tasks[0].id).status == TaskStatus.AWAITING_APPROVAL


def test_failed_action_shows_a_notice_instead_of_raising(project, comms):
    project.agent("w")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("done-already").task("x", assign_to="w"))
    widget = MissionWidget(project, run.mission_id)
    run.wait(WAIT)
    front_end(widget, action="abort")
    wait_for(lambda: widget.state["notice"] is not None)
    assert widget.state["notice"].startswith("abort failed:")


def test_resume_button_passes_the_checkpoint(project, comms):
    project.agent("w")(lambda task, ctx: "ok")
    mission = (polpo.Mission("cp").task("draft", assign_to="w").task("final", assign_to="w", depends_on=["draft"])
               .checkpoint("review", after=["draft"], message="read it"))
    run = project.execute(mission)
    widget = MissionWidget(project, run.mission_id)
    assert run.wait(WAIT).status == MissionStatus.PAUSED
    wait_for(lambda: widget.state["mission"]["status"] == "paused")
    assert widget.state["mission"]["pause_message"] == "read it"
    front_end(widget, action="resume", retryFailed=False)
    wait_for(lambda: widget.state["mission"]["status"] == "completed")
    assert by_title(widget)["final"]["status"] == "done"


def test_abort_button_cancels_a_running_mission(project, comms):
    release = threading.Event()
    project.agent("slow")(lambda task, ctx: release.wait(WAIT) and "ok")
    run = project.execute(polpo.Mission("long").task("wait", assign_to="slow"))
    widget = MissionWidget(project, run.mission_id)
    wait_for(lambda: by_title(widget)["wait"]["status"] == "in_progress")
    assert "since" in by_title(widget)["wait"]
    front_end(widget, action="abort")
    wait_for(lambda: widget.state["mission"]["status"] == "cancelled")
    release.set()
    assert by_title(widget)["wait"]["status"] == "failed"


def test_selecting_a_task_sends_its_details(project, comms):
    project.agent("w")(lambda task, ctx: {"content": "x" * 10_000})
    run = project.execute(polpo.Mission("m").task("big", "A long output", assign_to="w"))
    widget = MissionWidget(project, run.mission_id)
    task_id = run.wait(WAIT).tasks[0].id
    front_end(widget, action="select", taskId=task_id)
    detail = comms.custom(widget)[-1]
    assert detail["type"] == "detail" and detail["taskId"] == task_id
    assert detail["task"]["description"] == "A long output" and detail["task"]["status"] == "done"
    assert detail["task"]["attempts"] == 1
    assert len(detail["task"]["result"]["content"]) < 4100  # trimmed for the panel


def test_titles_and_outputs_are_escaped_in_the_static_html(project):
    @project.agent("w")
    def work(task, ctx):
        ctx.output("<script>alert(2)</script>")
        return "<b>bold</b>"

    record = project.execute(polpo.Mission(f"m {EVIL}").task(EVIL, assign_to="w")).wait(WAIT)
    html = render_html(MissionView(record, project.replay(0)))
    assert "<img" not in html and "<script" not in html and "<b>" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 2  # the mission's name and the task's title


def test_static_html_draws_the_widgets_layers_in_order(project, comms):
    project.agent("w")(lambda task, ctx: "ok")
    mission = (polpo.Mission("m").task("b1", assign_to="w").task("a", assign_to="w")
               .task("c", assign_to="w", depends_on=["a", "b1"]).task("d", assign_to="w", depends_on=["c"]))
    run = project.execute(mission)
    widget = MissionWidget(project, run.mission_id)
    record = run.wait(WAIT)
    wait_for(lambda: settled_like(widget, record))
    html = render_html(MissionView(record))
    layers = [re.findall(r'polpo-static-title"[^>]*>([^<]*)<', layer) for layer in html.split('class="polpo-static-layer"')[1:]]
    by_x: dict[int, list[tuple[int, str]]] = {}
    for node in widget.graph["nodes"]:
        by_x.setdefault(node["x"], []).append((node["y"], node["title"]))
    assert layers == [[t for _, t in sorted(col)] for _, col in sorted(by_x.items())] == [["b1", "a"], ["c"], ["d"]]
    assert html.count("polpo-status-done") == 4 + 1  # four nodes and the legend's key
    assert "after a, b1" in html and "✓ 4 done" in html


def test_static_html_survives_nbconverts_sanitizer_as_readable_text(project):
    """nbconvert's clean_html escapes every tag it does not allow: the picture must use none of them,
    and still say every task's title, status, score and attempts, in order, without its styles."""
    from nbconvert.filters.strings import clean_html

    @project.agent("w")
    def work(task, ctx):
        if task.title == "broken":
            raise RuntimeError("boom")
        return "thin" if ctx.feedback is None else "full"

    project.judge(lambda e, t, r: 5 if r.content == "full" else 2)
    mission = (polpo.Mission("report").task("draft", assign_to="w", expectations=["complete"])
               .task("broken", assign_to="w", max_retries=0).task("appendix", assign_to="w", depends_on=["broken"]))
    record = project.execute(mission).wait(WAIT)
    cleaned = clean_html(render_html(MissionView(record, project.replay(0))))
    assert "&lt;" not in cleaned and "style=" not in cleaned
    lines = [line.strip() for line in re.split(r"<[^>]+>", cleaned) if line.strip()]
    assert lines[:3] == ["report", "mission failed", lines[2]] and lines[2].startswith("1/3 tasks done")
    assert lines[lines.index("draft"):lines.index("draft") + 3] == ["draft", lines[lines.index("draft") + 1], "w · score 5.0 ✓ · 2 attempts"]
    assert lines[lines.index("draft") + 1].startswith("✓ done · ")
    assert "✗ failed" in lines[lines.index("broken") + 1]
    assert lines[lines.index("appendix") + 1] == "↷ skipped" and "after broken" in lines
    assert lines[-3:] == ["✓ 1 done", "✗ 1 failed", "↷ 1 skipped"]


def test_run_displays_html_and_text_outside_a_kernel(project):
    project.agent("w")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="w"))
    run.wait(WAIT)
    bundle = run._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert "polpo-status-done" in bundle["text/html"] and "completed" in bundle["text/plain"]
    assert run.widget is None


def test_repr_html_is_the_static_dag_without_a_widget_even_in_a_kernel(project, comms, monkeypatch):
    monkeypatch.setattr(nb_display, "in_kernel", lambda: True)
    project.agent("w")(lambda task, ctx: "ok")
    mission = polpo.Mission("m").task(EVIL, assign_to="w")
    assert EVIL not in mission._repr_html_() and "&lt;img src=x" in mission._repr_html_()
    run = project.execute(mission)
    run.wait(WAIT)
    html = run._repr_html_()
    assert "polpo-status-done" in html and EVIL not in html and "&lt;img src=x" in html
    assert run.widget is None and comms.messages == []


def test_run_displays_one_live_widget_in_a_kernel(project, comms, monkeypatch):
    monkeypatch.setattr(nb_display, "in_kernel", lambda: True)
    project.agent("w")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="w"))
    first, second = run._repr_mimebundle_(), run._repr_mimebundle_()
    assert set(first) == {nb_display.WIDGET_MIME, "text/html", "text/plain"}
    assert first[nb_display.WIDGET_MIME]["model_id"] == second[nb_display.WIDGET_MIME]["model_id"] == run.widget.model_id
    assert "polpo-static-node" in first["text/html"]


def test_a_mission_definition_displays_its_dag():
    mission = (polpo.Mission("plan").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
               .task("c", assign_to="w", depends_on=["a", "b"]))
    bundle = mission._repr_mimebundle_()
    html = bundle["text/html"]
    assert html.count('polpo-static-node polpo-status-draft') == 3 and "○ 3 draft" in html
    assert "after a, b" in html and "as of" not in html  # a definition is not a snapshot of a run
    assert bundle["text/plain"] == "<Mission 'plan': 3 tasks>"


def test_layered_layout_puts_each_task_right_of_its_dependencies():
    titles = ["a", "b", "c", "d", "e"]
    deps = [[], [], ["a"], ["a", "b"], ["c", "d"]]
    layout = layered_layout(titles, deps)
    pos = dict(zip(titles, layout.positions, strict=True))
    for title, ds in zip(titles, deps, strict=True):
        for d in ds:
            assert pos[title][0] > pos[d][0]
    assert len(set(layout.positions)) == len(titles)  # no two nodes on the same spot
    assert len(layout.edges) == 5 and layout.width > pos["e"][0] and layout.height > max(y for _, y in layout.positions)


def test_widget_messages_from_the_engine_thread_carry_the_displaying_cells_parent(tmp_path):
    """In a real ipykernel: a mission started in one cell, displayed in a second, released in a third. The
    updates are sent from the engine thread after the second cell ended; each carries its parent header."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        def execute(code: str) -> str:
            msg_id = kc.execute(textwrap.dedent(code))
            reply = kc.get_shell_msg(timeout=WAIT)
            assert reply["content"]["status"] == "ok", reply["content"]
            return msg_id

        start = execute(f"""
            import threading, polpo_nb as polpo
            project = polpo.Project({str(tmp_path)!r})
            release = threading.Event()
            project.agent("w")(lambda task, ctx: release.wait(30) and "ok")
            run = project.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"]))
        """)
        shown = execute("run")
        released = execute("release.set(); run.wait(30); None")
        updates = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                msg = kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if msg["msg_type"] == "comm_msg" and msg["content"]["data"].get("method") == "update":
                updates.append(msg)
                state = msg["content"]["data"]["state"].get("state", {})
                if state.get("mission", {}).get("status") == "completed":
                    break
        assert updates, "no widget update reached the iopub channel"
        assert updates[-1]["content"]["data"]["state"]["state"]["mission"]["status"] == "completed"
        parents = {m["parent_header"].get("msg_id") for m in updates}
        assert parents == {shown}, (start, shown, released, parents)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# -- what the state says about a task and the clock (issue 12: the display side) ----------------------

def test_a_retried_task_shows_its_attempts_not_more_retries_than_its_budget(project):
    """`retries` counts every time the task was sent back (automatic and by hand): the badge shows
    attempts made, which a reader can compare with nothing wrong."""
    project.agent("w")(lambda task, ctx: (_ for _ in ()).throw(RuntimeError("boom")))
    run = project.execute(polpo.Mission("m").task("flaky", assign_to="w", max_retries=2))
    task = run.wait(WAIT).tasks[0]
    assert task.status == TaskStatus.FAILED and task.retries == 2
    item = MissionView(run.record()).state()["tasks"][task.id]
    assert item["attempts"] == 3 and "retries" not in item
    project.retry_task(task.id)
    wait_for(lambda: run.record().status == MissionStatus.FAILED and run.record().tasks[0].retries > 2)
    again = run.record().tasks[0]
    assert again.retries > again.max_retries  # the engine's count, by hand and automatic
    assert MissionView(run.record()).state()["tasks"][task.id]["attempts"] == again.retries + 1


def test_a_task_sent_back_to_pending_shows_no_old_duration(project):
    project.agent("w")(lambda task, ctx: "ok")
    record = project.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
    done = record.tasks[0]
    assert "ms" in MissionView(record).state()["tasks"][done.id]
    back = record.model_copy(update={"status": MissionStatus.ACTIVE,
                                     "tasks": [done.model_copy(update={"status": TaskStatus.PENDING})]})
    assert "ms" not in MissionView(back).state()["tasks"][done.id]


@pytest.mark.parametrize("wait_on", ["checkpoint", "approval"])
def test_the_clock_stops_while_the_mission_waits_for_a_human(project, wait_on):
    project.agent("w")(lambda task, ctx: "ok")
    mission = polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"],
                                                                side_effects=wait_on == "approval")
    if wait_on == "checkpoint":
        mission = mission.checkpoint("look", after=["a"])
    record = project.execute(mission).wait(WAIT)
    assert (record.status == MissionStatus.PAUSED) == (wait_on == "checkpoint")
    view = MissionView(record, project.replay(0))
    now = time.time() * 1000
    first, later = view.state(now)["progress"], view.state(now + 3_600_000)["progress"]
    assert first["ticking"] is False
    assert first["elapsed"] is not None and first["elapsed"] == later["elapsed"]


def test_an_aborted_mission_shows_its_unfinished_tasks_as_aborted(project):
    release = threading.Event()
    project.agent("w")(lambda task, ctx: "ok")
    project.agent("slow")(lambda task, ctx: release.wait(WAIT) and "ok")
    run = project.execute(polpo.Mission("m").task("quick", assign_to="w").task("wait", assign_to="slow")
                          .task("after", assign_to="w", depends_on=["wait"]))
    wait_for(lambda: {t.title: t.status for t in run.record().tasks} == {
        "quick": TaskStatus.DONE, "wait": TaskStatus.IN_PROGRESS, "after": TaskStatus.PENDING})
    project.abort("m")
    release.set()
    record = run.record()
    assert record.status == MissionStatus.CANCELLED
    view = MissionView(record)
    tasks = {t.title: view.state()["tasks"][t.id] for t in record.tasks}
    assert tasks["quick"]["status"] == "done" and "reason" not in tasks["quick"]
    assert tasks["wait"]["status"] == "failed" and tasks["wait"]["reason"] == "aborted"
    assert tasks["after"]["reason"] == "aborted"
    html = render_html(view)
    assert html.count("aborted") >= 2


def _user_code_that_fails(task, ctx):
    raise RuntimeError("boom")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_crashed_tasks_traceback_shows_the_users_code_first(project, comms, kind):
    async def async_agent(task, ctx):
        _user_code_that_fails(task, ctx)

    project.agent("w")(_user_code_that_fails if kind == "sync" else async_agent)
    run = project.execute(polpo.Mission("m").task("crash", assign_to="w", max_retries=0))
    task = run.wait(WAIT).tasks[0]
    stored = task.result.error
    assert f'File "{polpo.__file__.rsplit("/", 1)[0]}/' in stored  # the record keeps every frame, polpo's too
    widget = MissionWidget(project, run.mission_id)
    front_end(widget, action="select", taskId=task.id)
    shown = comms.custom(widget)[-1]["task"]["result"]["error"].splitlines()
    assert shown[0] == "Traceback (most recent call last):"
    assert re.fullmatch(r"  … \d+ polpo/asyncio frames? hidden", shown[1])
    assert shown[2].startswith(f'  File "{__file__}"') and "_user_code_that_fails" in shown[-3 if kind == "sync" else -3]
    assert shown[-1] == "RuntimeError: boom"
    assert not [line for line in shown if "polpo_nb" in line or "/asyncio/" in line or "concurrent/futures" in line]


def test_folding_keeps_chained_tracebacks_and_polpos_own_errors():
    from polpo_nb.tracebacks import fold

    polpo_dir = pathlib.Path(polpo.__file__).parent
    chained = (
        "Traceback (most recent call last):\n"
        f'  File "{polpo_dir}/engine/engine.py", line 1, in _call_agent\n    value = await run()\n'
        f'  File "{__file__}", line 2, in agent\n    int("x")\n'
        "ValueError: invalid literal\n\nThe above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        f'  File "{polpo_dir}/engine/engine.py", line 1, in _call_agent\n    value = await run()\n'
        f'  File "{asyncio.__file__}", line 3, in wait_for\n    return await fut\n'
        f'  File "{__file__}", line 4, in agent\n    raise RuntimeError("boom") from exc\n'
        "RuntimeError: boom\n"
    )
    folded = fold(chained).splitlines()
    assert folded.count("  … 1 polpo/asyncio frame hidden") == 1 and folded.count("  … 2 polpo/asyncio frames hidden") == 1
    assert [line for line in folded if line.startswith("  File")] == [f'  File "{__file__}", line 2, in agent',
                                                                       f'  File "{__file__}", line 4, in agent']
    assert folded[-1] == "RuntimeError: boom" and "ValueError: invalid literal" in folded
    only_polpo = f'Traceback (most recent call last):\n  File "{polpo_dir}/engine/engine.py", line 1, in x\n    y\nKeyError: 1\n'
    assert fold(only_polpo) == only_polpo  # polpo's own bug: its frames are the story
    assert fold("timed out after 50 ms (maxDuration)") == "timed out after 50 ms (maxDuration)"


def test_a_displayed_run_shows_how_it_settled_not_how_it_started(tmp_path):
    """In a real ipykernel: the run is displayed while its first task runs, then settles at a checkpoint and
    is resumed to the end. Its output is replaced each time it settles: from the widget (with the parent of
    the displaying cell, which JupyterLab follows) and from `run.wait()` (with the waiting cell's parent,
    which nbclient follows), so the saved picture is never the stale 'running' one."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        def execute(code: str) -> str:
            msg_id = kc.execute(textwrap.dedent(code))
            reply = kc.get_shell_msg(timeout=WAIT)
            assert reply["content"]["status"] == "ok", reply["content"]
            return msg_id

        execute(f"""
            import threading, polpo_nb as polpo
            project = polpo.Project({str(tmp_path)!r})
            release = threading.Event()
            project.agent("w")(lambda task, ctx: release.wait(30) and "ok")
            run = project.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
                                  .checkpoint("look", after=["a"]))
        """)
        shown = execute("run")
        paused = execute("release.set(); run.wait(30); None")
        resumed = execute("project.resume('m'); run.wait(30); None")
        displays: list[dict] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                msg = kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if msg["msg_type"] in ("display_data", "update_display_data", "execute_result"):
                displays.append(msg)
                if msg["parent_header"].get("msg_id") == resumed and "mission completed" in msg["content"]["data"]["text/html"]:
                    break
        first, updates = displays[0], displays[1:]
        assert first["msg_type"] == "display_data" and first["parent_header"]["msg_id"] == shown
        display_id = first["content"]["transient"]["display_id"]
        assert "▶ 1 running" in first["content"]["data"]["text/html"] or "○ 2 pending" in first["content"]["data"]["text/html"]
        assert nb_display.WIDGET_MIME in first["content"]["data"]
        assert updates and {m["msg_type"] for m in updates} == {"update_display_data"}
        assert {m["content"]["transient"]["display_id"] for m in updates} == {display_id}
        by_parent = {}
        for m in updates:
            by_parent.setdefault(m["parent_header"]["msg_id"], []).append(m["content"]["data"]["text/html"])
        assert any("mission paused" in html for html in by_parent[paused])
        assert any("mission completed" in html for html in by_parent[resumed])
        assert any("mission paused" in html for html in by_parent[shown])  # the widget's, as it settled
        final = updates[-1]["content"]["data"]
        assert "✓ 2 done" in final["text/html"] and "running" not in final["text/html"]
        assert final[nb_display.WIDGET_MIME] == first["content"]["data"][nb_display.WIDGET_MIME]  # the same live widget
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_on_settled_fires_when_the_run_settles_anew_not_for_how_the_widget_found_it(project, comms):
    project.agent("w")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("cp").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
                          .checkpoint("look", after=["a"]))
    assert run.wait(WAIT).status == MissionStatus.PAUSED
    widget = MissionWidget(project, run.mission_id)  # opens on a paused run
    settled: list[str] = []
    widget.on_settled = lambda graph, state: settled.append(state["mission"]["status"])
    pending = next(t.id for t in run.record().tasks if t.title == "b")
    front_end(widget, action="approve", taskId=pending)  # refused: a notice, so a flush while still paused
    wait_for(lambda: (widget.state.get("notice") or "").startswith("approve failed"))
    assert settled == []
    front_end(widget, action="resume", retryFailed=False)
    wait_for(lambda: widget.state["mission"]["status"] == "completed")
    assert settled == ["completed"]
