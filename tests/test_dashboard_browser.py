"""The dashboard (`/ui/`) on a real `polpo serve`, in Debian's Chromium driven by Playwright.

The page loads without the key and asks for it; a wrong key says so; with the right one, the missions
list fills in live as a mission runs (its agents wait for files this test writes, so each step is
seen), Approve in the inbox and Resume on a paused checkpoint act through the API (checked through
the API), a hostile title stays text, and a reload (also after a server restart) shows the same state.
Screenshots of each page go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_pages import fresh_page
from dashboard_pages import login as dashboard_login
from playwright.sync_api import Browser, Page, expect
from server.server_helpers import WAIT, free_port, start_serve, stop_serve

from polpo_nb.notebook.layout import layered_layout
from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
KEY = "sk_dash_0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
WAIT_MS = int(WAIT * 1000)
EVIL = '<img src=x onerror="window.pwned=1">'

BURST = 3000
AGENTS = '''
"""The dashboard tests' agents: `waiter` finishes when the test writes go/<title>."""
import asyncio

BURST = __BURST__


async def waiter(task, ctx):
    gate = ctx.project_dir / "go" / task.title
    while not gate.exists():
        await asyncio.sleep(0.02)
    return {"content": f"did {task.title}"}


def chatty(task, ctx):
    for i in range(BURST):
        ctx.output(f"line {i}")
    return "said a lot"


def flaky(task, ctx):
    if not (ctx.project_dir / "go" / task.title).exists():
        raise RuntimeError(f"{task.title}: not yet")
    return f"{task.title}: at last"


def writer(task, ctx):
    ctx.log(f"writing the report of {task.title}")
    (ctx.output_dir / "report.md").write_text(f"# {task.title}\\n\\nAll good.\\n")
    return {"content": f"wrote the report of {task.title}", "filesCreated": [".polpo/output/report.md"]}
