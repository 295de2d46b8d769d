"""The mission widget showing a run of another process (a `polpo serve`, another kernel) that is killed:
a `kill -9` writes nothing, so no event tells the widget; it must still come to say that the process
stopped, offer Resume, and let that Resume take the run over here."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lab_pages import stub_widget
from playwright.sync_api import Browser
from support import wait_for
from test_notebook_widget import by_title, comms, front_end  # noqa: F401 - `comms` is a fixture

import polpo_nb as polpo
from polpo_nb.notebook.widget import MissionWidget

WAIT = 30
STOPPED = "The process running it stopped"


@contextmanager
def run_elsewhere_then_killed(project: polpo.Project, name: str, titles: list[str]) -> Iterator[str]:
    """`name` (a chain of `titles` played by `w`, whose first call never returns) run by another process
    until its first task is in progress; that process is killed (`kill -9`) on leaving. Yields its id."""
    mission = {"name": name, "tasks": [{"title": t, "assignTo": "w", **({"dependsOn": [titles[i - 1]]} if i else {})}
                                       for i, t in enumerate(titles)]}
    script = ("import json, sys, time, polpo_nb as polpo\n"
              "project = polpo.Project(sys.argv[1])\n"
              "project.agent('w')(lambda task, ctx: time.sleep(600))\n"
              "project.execute(json.loads(sys.argv[2]))\n"
              "print('started', flush=True)\n"
              "time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", script, str(project.root), json.dumps(mission)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "started"
        found = project.get_mission(name)
        wait_for(lambda: project.get_mission(found.id).tasks[0].status.value == "in_progress", timeout=WAIT)
        yield found.id
    finally:
        child.kill()
        child.wait(WAIT)


def resume_shown(browser: Browser, graph: dict, state: dict) -> tuple[bool, str, list[dict]]:
    """widget.js in Chromium on this state: whether Resume shows, the header's message, what a click on
    Resume (when shown) sends."""
    page = browser.new_page()
    try:
        stub_widget(page, graph, state, {})
        button = page.locator("button.polpo-resume")
        shown = button.is_visible()
        if shown:
            button.click()
        return shown, page.locator(".polpo-message").inner_text(), page.evaluate("() => window.sent || []")
    finally:
        page.close()


def test_a_widget_learns_that_the_missions_process_was_killed_and_resumes_it(project, comms, browser):  # noqa: F811
    project.agent("w")(lambda task, ctx: "ok")
    with run_elsewhere_then_killed(project, "elsewhere", ["Held", "After"]) as mission_id:
        widget = MissionWidget(project, mission_id, watch_seconds=0.2)
        assert widget.state["mission"]["status"] == "active"
        assert widget.state["mission"].get("pause_message") is None  # its process is alive: it runs
        assert resume_shown(browser, widget.graph, widget.state) == (False, "", [])
    wait_for(lambda: widget.state["mission"].get("pause_message") == STOPPED, timeout=WAIT)
    assert widget.state["mission"]["status"] == "active" and widget.state["mission"]["pause_reason"] == "interrupted"
    assert widget.state["progress"]["ticking"] is False  # nothing runs: the clock stops
    assert resume_shown(browser, widget.graph, widget.state) == (True, STOPPED,
                                                                 [{"action": "resume", "retryFailed": False}])
    front_end(widget, action="resume", retryFailed=False)
    wait_for(lambda: widget.state["mission"]["status"] == "completed", timeout=WAIT)
    assert [t["status"] for t in by_title(widget).values()] == ["done", "done"]
    assert widget.state["mission"].get("pause_message") is None
    widget.close()


def test_a_widget_opened_on_a_mission_whose_process_died_says_so(project, comms):  # noqa: F811
    with run_elsewhere_then_killed(project, "orphan", ["Held"]) as mission_id:
        pass
    widget = MissionWidget(project, mission_id)
    assert widget.state["mission"]["pause_message"] == STOPPED
    assert widget.state["mission"]["pause_reason"] == "interrupted"
    widget.close()


def test_a_widget_of_a_mission_this_kernel_runs_never_asks_about_its_process(project, comms, monkeypatch):  # noqa: F811
    """The kernel that runs the mission is the one showing it: its process is alive while the widget
    is, so the widget does not read the missions every few seconds to learn it."""
    release = threading.Event()
    project.agent("w")(lambda task, ctx: release.wait(WAIT) and "ok")
    asked: list[str] = []
    resumable = project.aio.resumable_missions
    monkeypatch.setattr(project.aio, "resumable_missions", lambda: asked.append("asked") or resumable())
    run = project.execute(polpo.Mission("here").task("a", assign_to="w"))
    widget = MissionWidget(project, run.mission_id, watch_seconds=0.05)
    wait_for(lambda: widget.state["tasks"] and next(iter(widget.state["tasks"].values()))["status"] == "in_progress",
             timeout=WAIT)
    threading.Event().wait(1.0)  # twenty intervals of the watch, the mission active all along
    asked_while_it_ran = list(asked)
    release.set()
    assert run.wait(WAIT).status.value == "completed"
    # (one look may come as the run ends here, before the widget has the events that say it ended)
    assert asked_while_it_ran == []
    widget.close()


def test_what_the_killed_process_wrote_before_the_look_and_is_delivered_after_it_does_not_say_it_runs(project, comms, monkeypatch):  # noqa: F811
    """This process delivers what others commit when its follower wakes, so the last events of a process
    killed a moment ago may reach a widget after it looked and found the process gone. Written before the
    look, they say nothing of the process now: the widget goes on saying that it stopped."""
    bus = project.aio.bus
    deliver, held = bus.poll, threading.Event()
    held.set()
    monkeypatch.setattr(bus, "poll", lambda: 0 if held.is_set() else deliver())
    with run_elsewhere_then_killed(project, "late", ["Held"]) as mission_id:
        pass
    widget = MissionWidget(project, mission_id)
    assert widget.state["mission"]["pause_message"] == STOPPED
    shown = len(widget.state["events"])
    held.clear()
    assert deliver() > 0  # the dead process's events, delivered only now
    wait_for(lambda: len(widget.state["events"]) > shown, timeout=WAIT)
    assert widget.state["mission"]["pause_message"] == STOPPED
    assert widget.state["progress"]["ticking"] is False
    widget.close()
