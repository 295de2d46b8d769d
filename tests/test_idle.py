"""An idle open project costs nothing: it sleeps on a change notification, not on a timer, and still
hears another process's commits, and fires its schedules on time."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import WAIT, wait_for

import polpo_nb as polpo
from polpo_nb.engine import schedules
from polpo_nb.spec import MissionStatus
from polpo_nb.store import changes

WRITER = textwrap.dedent("""
    import sys, polpo_nb as polpo
    with polpo.Project(sys.argv[1]) as project:
        project.agent("nobody")(lambda task, ctx: "")
        project.create_task({"title": sys.argv[2], "assignTo": "nobody"})
""")


def _write_from_another_process(project_dir: Path, tmp_path: Path, title: str) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    subprocess.run([sys.executable, str(script), str(project_dir), title], check=True, timeout=60)


def _quiet(project: polpo.Project) -> int:
    """The tail's look count once the settling after the project's own start-up writes is over."""
    time.sleep(changes.SETTLE_SECONDS + 0.2)
    return project.aio.tail_looks


def test_an_idle_project_never_wakes(project: polpo.Project):
    looks, schedule_looks = _quiet(project), project.aio.scheduler.looks
    time.sleep(1.0)  # a 50 ms poll would have looked 20 times by now, a 1 s tick once
    assert project.aio.tail_looks == looks
    assert project.aio.scheduler.looks == schedule_looks


@pytest.mark.parametrize("detection", ["auto", "poll"])
def test_another_process_commit_reaches_subscribers(project_dir: Path, tmp_path: Path, detection: str):
    with polpo.Project(project_dir, config={"changeDetection": detection, "pollInterval": 0.2}) as project:
        assert project.aio.change_watch_mode == ("inotify" if detection == "auto" else "poll")
        seen: list[str] = []
        project.subscribe(lambda e: seen.append(e.data["title"]), "task:created")
        _quiet(project)
        for title in ("first", "second"):  # the second arrives at a watcher that went back to sleep
            _write_from_another_process(project_dir, tmp_path, title)
            wait_for(lambda t=title: t in seen)
        assert seen == ["first", "second"]


def test_network_filesystems_are_polled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    mounts = f"server:/export {tmp_path} nfs4 rw,relatime 0 0\n/dev/sda1 / ext4 rw 0 0\n"
    assert changes.filesystem_type(tmp_path / "p" / ".polpo", mounts) == "nfs4"
    assert changes.filesystem_type(Path("/usr/lib"), mounts) == "ext4"
    monkeypatch.setattr(changes, "filesystem_type", lambda path: "nfs4")
    assert changes.watch_database(tmp_path / "state.db").mode == "poll"
    assert changes.watch_database(tmp_path / "state.db", detection="notify").mode == "inotify"


def test_the_scheduler_sleeps_until_the_next_occurrence(project: polpo.Project):
    project.agent("w")(lambda task, ctx: "ran")
    now = datetime.now(UTC)
    assert project.aio.scheduler.seconds_to_next(now) == schedules.MAX_SLEEP_SECONDS  # nothing scheduled
    at = (now + timedelta(seconds=30)).replace(microsecond=0)
    project.save_mission(polpo.Mission("later", schedule=at.strftime("%Y-%m-%dT%H:%M:%SZ"))
                         .task("t", assign_to="w"))
    wait = project.aio.scheduler.seconds_to_next(now)
    assert (at - now).total_seconds() <= wait <= (at - now).total_seconds() + 0.1


def test_a_schedule_saved_while_idle_fires_without_a_tick(project: polpo.Project):
    project.agent("w")(lambda task, ctx: "ran")
    _quiet(project)
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0) + timedelta(seconds=1)
    mission = project.save_mission(polpo.Mission("soon", schedule=at.strftime("%Y-%m-%dT%H:%M:%SZ"))
                                   .task("t", assign_to="w"))
    wait_for(lambda: project.get_mission(mission.id).status == MissionStatus.COMPLETED)
    fired = [e for e in project.replay(0, "schedule:triggered") if e.data["missionId"] == mission.id]
    assert [e.data["occurrence"] for e in fired] == [at.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert fired[0].timestamp >= at.strftime("%Y-%m-%dT%H:%M:%S")  # on time, not early


async def test_a_commit_made_before_the_tail_starts_is_delivered(tmp_path: Path):
    """Another process commits between this one reading its event cursor (opening the store) and its
    tail starting: the tail delivers it at once, not at some later commit (a `polpo events --follow`
    started beside a quick `polpo run` missed the run's end)."""
    from polpo_nb.events import EventBus
    from polpo_nb.project.background import OtherProcesses
    from polpo_nb.store import Store

    class NoCommands:
        async def serve(self) -> None:
            return None

    db = tmp_path / "state.db"
    store = Store(db)
    bus = EventBus(store)  # its cursor: the last event as of now
    got: list[str] = []
    bus.subscribe(lambda event: got.append(event.event))
    other = Store(db)  # another process's connection
    with other.write() as tx:
        tx.append_event("mission:completed", {"missionId": "m"})
    others = OtherProcesses(store, bus, NoCommands(), changes.watch_database(db))  # type: ignore[arg-type]
    tail = asyncio.create_task(others.follow())
    try:
        for _ in range(int(WAIT * 100)):
            if got:
                break
            await asyncio.sleep(0.01)
        assert got == ["mission:completed"]
    finally:
        tail.cancel()
        await asyncio.gather(tail, return_exceptions=True)
