"""Re-run from a task over HTTP (issue 22), in both dialects, on a real Jupyter server: `POST
missions/:id/rerun {"fromTask": ...}` re-executes the tail, answers the mission (or streams it), and
refuses what it cannot do with 409 / 404 / 400."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import httpx
from server_helpers import WAIT, Api, free_port, start_serve, stop_serve, until
from support import wait_for

from polpo_nb import AsyncProject

SSE = {"Accept": "text/event-stream"}
CHAIN = ["A", "B", "C", "D", "E"]


def _counting(project: AsyncProject) -> Counter:
    calls: Counter = Counter()

    @project.agent("w")
    def work(task, ctx):
        calls[task.title] += 1
        return f"{task.title}#{calls[task.title]}"
    return calls


async def _completed_chain(api: Api, name: str) -> dict:
    mission = await api.call("POST", "missions", 201, json={
        "name": name, "tasks": [{"title": t, "assignTo": "w", "dependsOn": [CHAIN[i - 1]] if i else []}
                                for i, t in enumerate(CHAIN)]})
    await api.call("POST", f"missions/{mission['id']}/execute", headers={"Accept": "application/json"})
    await until(lambda: _status_is(api, mission["id"], "completed"))
    return mission


async def _status_is(api: Api, mid: str, status: str) -> bool:
    return (await api.get(f"missions/{mid}"))["status"] == status


async def test_rerun_reruns_exactly_the_tail_and_answers_the_mission(api: Api, project: AsyncProject):
    calls = _counting(project)
    mission = await _completed_chain(api, f"chain-{api.dialect}")
    answered = await api.call("POST", f"missions/{mission['id']}/rerun", json={"fromTask": "C"})
    assert answered["id"] == mission["id"] and answered["status"] == "active"
    await until(lambda: _status_is(api, mission["id"], "completed"))
    assert calls == Counter({"A": 1, "B": 1, "C": 2, "D": 2, "E": 2})
    tasks = {t["title"]: t for t in (await api.get(f"missions/{mission['id']}"))["tasks"]}
    assert tasks["C"]["result"]["content"] == "C#2" and tasks["B"]["result"]["content"] == "B#1"
    assert [a.number for a in await project.attempts(tasks["C"]["id"])] == [1, 2]


async def test_rerun_streams_when_asked_and_names_the_tail_in_its_event(api: Api, project: AsyncProject):
    calls = _counting(project)
    mission = await _completed_chain(api, f"streamed-{api.dialect}")
    events = await api.stream("POST", f"missions/{mission['id']}/rerun", headers=SSE, json={"fromTask": "D"})
    assert events[-1][0] == "mission:done" and events[-1][1]["status"] == "completed"
    assert calls == Counter({"A": 1, "B": 1, "C": 1, "D": 2, "E": 2})
    replay = await api.stream("GET", "events", params={"lastEventId": "0", "filter": "mission:rerun"}, limit=1)
    assert replay[0][0] == "mission:rerun"
    assert replay[0][1]["fromTask"] == "D" and replay[0][1]["tasks"] == ["D", "E"]


async def test_rerun_while_the_mission_runs_is_409_and_changes_nothing(api: Api, project: AsyncProject):
    release = threading.Event()
    project.agent("w")(lambda task, ctx: "ok")
    project.agent("slow")(lambda task, ctx: release.wait(WAIT) and "ok")
    mission = await api.call("POST", "missions", 201, json={
        "name": f"busy-{api.dialect}", "tasks": [{"title": "a", "assignTo": "w"},
                                                 {"title": "b", "assignTo": "slow", "dependsOn": ["a"]}]})
    mid = mission["id"]
    await api.call("POST", f"missions/{mid}/execute", headers={"Accept": "application/json"})
    try:
        await until(lambda: _task_status(api, mid, "b", "in_progress"))
        body = api.error(await api.request("POST", f"missions/{mid}/rerun", json={"fromTask": "a"}), 409)
        assert body["error"] == (f"Mission 'busy-{api.dialect}' is running: re-run it from 'a' once it has finished, "
                                 "or abort it first")
        assert body["code"].lower() == "conflict"
        assert await _task_status(api, mid, "a", "done")
    finally:
        release.set()
    await until(lambda: _status_is(api, mid, "completed"))


async def _task_status(api: Api, mid: str, title: str, status: str) -> bool:
    tasks = (await api.get(f"missions/{mid}"))["tasks"]
    return next(t for t in tasks if t["title"] == title)["status"] == status


async def test_rerun_of_an_unknown_task_or_mission_is_404_and_without_fromtask_400(api: Api, project: AsyncProject):
    _counting(project)
    mission = await _completed_chain(api, f"known-{api.dialect}")
    body = api.error(await api.request("POST", f"missions/{mission['id']}/rerun", json={"fromTask": "Z"}), 404)
    assert body["error"] == f"Mission 'known-{api.dialect}' has no task 'Z'"
    api.error(await api.request("POST", "missions/nosuch/rerun", json={"fromTask": "A"}), 404)
    body = api.error(await api.request("POST", f"missions/{mission['id']}/rerun", json={}), 400)
    assert "fromTask" in body["error"]
    assert (await api.get(f"missions/{mission['id']}"))["status"] == "completed"


# -- a real `polpo serve`, and the notebook process that holds the run -----------------------------------

NOTEBOOK = textwrap.dedent("""
    import sys, polpo_nb as polpo
    from collections import Counter
    calls = Counter()
    project = polpo.Project(sys.argv[1])

    @project.agent("w")
    def work(task, ctx):
        calls[task.title] += 1
        return f"{task.title}#{calls[task.title]}"

    run = project.execute(polpo.Mission("owned").task("draft", assign_to="w")
                          .task("publish", assign_to="w", depends_on=["draft"]).checkpoint("review", after=["draft"]))
    print("settled", run.wait().status.value, flush=True)
    sys.stdin.readline()
    print("calls", calls["draft"], calls["publish"], flush=True)
    project.close()
