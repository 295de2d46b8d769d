"""The widget's "Re-run from here" button (issue 22): the kernel side with a real project, and widget.js
in real Chromium (on a stub model, as the other buttons are tested)."""

from __future__ import annotations

from collections import Counter

import pytest
from lab_pages import stub_widget
from playwright.sync_api import Browser
from support import WAIT, wait_for
from test_notebook_widget import by_title, comms, front_end  # noqa: F401 - comms: the fixture recording comm messages

import polpo_nb as polpo
from polpo_nb.notebook.view import describe
from polpo_nb.notebook.widget import MissionWidget
from polpo_nb.spec import MissionStatus


@pytest.mark.usefixtures("comms")
def test_the_rerun_message_reruns_the_tail_and_the_widget_follows(project):
    calls: Counter = Counter()

    @project.agent("w")
    def work(task, ctx):
        calls[task.title] += 1
        return "ok"
    mission = (polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
               .task("c", assign_to="w", depends_on=["b"]))
    run = project.execute(mission)
    widget = MissionWidget(project, run.mission_id)
    record = run.wait(WAIT)
    wait_for(lambda: widget.state["mission"]["status"] == "completed")
    ids = {t.title: t.id for t in record.tasks}
    front_end(widget, action="rerun", taskId=ids["b"])
    wait_for(lambda: project.replay(0, "mission:rerun") and project.get_mission("m").status == MissionStatus.COMPLETED)
    (rerun,) = project.replay(0, "mission:rerun")
    assert describe(rerun, {}) == "re-run from 'b': b, c"  # its line in the widget's event list
    assert calls == Counter({"a": 1, "b": 2, "c": 2})
    # the widget followed the re-run to its end: it shows the mission completed after the re-run
    wait_for(lambda: any(e["event"] == "mission:completed" and e["id"] > rerun.id for e in widget.state["events"]))
    assert widget.state["mission"]["status"] == "completed" and by_title(widget)["c"]["status"] == "done"


@pytest.mark.usefixtures("comms")
def test_a_refused_rerun_shows_a_notice(project):
    project.agent("w")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="w").task("d", assign_to="w", side_effects=True))
    widget = MissionWidget(project, run.mission_id)
    record = run.wait(WAIT)
    front_end(widget, action="rerun", taskId=record.tasks[0].id)
    wait_for(lambda: widget.state["notice"] is not None)
    assert widget.state["notice"] == "rerun failed: Mission 'm' waits for a decision: 'd' awaits approval: approve " \
                                     "or reject it first"


GRAPH = {"rev": 1, "width": 300, "height": 64, "edges": [[0, 1]],
         "nodes": [{"id": "t1", "title": "Draft", "agent": "w", "x": 8, "y": 8},
                   {"id": "t2", "title": "Publish", "agent": "w", "x": 160, "y": 8}]}


def _state(status: str, task_status: str) -> dict:
    return {"graphRev": 1, "mission": {"id": "m1", "name": "notes", "status": status},
            "tasks": {"t1": {"status": task_status}, "t2": {"status": "pending"}},
            "progress": {"total": 2, "done": 1, "failed": 0, "running": 0, "awaiting": 0, "elapsed": 1.0, "ticking": False},
            "events": [], "notice": None}


def test_the_rerun_button_of_a_settled_mission_sends_rerun_in_chromium(browser: Browser):
    page = browser.new_page()
    detail = {"type": "detail", "task": {"id": "t1", "title": "Draft", "status": "done", "result": {"content": "v1"}}}
    stub_widget(page, GRAPH, _state("completed", "done"), detail)
    page.locator('.polpo-node:has(title:text-is("Draft (w)"))').click()
    page.wait_for_selector(".polpo-detail pre")
    button = page.locator(".polpo-detail button.polpo-rerun")
    assert button.text_content() == "Re-run from here"
    button.click()
    assert page.evaluate("() => window.sent") == [{"action": "select", "taskId": "t1"}, {"action": "rerun", "taskId": "t1"}]
    assert button.is_disabled()  # until the next state arrives


def test_no_rerun_button_while_the_mission_runs_or_for_a_task_that_has_not_run(browser: Browser):
    page = browser.new_page()
    detail = {"type": "detail", "task": {"id": "t1", "title": "Draft", "status": "done", "result": {"content": "v1"}}}
    stub_widget(page, GRAPH, _state("active", "done"), detail)
    page.locator('.polpo-node:has(title:text-is("Draft (w)"))').click()
    page.wait_for_selector(".polpo-detail pre")
    assert not page.locator(".polpo-detail button.polpo-rerun").is_visible()
    page = browser.new_page()
    pending = {"type": "detail", "task": {"id": "t2", "title": "Publish", "status": "pending"}}
    stub_widget(page, GRAPH, _state("paused", "done"), pending)
    page.locator('.polpo-node:has(title:text-is("Publish (w)"))').click()
    page.wait_for_selector(".polpo-detail .polpo-detail-title")
    assert not page.locator(".polpo-detail button.polpo-rerun").is_visible()
