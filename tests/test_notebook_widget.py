"""The mission widget without a browser: its synced state, coalescing, actions, escaping, displays, and
the parent header of its messages in a real kernel."""

from __future__ import annotations

import asyncio
import queue
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
    assert tasks["draft"] == {**tasks["draft"], "status": "done", "score": 5.0, "passed": True, "retries": 1}
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
    assert len(detail["task"]["result"]["content"]) < 4100  # trimmed for the panel


def test_titles_and_outputs_are_escaped_in_the_static_html(project):
    @project.agent("w")
    def work(task, ctx):
        ctx.output("<script>alert(2)</script>")
        return "<b>bold</b>"

    record = project.execute(polpo.Mission(f"m {EVIL}").task(EVIL, assign_to="w")).wait(WAIT)
    html = render_html(MissionView(record, project.replay(0)))
    assert "<img" not in html and "<script" not in html and "<b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html


def test_static_html_draws_the_same_layout_as_the_widget(project, comms):
    project.agent("w")(lambda task, ctx: "ok")
    mission = polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
    run = project.execute(mission)
    widget = MissionWidget(project, run.mission_id)
    record = run.wait(WAIT)
    wait_for(lambda: settled_like(widget, record))
    html = render_html(MissionView(record))
    for node in widget.graph["nodes"]:
        assert f'<rect x="{node["x"]}" y="{node["y"]}"' in html
        assert f'data-task-id="{node["id"]}" data-status="done"' in html


def test_run_displays_html_and_text_outside_a_kernel(project):
    project.agent("w")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="w"))
    run.wait(WAIT)
    bundle = run._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert 'data-status="done"' in bundle["text/html"] and "completed" in bundle["text/plain"]
    assert run._widget is None


def test_repr_html_is_the_static_dag_without_a_widget_even_in_a_kernel(project, comms, monkeypatch):
    monkeypatch.setattr(nb_display, "in_kernel", lambda: True)
    project.agent("w")(lambda task, ctx: "ok")
    mission = polpo.Mission("m").task(EVIL, assign_to="w")
    assert EVIL not in mission._repr_html_() and "&lt;img src=x" in mission._repr_html_()
    run = project.execute(mission)
    run.wait(WAIT)
    html = run._repr_html_()
    assert 'data-status="done"' in html and EVIL not in html and "&lt;img src=x" in html
    assert run._widget is None and comms.messages == []


def test_run_displays_one_live_widget_in_a_kernel(project, comms, monkeypatch):
    monkeypatch.setattr(nb_display, "in_kernel", lambda: True)
    project.agent("w")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="w"))
    first, second = run._repr_mimebundle_(), run._repr_mimebundle_()
    assert set(first) == {nb_display.WIDGET_MIME, "text/html", "text/plain"}
    assert first[nb_display.WIDGET_MIME]["model_id"] == second[nb_display.WIDGET_MIME]["model_id"] == run._widget.model_id
    assert "data-task-id" in first["text/html"]


def test_a_mission_definition_displays_its_dag():
    mission = (polpo.Mission("plan").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
               .task("c", assign_to="w", depends_on=["a", "b"]))
    bundle = mission._repr_mimebundle_()
    assert bundle["text/html"].count('data-status="draft"') == 3
    assert bundle["text/html"].count("<path ") == 3
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