""")


def test_polpo_serve_reruns_a_mission_a_notebook_process_holds_through_that_process(tmp_path: Path):
    """The server cannot touch the notebook's run: the re-run travels to it as a command (engine/commands.py)
    and the notebook's own agent runs the draft again; the mission stops at its checkpoint again."""
    root = tmp_path / "proj"
    root.mkdir()
    (tmp_path / "notebook.py").write_text(NOTEBOOK)
    notebook = subprocess.Popen([sys.executable, str(tmp_path / "notebook.py"), str(root)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    serve = None
    try:
        assert notebook.stdout.readline().split() == ["settled", "paused"]
        serve = start_serve(root, port=(port := free_port()), key="k", log=tmp_path / "serve.log")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1/", headers={"Authorization": "Bearer k"},
                          timeout=WAIT) as client:
            answered = client.post("missions/owned/rerun", json={"fromTask": "draft"})
            assert answered.status_code == 200, answered.text
            assert answered.json()["name"] == "owned"

            def redrafted_and_paused() -> bool:  # the notebook re-runs the draft, then waits at the checkpoint again
                mission = client.get("missions/owned").json()
                return mission["status"] == "paused" and (mission["tasks"][0]["result"] or {}).get("content") == "draft#2"
            wait_for(redrafted_and_paused)
            mission = client.get("missions/owned").json()
            assert mission["pauseReason"] == "checkpoint" and mission["tasks"][1]["status"] == "pending"
        notebook.stdin.write("done\n")
        notebook.stdin.flush()
        assert notebook.stdout.readline().split() == ["calls", "2", "0"]
        assert notebook.wait(WAIT) == 0
    finally:
        if serve is not None:
            stop_serve(serve)
        notebook.kill()
