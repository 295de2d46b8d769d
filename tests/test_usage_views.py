"""Where people look in a notebook: the widget's synced state and the static picture carry the mission's
spend (tokens, USD, unpriced calls said apart) and each task's cost; widget.js shows them (Chromium)."""

from __future__ import annotations

import comm
import pytest
from lab_pages import stub_widget
from playwright.sync_api import Browser
from support import wait_for

import polpo_nb as polpo
from polpo_nb.notebook.static import render_state_html
from polpo_nb.notebook.widget import MissionWidget
from polpo_nb.testing import LoopbackOpenAI, text

WAIT = 30


def usage(body: dict, message: dict) -> dict:
    return {"prompt_tokens": 1000, "completion_tokens": 234, "total_tokens": 1234}


@pytest.fixture
def no_front_end(monkeypatch):
    monkeypatch.setattr(comm, "create_comm", comm.DummyComm)


def test_widget_state_and_static_picture_carry_the_spend(project_dir, no_front_end):
    mission = polpo.Mission.model_validate({
        "name": "costed", "tasks": [{"title": "priced", "assignTo": "p"}, {"title": "free?", "assignTo": "u"}],
        "team": {"agents": [{"name": "p", "model": "local:p"}, {"name": "u", "model": "local:u"}]},
    })
    with LoopbackOpenAI(lambda body: text("ok"), usage=usage) as server, polpo.Project(project_dir, config={
            "providers": {"local": {"baseUrl": server.base_url}},
            "prices": {"local:p": {"inputPerMtok": 2.0, "outputPerMtok": 10.0}}}) as project:
        run = project.execute(mission)
        record = run.wait(WAIT)
        widget = MissionWidget(project, record.id)
        wait_for(lambda: widget.state.get("spend", {}).get("tokens") == 2468)
        state, graph = widget.state, widget.graph
        static = run._repr_html_()

    ids = {n["title"]: n["id"] for n in graph["nodes"]}
    assert state["spend"] == {"tokens": 2468, "usd": 0.00434, "unpriced": 1}  # 1000*2/M + 234*10/M; u flagged
    priced = state["tasks"][ids["priced"]]
    assert (priced["tokens"], priced["usd"]) == (1234, 0.00434) and "unpriced" not in priced
    assert "usd" not in state["tasks"][ids["free?"]] and state["tasks"][ids["free?"]]["unpriced"] == 1
    html = render_state_html(graph, state)
    assert "2,468 tokens · $0.0043 · 1 unpriced call" in html
    assert "1,234 tokens · $0.0043" in html and "1,234 tokens · 1 unpriced call" in html
    assert "2,468 tokens · $0.0043 · 1 unpriced call" in static  # the picture outside a kernel, too


def test_widget_js_shows_the_spend_in_its_header_and_each_tasks_cost(browser: Browser):
    graph = {"rev": 1, "width": 400, "height": 64, "edges": [],
             "nodes": [{"id": "t1", "title": "priced", "agent": "p", "x": 8, "y": 8},
                       {"id": "t2", "title": "unpriced", "agent": "u", "x": 208, "y": 8}]}
    state = {"graphRev": 1, "mission": {"id": "m1", "name": "costed", "status": "completed"},
             "tasks": {"t1": {"status": "done", "ms": 1500, "tokens": 1234, "usd": 0.00434},
                       "t2": {"status": "done", "ms": 900, "tokens": 1234, "unpriced": 1}},
             "progress": {"total": 2, "done": 2, "failed": 0, "running": 0, "awaiting": 0, "elapsed": 2.0,
                          "ticking": False},
             "events": [], "notice": None, "spend": {"tokens": 2468, "usd": 0.00434, "unpriced": 1}}
    page = browser.new_page()
    stub_widget(page, graph, state, {})
    assert page.locator(".polpo-summary").text_content().endswith("· 2,468 tokens · $0.0043 · 1 unpriced call")
    labels = page.locator(".polpo-node-status").all_text_contents()
    assert labels == ["done · 1.5s · $0.0043", "done · 900ms · 1,234 tok"]