'''.replace("__BURST__", str(BURST))


CHAT_ANSWER = "You have missions; none waits for you."


def orchestrator(body: dict[str, Any]) -> dict[str, Any]:
    """The scripted orchestrator model: lists the missions, then answers."""
    if last_message(body)["role"] == "user":
        return tool_call("list_missions", {})
    return text(CHAT_ANSWER)


@dataclass
class Served:
    url: str
    root: Path
    port: int
    log: Path
    proc: Any = None

    @property
    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}api/v1/projects/{self.root.name}/", headers=AUTH, timeout=WAIT)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        with self.api as client:
            response = client.request(method, path, **kw)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json()["data"]

    def go(self, title: str) -> None:
        (self.root / "go").mkdir(exist_ok=True)
        (self.root / "go" / title).write_text("go")

    def start(self) -> None:
        self.proc = start_serve(self.root, port=self.port, key=KEY, log=self.log)

    def stop(self) -> None:
        assert stop_serve(self.proc) == 0, self.log.read_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("dash") / "dash-project"
    root.mkdir()
    (root / "dash_agents.py").write_text(AGENTS)
    loopback = LoopbackOpenAI(orchestrator).start()
    (root / "polpo.json").write_text(json.dumps({"judgeModel": "test", "orchestratorModel": "local:orchestrator",
                                                 "providers": {"local": {"baseUrl": loopback.base_url}}}))
    port = free_port()
    served = Served(f"http://127.0.0.1:{port}/", root, port, root.parent / "serve.log")
    try:
        served.start()
        for name in ("waiter", "writer", "chatty", "flaky"):
            served.call("POST", "agents", json={"name": name, "handler": f"dash_agents:{name}"})
        yield served
        served.stop()
    finally:
        loopback.stop()



@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser, WAIT_MS) as page:
        yield page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page: Page, served: Served, hash_: str = "#/missions") -> None:
    dashboard_login(page, served.url, KEY, hash_)


def mission(served: Served, name: str, tasks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return served.call("POST", "missions", json={"name": name, "tasks": tasks, **extra})


def task(title: str, agent: str = "waiter", **extra: Any) -> dict[str, Any]:
    return {"title": title, "description": f"{title} of the dashboard tests", "assignTo": agent, **extra}


def status_of(served: Served, kind: str, ident: str) -> str:
    return str(served.call("GET", f"{kind}/{ident}")["status"])


def until_ok(check: Any) -> None:
    """Wait for `check()` (a hang is a failure, never a timing assertion)."""
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


# -- the shared DAG renderer ------------------------------------------------------------------------------

def test_the_dashboards_layout_is_the_notebooks(browser: Browser) -> None:
    """dag.js `layoutTasks` (the dashboard lays out records itself) places every node where
    notebook/layout.py does for the widget and the static picture."""
    tasks = [{"id": f"t{i}", "title": title, "assignTo": "w", "dependsOn": deps} for i, (title, deps) in enumerate([
        ("e", ["c", "d"]), ("a", []), ("b", []), ("c", ["a"]), ("d", ["b", "a"]), ("f", ["e", "a"]), ("g", [])])]
    expected = layered_layout([t["title"] for t in tasks], [t["dependsOn"] for t in tasks])
    page = browser.new_page()
    try:
        page.set_content("<p>layout</p>")
        graph = page.evaluate("""async ([src, tasks]) => {
            const url = URL.createObjectURL(new Blob([src], {type: 'text/javascript'}));
            return (await import(url)).layoutTasks(tasks);
        }""", [(ROOT / "polpo_nb" / "notebook" / "dag.js").read_text(), tasks])
    finally:
        page.close()
    assert [(n["x"], n["y"]) for n in graph["nodes"]] == expected.positions
    assert sorted(map(tuple, graph["edges"])) == sorted(expected.edges)
    assert (graph["width"], graph["height"]) == (expected.width, expected.height)


# -- serving and auth -----------------------------------------------------------------------------------

def test_the_page_loads_without_the_key_and_the_api_still_needs_it(served: Served) -> None:
    page = httpx.get(f"{served.url}ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'src="app.js"' in page.text and KEY not in page.text
    assert httpx.get(f"{served.url}ui/dag.js").text.startswith("// polpo-nb DAG renderer")  # the widget's renderer
    for path in ("api/v1/projects", f"api/v1/projects/{served.root.name}/state", f"api/v1/projects/{served.root.name}/events"):
        assert httpx.get(served.url + path).status_code == 401, path
    assert httpx.get(served.url + "api/v1/projects", headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize("path", ["ui/..%2fapp.py", "ui/%2e%2e/serve.py", "ui/../../etc/passwd", "ui/static/ui/app.js",
                                  "ui/__init__.py", "ui/nope.js"])
def test_only_the_dashboards_own_files_are_served(served: Served, path: str) -> None:
    response = httpx.get(served.url + path, headers=AUTH)
    assert response.status_code == 404, (path, response.status_code)


def test_a_wrong_key_says_so_and_the_right_one_opens_the_missions(served: Served, page: Page) -> None:
    page.goto(f"{served.url}ui/")
    expect(page.locator("#key-message")).to_contain_text("needs its API key")
    page.get_by_label("API key").fill("not-the-key")
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#key-message")).to_contain_text("refused (401 Unauthorized)")
    shot(page, "wrong-key")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#key-form")).to_be_hidden()
    assert KEY not in page.url
    # kept for the tab: a reload does not ask again
    page.reload()
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#key-form")).to_be_hidden()


# -- missions --------------------------------------------------------------------------------------------

def test_the_missions_list_fills_in_live_as_a_mission_runs(served: Served, page: Page) -> None:
    saved = mission(served, "Live run", [task("Fetch"), task("Build", dependsOn=["Fetch"]), task("Ship", dependsOn=["Build"])])
    login(page, served)
    row = page.locator(f'tr[data-mission-id="{saved["id"]}"]')
    expect(row).to_have_attribute("data-status", "draft")
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})  # another client
    expect(row).to_have_attribute("data-status", "active")
    expect(row).to_contain_text("0/3 done")
    row.get_by_role("link", name="Live run").focus()
    served.go("Fetch")
    expect(row).to_contain_text("1/3 done")
    # the list was repainted under the keyboard user: focus stayed on the link
    assert page.evaluate("() => document.activeElement.textContent") == "Live run"
    shot(page, "missions-running")
    # the mission's page: the live DAG
    row.get_by_role("link", name="Live run").click()
    node = page.locator(".polpo-node")
    expect(node).to_have_count(3)
    expect(page.locator('.polpo-node:has(title:text-is("Fetch (waiter)"))')).to_have_attribute("data-status", "done")
    expect(page.locator('.polpo-node:has(title:text-is("Build (waiter)"))')).to_have_attribute("data-status", "in_progress")
    shot(page, "mission-running")
    served.go("Build")
    expect(page.locator('.polpo-node:has(title:text-is("Build (waiter)"))')).to_have_attribute("data-status", "done")
    served.go("Ship")
    expect(page.locator(f'.ui-page[data-mission-id="{saved["id"]}"]')).to_have_attribute("data-status", "completed")
    page.get_by_role("link", name="Missions").click()
    expect(row).to_contain_text("3/3 done")
    expect(row).to_have_attribute("data-status", "completed")


def test_a_scheduled_mission_shows_its_schedule_and_next_run(served: Served, page: Page) -> None:
    saved = mission(served, "Nightly", [task("Sweep", "writer")], schedule="0 3 * * *")
    assert saved["status"] == "scheduled"
    login(page, served)
    row = page.locator(f'tr[data-mission-id="{saved["id"]}"]')
    expect(row).to_have_attribute("data-status", "scheduled")
    cells = row.locator("td")
    expect(cells.nth(3)).to_have_text("0 3 * * *")
    expect(cells.nth(4)).to_have_text(saved["nextRunAt"].replace("T", " ").replace("Z", " UTC"))
    served.call("DELETE", f"missions/{saved['id']}")  # it must not fire during the other tests
    expect(row).to_have_count(0)


def test_approve_in_the_inbox_moves_the_task_to_done(served: Served, page: Page) -> None:
    saved = mission(served, "Deploy", [task("Deploy to staging", "writer", sideEffects=True,
                                            expectations=[{"type": "file_exists", "paths": [".polpo/output/report.md"]}])])
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    task_id = saved["tasks"][0]["id"]
    login(page, served, "#/inbox")
    item = page.locator(f'#inbox-tasks li[data-task-id="{task_id}"]')
    expect(item).to_contain_text("Deploy to staging")
    expect(page).to_have_title("(1) Polpo · dash-project")
    page.get_by_label("Note for Deploy to staging").fill("looks fine")
    shot(page, "inbox")
    page.get_by_role("button", name="Approve Deploy to staging").click()
    expect(item).to_have_count(0)
    assert status_of(served, "tasks", task_id) == "done"
    expect(page).to_have_title("Polpo · dash-project")
    # the task's page: its result, assessment and the file it created
    page.goto(f"{served.url}ui/#/tasks/{task_id}")
    expect(page.locator(".ui-result")).to_have_text("wrote the report of Deploy to staging")
    expect(page.locator(".ui-history")).to_contain_text("awaiting_approval → done")
    expect(page.locator(".ui-assessment tbody tr")).to_have_count(1)
    expect(page.locator(".ui-assessment tbody tr")).to_contain_text("file_exists")
    expect(page.locator(".ui-assessment tbody tr")).to_contain_text("5 / 5")
    expect(page.locator(".ui-assessment tbody tr")).to_contain_text("required paths exist")
    expect(page.locator(".ui-log")).to_contain_text("writing the report of Deploy to staging")
    page.get_by_role("button", name="Preview .polpo/output/report.md").click()
    expect(page.locator(".ui-file pre")).to_contain_text("All good.")
    shot(page, "task")


def test_resume_on_a_paused_checkpoint_completes_the_mission(served: Served, page: Page) -> None:
    saved = mission(served, "Release notes", [
        task("Collect changes", "writer"), task("Collect fixes", "writer"),
        task("Draft", "writer", dependsOn=["Collect changes", "Collect fixes"]),
        task("Translate", "writer", dependsOn=["Draft"]), task("Proofread", "writer", dependsOn=["Draft"]),
        task("Publish", "writer", dependsOn=["Translate", "Proofread"])],
        checkpoints=[{"name": "editor", "afterTasks": ["Draft"], "message": "Read the draft first"}])
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    login(page, served, f"#/missions/{saved['id']}")
    box = page.locator(f'.ui-page[data-mission-id="{saved["id"]}"]')
    expect(box).to_have_attribute("data-status", "paused")
    expect(page.locator('.ui-hold[data-kind="checkpoint"]')).to_have_attribute("data-state", "waiting")
    expect(page.locator(".ui-pause-message")).to_have_text("Read the draft first")
    shot(page, "mission-paused")
    page.screenshot(path=str(ARTIFACTS / "readme.png"), clip={"x": 0, "y": 0, "width": 1040, "height": 560})
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(box).to_have_attribute("data-status", "completed")
    assert status_of(served, "missions", saved["id"]) == "completed"
    expect(page.locator('.ui-hold[data-kind="checkpoint"]')).to_have_attribute("data-state", "passed")


def test_execute_then_abort_after_confirming(served: Served, page: Page) -> None:
    saved = mission(served, "Long haul", [task("Wait forever")])
    login(page, served, f"#/missions/{saved['id']}")
    box = page.locator(f'.ui-page[data-mission-id="{saved["id"]}"]')
    expect(box).to_have_attribute("data-status", "draft")
    page.get_by_role("button", name="Execute").click()
    expect(box).to_have_attribute("data-status", "active")
    assert status_of(served, "missions", saved["id"]) == "active"
    page.get_by_role("button", name="Abort").click()
    page.get_by_role("button", name="Cancel").click()
    assert status_of(served, "missions", saved["id"]) == "active"
    page.get_by_role("button", name="Abort").click()
    # the page is redrawn (an event arrives) while it asks: the question stays
    served.call("PATCH", f"missions/{saved['id']}", json={"prompt": "changed while asking"})
    expect(page.locator(".ui-page")).to_contain_text("changed while asking")
    expect(page.get_by_role("button", name="Confirm abort")).to_be_visible()
    page.get_by_role("button", name="Confirm abort").click()
    expect(box).to_have_attribute("data-status", "cancelled")
    assert status_of(served, "missions", saved["id"]) == "cancelled"


def test_a_press_that_spans_a_repaint_still_clicks(served: Served, page: Page) -> None:
    """Each change repaints the page with new buttons. A press (mouse down, then up) that spanned a repaint
    clicked nothing: the button it began on was gone when it ended. A person pressing Abort while a running
    mission's events came in had to press again (CI once saw it as the test above timing out on Cancel).
    A repaint now waits for the press to end (`aria-busy` on the page meanwhile), then happens."""
    saved = mission(served, "Pressed", [task("Wait forever")])
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    login(page, served, f"#/missions/{saved['id']}")
    expect(page.locator(f'.ui-page[data-mission-id="{saved["id"]}"]')).to_have_attribute("data-status", "active")
    page.evaluate("""() => { window.repainted = 0;
        new MutationObserver(() => { window.repainted += 1; }).observe(document.getElementById("main"), {childList: true}); }""")
    page.locator("#pages a").first.focus()  # (pressing the button moves the focus: not the press's end)
    page.get_by_role("button", name="Abort").hover()
    page.mouse.down()
    served.call("PATCH", f"missions/{saved['id']}", json={"prompt": "changed while pressing"})
    page.wait_for_function("""() => window.repainted > 0 || document.getElementById("main").getAttribute("aria-busy") === "true" """)
    page.mouse.up()
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()  # the press clicked Abort: it asks
    expect(page.locator(".ui-page")).to_contain_text("changed while pressing")  # the held repaint, made
    expect(page.locator("#main")).not_to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()  # (the question survived it)
    page.get_by_role("button", name="Cancel").click()
    assert status_of(served, "missions", saved["id"]) == "active"


def test_a_space_press_that_spans_a_repaint_still_clicks(served: Served, page: Page) -> None:
    """A keyboard press on a button clicks at the Space key's release, on the button that saw it go down.
    A repaint between the two gave the focus to the new button, which had not seen the key go down: the
    press clicked nothing. A Space held on the page holds the repaint as a held mouse button does."""
    saved = mission(served, "Keyed", [task("Wait forever")])
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    login(page, served, f"#/missions/{saved['id']}")
    expect(page.locator(f'.ui-page[data-mission-id="{saved["id"]}"]')).to_have_attribute("data-status", "active")
    page.evaluate("""() => { window.repainted = 0;
        new MutationObserver(() => { window.repainted += 1; }).observe(document.getElementById("main"), {childList: true}); }""")
    page.get_by_role("button", name="Abort").focus()
    page.keyboard.down(" ")
    served.call("PATCH", f"missions/{saved['id']}", json={"prompt": "changed while keyed"})
    page.wait_for_function("""() => window.repainted > 0 || document.getElementById("main").getAttribute("aria-busy") === "true" """)
    page.keyboard.up(" ")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()  # the press clicked Abort: it asks
    expect(page.locator(".ui-page")).to_contain_text("changed while keyed")  # the held repaint, made
    expect(page.locator("#main")).not_to_have_attribute("aria-busy", "true")
    page.get_by_role("button", name="Cancel").click()
    assert status_of(served, "missions", saved["id"]) == "active"


def test_a_press_that_never_ends_holds_the_page_for_two_seconds_at_most(served: Served, page: Page) -> None:
    """A press dragged out of the window may never be seen to end: the page does not stay stale for it."""
    saved = mission(served, "Held down", [task("Wait forever")])
    login(page, served, f"#/missions/{saved['id']}")
    page.locator(".ui-page h2").first.hover()
    page.mouse.down()
    served.call("PATCH", f"missions/{saved['id']}", json={"prompt": "changed while held down"})
    expect(page.locator(".ui-page")).to_contain_text("changed while held down")  # the mouse still down
    expect(page.locator("#main")).not_to_have_attribute("aria-busy", "true")
    page.mouse.up()


def test_a_hostile_title_renders_as_text(served: Served, page: Page) -> None:
    saved = mission(served, EVIL, [task(EVIL, "writer", sideEffects=True)])
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    task_id = saved["tasks"][0]["id"]
    login(page, served)
    for where in ("#/missions", f"#/missions/{saved['id']}", "#/inbox", f"#/tasks/{task_id}"):
        page.goto(f"{served.url}ui/{where}")
        expect(page.locator("main")).to_contain_text(EVIL)
        assert page.locator("img").count() == 0, where
        assert page.evaluate("() => window.pwned") is None, where
    shot(page, "hostile-title")
    page.get_by_role("button", name=f"Reject {EVIL}").click()
    expect(page.locator(".ui-page")).to_have_attribute("data-status", "failed")


def test_a_reload_and_a_server_restart_show_the_same_state(served: Served, page: Page) -> None:
    saved = mission(served, "Steady", [task("Only", "writer")])
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    login(page, served)
    row = page.locator(f'tr[data-mission-id="{saved["id"]}"]')
    expect(row).to_have_attribute("data-status", "completed")
    before = page.locator("#missions").inner_text()
    page.reload()
    expect(row).to_have_attribute("data-status", "completed")
    assert page.locator("#missions").inner_text() == before
    served.stop()
    expect(page.locator("#connection")).to_have_text("reconnecting")
    served.start()
    expect(page.locator("#connection")).to_have_text("live")
    page.reload()
    expect(row).to_have_attribute("data-status", "completed")
    assert page.locator("#missions").inner_text() == before
    shot(page, "missions")


# -- chat, agents, memory, files -------------------------------------------------------------------------

def test_the_chat_panel_streams_the_orchestrators_answer_and_its_tool_use(served: Served, page: Page) -> None:
    login(page, served, "#/chat")
    page.get_by_label("Message to Polpo").fill("what is going on?")
    page.get_by_role("button", name="Send").click()
    transcript = page.locator("#transcript")
    expect(transcript.locator('[data-role="assistant"]').last).to_have_text(f"Polpo{CHAT_ANSWER}")
    expect(transcript.locator('[data-kind="tool_call"]')).to_contain_text("list_missions")
    expect(transcript.locator('[data-kind="tool_result"]')).to_contain_text("list_missions")
    expect(page).to_have_url(re.compile(r"#/chat/[^/]+$"))
    session_id = page.url.rsplit("/", 1)[1]
    expect(page.locator(f'.ui-chat-sessions li[data-session-id="{session_id}"]')).to_contain_text("what is going on?")
    shot(page, "chat")
    # stored: a reload shows the same conversation, tool call included, and it goes on in that session
    page.reload()
    expect(transcript.locator('[data-role="user"]')).to_have_text("userwhat is going on?")
    expect(transcript.locator('[data-kind="tool_call"]')).to_contain_text("list_missions")
    page.get_by_label("Message to Polpo").fill("and now?")
    page.get_by_role("button", name="Send").click()
    expect(transcript.locator('[data-role="user"]')).to_have_count(2)
    expect(transcript.locator('[data-role="assistant"]').last).to_have_text(f"Polpo{CHAT_ANSWER}")
    messages = served.call("GET", f"chat/sessions/{session_id}/messages")
    assert [m["content"] for m in messages if m["role"] == "user"] == ["what is going on?", "and now?"]


def test_agents_memory_and_files(served: Served, page: Page) -> None:
    login(page, served, "#/agents")
    expect(page.locator("#agents tr[data-agent]")).to_have_count(4)
    expect(page.locator('#agents tr[data-agent="waiter"]')).to_contain_text("dash_agents:waiter")
    shot(page, "agents")
    # the memory's answer held back: nothing can be typed that the answer would overwrite
    served.call("PUT", "memory", json={"content": "stored before"})
    held: list[Any] = []
    page.route(re.compile(r".*/memory$"), lambda route: held.append(route) if route.request.method == "GET" else route.continue_())
    page.get_by_role("link", name="Memory").click()
    memory = page.get_by_label("Project memory")
    expect(memory).to_be_disabled()
    expect(page.get_by_role("button", name="Save memory")).to_be_disabled()
    while not held:  # until the page has asked (a hang is the suite's timeout, never a time bound)
        page.wait_for_timeout(20)
    held[0].continue_()
    page.unroute(re.compile(r".*/memory$"))
    expect(memory).to_have_value("stored before")
    expect(memory).to_be_enabled()
    memory.fill("# Memory\n\nDeploys need <b>two</b> approvals.")
    page.get_by_role("button", name="Save memory").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    assert served.call("GET", "memory")["content"] == "# Memory\n\nDeploys need <b>two</b> approvals."
    page.get_by_role("link", name="Files").click()
    expect(page.locator('#files tr[data-path="dash_agents.py"]')).to_be_visible()
    page.get_by_role("button", name="Preview dash_agents.py").click()
    expect(page.locator("#file-preview")).to_contain_text("async def waiter(task, ctx):")
    page.locator('#files tr[data-path=".polpo"] a').click()
    expect(page.locator('#files tr[data-path=".polpo/memory.md"]')).to_be_visible()
    shot(page, "files")


def test_a_burst_of_events_is_all_seen_and_costs_few_reads(served: Served, page: Page) -> None:
    """3,000 events in a burst: the page's events list has every one, in order, while it re-read the
    snapshot a few times only (events only mark it stale; reads are coalesced), and it still answers."""
    saved = mission(served, "Burst", [task("Talk", "chatty")])
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if r.url.endswith("/state") else None)
    login(page, served, "#/events")
    page.get_by_label("Filter events by name (globs, comma separated)").fill("task:output")
    before = len(reads)
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    expect(page.locator("#events li").first).to_contain_text(f"line {BURST - 1}")
    expect(page.locator("#events li")).to_have_count(300)  # the newest 300 shown
    lines = page.evaluate("() => [...document.querySelectorAll('#events li')].map(li => li.textContent)")
    numbers = [int(re.search(r"line (\d+)", line).group(1)) for line in lines]
    assert numbers == list(range(BURST - 1, BURST - 301, -1))
    assert len(reads) - before < BURST / 20, len(reads) - before
    page.get_by_role("link", name="Missions").click()
    expect(page.locator(f'tr[data-mission-id="{saved["id"]}"]')).to_have_attribute("data-status", "completed")


def test_dark_theme(served: Served, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme="dark")
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        saved = mission(served, "Night shift", [task("Prepare", "writer"), task("Hand over", "writer", dependsOn=["Prepare"])],
                        checkpoints=[{"name": "lead", "afterTasks": ["Prepare"], "message": "The lead signs off"}])
        served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
        login(page, served, f"#/missions/{saved['id']}")
        expect(page.locator(".ui-page")).to_have_attribute("data-status", "paused")
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        colour = page.evaluate("() => getComputedStyle(document.querySelector('.ui-mission-title')).color")
        assert background == "rgb(13, 17, 23)" and colour == "rgb(230, 237, 243)", (background, colour)
        shot(page, "mission-dark")
    finally:
        context.close()


def test_resume_retries_the_failed_tasks(served: Served, page: Page) -> None:
    saved = mission(served, "Second chance", [task("Wobbly", "flaky", maxRetries=0)])
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    login(page, served, f"#/missions/{saved['id']}")
    box = page.locator(f'.ui-page[data-mission-id="{saved["id"]}"]')
    expect(box).to_have_attribute("data-status", "failed")
    expect(page.get_by_label("retry failed")).to_be_checked()  # what resuming a failed mission is for
    served.go("Wobbly")
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(box).to_have_attribute("data-status", "completed")
    assert served.call("GET", f"missions/{saved['id']}")["tasks"][0]["result"]["content"] == "Wobbly: at last"


def test_the_dag_works_from_the_keyboard(served: Served, page: Page) -> None:
    saved = mission(served, "Keys", [task("First", "writer"), task("Second", "writer", dependsOn=["First"])])
    login(page, served, f"#/missions/{saved['id']}")
    expect(page.locator(".polpo-node")).to_have_count(2)
    page.locator(".polpo-node").first.focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    second = saved["tasks"][1]["id"]
    expect(page.locator(f'.ui-page[data-task-id="{second}"] h1')).to_have_text("Second")


def test_another_project_is_picked_and_stays_picked(served: Served, page: Page) -> None:
    (served.root / "side" / ".polpo").mkdir(parents=True)
    with httpx.Client(base_url=f"{served.url}api/v1/projects/side/", headers=AUTH, timeout=WAIT) as side:
        assert side.post("agents", json={"name": "walker", "model": "test"}).status_code == 201
        created = side.post("missions", json={"name": "Side quest", "tasks": [task("Wander", "walker")]})
        assert created.status_code == 201, created.text
    login(page, served)
    expect(page.locator("main h2")).to_have_text("Missions")
    expect(page.locator("main")).not_to_contain_text("Side quest")
    page.get_by_label("Project").select_option("side")
    expect(page.locator("#missions")).to_contain_text("Side quest")
    expect(page.locator("#missions tbody tr")).to_have_count(1)
    assert "?project=side" in page.url
    page.reload()
    expect(page.locator("#missions tbody tr")).to_have_count(1)
    expect(page.get_by_label("Project")).to_have_value("side")


def test_the_mission_page_shows_what_it_spent_and_its_budget(served: Served, page: Page) -> None:
    """An LLM agent (the loopback model): its mission pauses on its token budget, the page says so with
    the spend the API reports; raised by PATCH, Resume completes it and the spend follows (issue 21)."""
    served.call("POST", "agents", json={"name": "thinker", "model": "local:orchestrator"})
    saved = mission(served, "Spendy", [task("Think", "thinker")], budget={"maxTokens": 1})
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    login(page, served, f"#/missions/{saved['id']}")
    box = page.locator(f'.ui-page[data-mission-id="{saved["id"]}"]')
    expect(box).to_have_attribute("data-status", "paused")
    expect(page.locator(".ui-pause-message")).to_contain_text("Mission budget spent")
    tokens = served.call("GET", f"missions/{saved['id']}/usage")["total"]["totalTokens"]
    spend = page.locator(".ui-spend")
    expect(spend).to_have_attribute("data-tokens", str(tokens))
    expect(page.locator(".ui-spend-total")).to_have_text(f"{tokens:,} tokens · 1 unpriced call")
    expect(spend).to_contain_text(f"maxTokens {tokens:,} of 1")
    shot(page, "mission-budget")
    served.call("PATCH", f"missions/{saved['id']}", json={"budget": {"maxTokens": 1_000_000}})
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(box).to_have_attribute("data-status", "completed")
    usage = served.call("GET", f"missions/{saved['id']}/usage")["total"]
    assert usage["requests"] == 3 and usage["totalTokens"] > tokens
    expect(spend).to_have_attribute("data-tokens", str(usage["totalTokens"]))
    expect(page.locator(".ui-spend-total")).to_have_text(f"{usage['totalTokens']:,} tokens · 3 unpriced calls")


@contextmanager
def run_in_a_process_then_killed(served: Served, name: str, titles: list[str]) -> Iterator[dict[str, Any]]:
    """`name` (a chain of `titles`, played by `waiter`) run by another process, until its first task is in
    progress; the mission as the API gives it. On leaving, that process is killed (`kill -9`): the
    mission stays `active`, run by no one."""
    tasks = [{"title": t, "assignTo": "waiter", **({"dependsOn": [titles[i - 1]]} if i else {})}
             for i, t in enumerate(titles)]
    script = ("import json, sys, polpo_nb as polpo\n"
              "polpo.Project(sys.argv[1]).execute(json.loads(sys.argv[2]))\n"
              "print('started', flush=True)\n"
              "import time; time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", script, str(served.root), json.dumps({"name": name, "tasks": tasks})],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "started"
        found = next(m for m in served.call("GET", "missions") if m["name"] == name)
        until_ok(lambda: served.call("GET", f"missions/{found['id']}")["tasks"][0]["status"] == "in_progress")
        yield found
    finally:
        child.kill()
        child.wait(WAIT)


def test_a_mission_whose_process_died_offers_resume_and_completes(served: Served, page: Page) -> None:
    """The process running it was killed (`kill -9`): the mission is still `active`, and the page said
    nothing of why, with Abort as its only button. It says the process stopped and offers Resume,
    which takes the run over here."""
    with run_in_a_process_then_killed(served, "Orphan", ["Held", "After"]) as orphan:
        pass
    login(page, served, f"#/missions/{orphan['id']}")
    box = page.locator(f'.ui-page[data-mission-id="{orphan["id"]}"]')
    expect(box).to_have_attribute("data-status", "active")
    expect(page.locator(".ui-pause-message")).to_have_text("The process running it stopped")
    served.go("Held")
    served.go("After")
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(box).to_have_attribute("data-status", "completed")
    assert status_of(served, "missions", orphan["id"]) == "completed"


def test_an_open_page_learns_that_the_missions_process_was_killed(served: Served, page: Page) -> None:
    """A page opened while the process ran went on showing the mission running after a `kill -9`: the
    killed process writes nothing, so no event came, and only a reload told."""
    looks: list[str] = []  # the page's reads of missions/resumable
    page.on("response", lambda r: looks.append(r.url) if r.url.endswith("/missions/resumable") else None)
    with run_in_a_process_then_killed(served, "Killed", ["Never let go"]) as mission:
        login(page, served, f"#/missions/{mission['id']}")
        # the page has read the state after the replayed history too (its second look): it has settled.
        # (Waiting in playwright, not in time.sleep: it delivers the page's responses to `looks` as it waits.)
        until_ok(lambda: len(looks) >= 2 or bool(page.wait_for_timeout(50)))
        expect(page.locator(f'.ui-page[data-mission-id="{mission["id"]}"]')).to_have_attribute("data-status", "active")
        expect(page.locator(".ui-pause-message")).to_have_count(0)
        settled = len(looks)
    expect(page.locator(".ui-pause-message")).to_have_text("The process running it stopped")  # no reload
    expect(page.get_by_role("button", name="Resume", exact=True)).to_be_visible()
    assert len(looks) > settled  # learnt by looking again, no event came


def test_a_task_offers_only_the_commands_it_can_take(served: Served, page: Page) -> None:
    """Reassess where a result can be assessed again (not for a task whose agent raised, nor one awaiting
    approval: the API refused both, so the button only ever answered an error); Kill for a pending task too."""
    saved = mission(served, "Buttons", [task("Raised", "flaky", maxRetries=0), task("Fine", "writer"),
                                        task("Gated", "writer", sideEffects=True)])
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    until_ok(lambda: {t["title"]: t["status"] for t in served.call("GET", f"missions/{saved['id']}")["tasks"]}
             == {"Raised": "failed", "Fine": "done", "Gated": "awaiting_approval"})
    ids = {t["title"]: t["id"] for t in served.call("GET", f"missions/{saved['id']}")["tasks"]}
    waiting = mission(served, "Waiting", [task("Hold"), task("Later", dependsOn=["Hold"])])
    served.call("POST", f"missions/{waiting['id']}/execute", headers={"Accept": "application/json"})
    later = next(t for t in served.call("GET", f"missions/{waiting['id']}")["tasks"] if t["title"] == "Later")
    login(page, served, "#/missions")
    buttons = {}
    for title, ident in [*ids.items(), ("Later", later["id"])]:
        page.evaluate("hash => { location.hash = hash; }", f"#/tasks/{ident}")
        expect(page.locator(".ui-task-title")).to_have_text(title)
        buttons[title] = sorted(page.locator(".ui-actions").first.locator("button").all_inner_texts())
    served.go("Hold")
    served.go("Later")
    assert buttons == {"Raised": ["Retry"], "Fine": ["Reassess"], "Gated": ["Approve", "Reject"], "Later": ["Kill"]}


def test_a_preview_that_arrives_after_a_repaint_is_shown(served: Served, page: Page) -> None:
    """The task's page is drawn again at each event: a preview whose answer came after such a repaint
    was written into the page drawn before, no longer shown, and the file stayed hidden."""
    saved = mission(served, "Previewed", [task("Report", "writer")])
    served.call("POST", f"missions/{saved['id']}/execute", headers={"Accept": "application/json"})
    task_id = saved["tasks"][0]["id"]
    until_ok(lambda: status_of(served, "tasks", task_id) == "done")
    held: list[Any] = []  # the preview's request, answered once an event has redrawn the page
    login(page, served, f"#/tasks/{task_id}")
    expect(page.locator(".ui-result")).to_have_text("wrote the report of Report")
    page.route("**/files/preview*", lambda route: held.append(route))
    drawn = page.locator(".ui-task-title").element_handle()
    page.get_by_role("button", name="Preview .polpo/output/report.md").click()
    until_ok(lambda: page.wait_for_timeout(20) or bool(held))
    # an event: the page is drawn again, then again with the state it reads after it
    with page.expect_response(lambda r: r.url.endswith("/state") and r.request.method == "GET"):
        served.call("POST", "agents", json={"name": "repaint-trigger", "role": "an event for the page"})
    page.wait_for_function("node => !node.isConnected", arg=drawn)
    page.evaluate("() => new Promise(done => setTimeout(done, 0))")  # (the state's own drawing)
    held[0].continue_()
    expect(page.locator(".ui-file pre")).to_contain_text("All good.")
