"""A run whose store cannot be written from the moment its first task returns (its files may not grow,
as on a full disk), then can again: run by tests/test_store_unwritable.py in a process of its own, as
the limit (RLIMIT_FSIZE) is the whole process's. Prints what the user saw, as one JSON line.

    mission: a (returns 2 MB, past the limit) -> b, then resumed
    task:    a standalone task returning 2 MB, then killed and retried
    timer:   a mission whose deadline passes (its failure to write) while its task runs, then resumed
    widget:  the mission's notebook widget says the run stopped, and its Resume button takes it up

Usage: python full_disk_scenario.py mission|task|timer|widget PROJECT_DIR
"""

from __future__ import annotations

import json
import resource
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support import WAIT, wait_for  # (this script's folder is on its path)

import polpo_nb as polpo

RESULT = "x" * 2_000_000


def disk_full(root: Path) -> None:
    """From now on no file of this process may grow past the largest of the store's files: a write past
    it fails (EFBIG, SQLite's "disk I/O error"; Python ignores the SIGXFSZ it raises)."""
    largest = max(f.stat().st_size for f in (root / ".polpo").glob("state.db*"))
    resource.setrlimit(resource.RLIMIT_FSIZE, (largest, resource.RLIM_INFINITY))


def space_freed() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def open_project(root: Path, calls: list[str], go: threading.Event | None = None) -> polpo.Project:
    """A project whose agent `w` fills the disk with the first result it returns: 2 MB for `a` (once
    `go` is set, if given)."""
    def agent(task: polpo.TaskRecord, ctx: Any) -> str:
        if go is not None:
            go.wait(WAIT)
        calls.append(task.title)
        if calls == ["a"]:
            disk_full(root)
            for line in range(3):  # writes nobody awaits, refused as well
                ctx.output(f"output {line}")
        return RESULT if task.title == "a" else "ran"
    project = polpo.Project(root)
    project.agent("w")(agent)
    return project


def waited(run: polpo.RunHandle, report: dict[str, Any]) -> None:
    """What `wait()` says, twice: the second time, after the run stopped."""
    for attempt in ("wait", "wait again"):
        try:
            report[attempt] = f"returned {run.wait(WAIT).status.value}"
        except polpo.StoreWriteError as exc:
            report[attempt] = exc.message
        except TimeoutError as exc:
            report[attempt] = f"timed out: {exc}"


def mission(root: Path) -> dict[str, Any]:
    calls: list[str] = []
    report: dict[str, Any] = {}
    with open_project(root, calls) as project:
        waited(project.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])),
               report)
        report["resumable"] = [[m.name, m.pause_reason, m.pause_message] for m in project.resumable_missions()]
        report["stored"] = [[t.title, t.status.value] for t in project.get_mission("m").tasks]
        space_freed()
        record = project.resume("m").wait(WAIT)
        report["resumed"] = [record.status.value, [[t.title, t.status.value, t.result.content == RESULT if t.title == "a"
                                                    else t.result.content] for t in record.tasks]]
        report["attempts of a"] = [a.status for a in project.attempts(record.tasks[0].id)]
        report["calls"] = calls
    return report


def task(root: Path) -> dict[str, Any]:
    calls: list[str] = []
    report: dict[str, Any] = {}
    with open_project(root, calls) as project:
        solo = project.create_task({"title": "a", "assignTo": "w"})
        waited(project.execute_task(solo.id), report)
        report["stored"] = project.get_task(solo.id).status.value
        space_freed()
        report["killed"] = project.kill_task(solo.id).status.value
        project.retry_task(solo.id)
        wait_for(lambda: project.get_task(solo.id).status.value in ("done", "failed"))
        record = project.get_task(solo.id)
        report["retried"] = [record.status.value, record.result.content == RESULT if record.result else None]
        report["calls"] = calls
    return report


def timer(root: Path) -> dict[str, Any]:
    """What a timer writes (here the deadline's failure of the mission) meets the full disk."""
    started, release = threading.Event(), threading.Event()

    def slow(task: polpo.TaskRecord, ctx: object) -> str:
        disk_full(root)
        started.set()
        release.wait(WAIT)
        return "late"
    report: dict[str, Any] = {}
    with polpo.Project(root) as project:
        project.agent("slow")(slow)
        deadline = datetime.now(UTC) + timedelta(seconds=1)
        run = project.execute(polpo.Mission("m", deadline=deadline).task("a", assign_to="slow"))
        assert started.wait(WAIT)
        waited(run, report)
        release.set()
        space_freed()
        record = project.resume("m").wait(WAIT)  # its deadline has passed: the resumed run ends as it would have
        report["resumed"] = [record.status.value, record.error, [[t.title, t.status.value] for t in record.tasks]]
    return report


def widget(root: Path) -> dict[str, Any]:
    """The notebook's widget on the mission: no event says the run stopped (nothing could be written), so
    it must learn it, say why, and its Resume button must take the run up once space is freed."""
    import comm

    from polpo_nb.notebook.widget import MissionWidget

    comm.create_comm = comm.DummyComm  # (no front end: the widget's messages go nowhere)
    calls: list[str] = []
    report: dict[str, Any] = {}
    with open_project(root, calls) as project:
        run = project.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"]))
        shown = MissionWidget(project, run.mission_id, watch_seconds=0.05)
        wait_for(lambda: shown.state["mission"].get("pause_reason") == "store unwritable")
        report["shown"] = [shown.state["mission"]["status"], shown.state["mission"]["pause_message"],
                           shown.state["progress"]["ticking"]]
        space_freed()
        shown._handle_msg({"content": {"data": {"method": "custom", "content": {"action": "resume",
                                                                                 "retryFailed": False}}},
                           "buffers": []})  # the Resume button, as widget.js sends it
        wait_for(lambda: shown.state["mission"]["status"] == "completed")
        report["after resume"] = [shown.state["mission"].get("pause_message"),
                                  sorted(t["status"] for t in shown.state["tasks"].values())]
        shown.close()
    return report


if __name__ == "__main__":
    scenarios = {"mission": mission, "task": task, "timer": timer, "widget": widget}
    print(json.dumps(scenarios[sys.argv[1]](Path(sys.argv[2]))))
