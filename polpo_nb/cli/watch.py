"""Following a run from the command line until it settles, and stopping it cleanly on Ctrl-C.

The engine runs on its own thread (`Project`); the main thread only draws. Events come through a
queue the engine's publisher fills without ever blocking; a helper thread waits for the run to settle
and posts that to the same queue; SIGINT and SIGTERM only count (signal handlers must not take locks).

- First Ctrl-C (or SIGTERM): one line on stderr, then `Project.interrupt_mission` cancels the attempts,
  pauses the mission (`pauseReason: "interrupted"`) and gives the run up, so `polpo resume NAME`
  continues it from any process; exit 130.
- Second Ctrl-C: exit at once, after expiring the run's lease (`Project.release_runs`) so any process
  can resume it without waiting.

Exits go through `os._exit` once the project is closed: an agent stuck in a worker thread (a sync
function ignoring `ctx.cancelled`) must not keep the process alive, and no half-torn-down asyncio task
gets to complain on the way out.
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

import click

from ..errors import ConflictError
from ..events.model import Event
from ..project import Project, RunHandle
from ..spec import MissionRecord, MissionStatus, TaskRecord, TaskStatus
from . import exits, logs
from .view import SHOWN, make_view, stdout

TICK_SECONDS = 0.25  # how often the live view redraws (and the main thread looks at its signals)
_SETTLED = object()


class Interrupts:
    """Counts SIGINT/SIGTERM while installed; the second one calls `at_once` from the handler itself
    (the main thread may be blocked in the first one's clean stop)."""

    def __init__(self) -> None:
        self.count = 0
        self.at_once: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count >= 2 and self.at_once is not None:
            self.at_once()

    @contextmanager
    def installed(self) -> Iterator[Interrupts]:
        previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def leave(code: int) -> None:
    """Flush what we said and exit now (see the module docstring for why not sys.exit)."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def follow(project: Project, start: Callable[[], RunHandle], interrupts: Interrupts, *,
           plain: bool = False) -> MissionRecord | TaskRecord:
    """Start a run with `start()` (subscribed first: no event is missed), show it until it settles and
    return its record; on Ctrl-C, stop it (see the module docstring). Why it stopped, if the store
    refused its writes, is raised (and printed once, by `main`: `logs.following`)."""
    with logs.following():
        return _follow(project, start, interrupts, plain=plain)


def _follow(project: Project, start: Callable[[], RunHandle], interrupts: Interrupts, *,
            plain: bool) -> MissionRecord | TaskRecord:
    out = stdout()
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    subscription = project.subscribe(events.put, SHOWN)
    try:
        handle = start()
        name = _mission_name(project, handle)
        interrupts.at_once = lambda: _at_once(project, name)
        record = handle.record()
        view = make_view(out, plain=plain)
        if isinstance(record, MissionRecord):
            view.start(record, record.tasks)
        else:
            view.start(None, [record])
        outcome: list[MissionRecord | TaskRecord | BaseException] = []

        def wait() -> None:
            try:
                outcome.append(handle.wait())
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                outcome.append(exc)
            events.put(_SETTLED)
        threading.Thread(target=wait, name="polpo-cli-wait", daemon=True).start()
        while True:
            if interrupts.count:
                view.stop()
                _interrupt(project, handle, name)
            try:
                item = events.get(timeout=TICK_SECONDS)
            except queue.Empty:
                view.tick()
                continue
            if item is _SETTLED:
                break
            if _of_run(item, handle):
                view.add(item)
        view.stop()
    finally:
        subscription.close()
    settled = outcome[0]
    if isinstance(settled, BaseException):
        raise settled
    return settled


def _of_run(event: Event, handle: RunHandle) -> bool:
    """Events of the followed run only (another process may be running another mission meanwhile)."""
    if handle.mission_id:
        return bool(event.data.get("missionId") == handle.mission_id)
    return bool(event.data.get("taskId") == handle.task_id)


def _mission_name(project: Project, handle: RunHandle) -> str | None:
    return project.get_mission(handle.mission_id).name if handle.mission_id else None


def _interrupt(project: Project, handle: RunHandle, name: str | None) -> None:
    """The first Ctrl-C: a clean pause, one line, exit 130."""
    message = "polpo: interrupted"
    if name is not None:
        try:
            project.interrupt_mission(name)
            message += f": mission {name!r} paused; `polpo resume {shlex.quote(name)}` continues it"
        except ConflictError:  # not run here (another process runs it, or it has just ended): leave it be
            message += f": stopped following mission {name!r} ({project.get_mission(name).status.value})"
    click.echo(message, err=True)
    project.close()
    leave(exits.INTERRUPTED)


def _at_once(project: Project, name: str | None) -> None:
    """The second Ctrl-C: release the run and exit, whatever the engine is doing."""
    try:
        project.release_runs()
    finally:
        what = f"; `polpo resume {shlex.quote(name)}` continues it" if name else ""
        os.write(2, f"polpo: stopped at once{what}\n".encode())
        os._exit(exits.INTERRUPTED)


def verdict(record: MissionRecord | TaskRecord) -> tuple[str, int]:
    """What a settled run means for the user: a closing message and the exit code."""
    if isinstance(record, TaskRecord):
        ok = record.status == TaskStatus.DONE
        return f"task {record.title!r}: {record.status.value}", exits.OK if ok else exits.FAILED
    name = shlex.quote(record.name)  # pasted into a shell: `$(...)` in a name stays text
    status = record.status
    if status == MissionStatus.COMPLETED:
        return f"mission {record.name}: completed", exits.OK
    if status in (MissionStatus.FAILED, MissionStatus.CANCELLED):
        why = f" ({record.error})" if record.error else ""
        hint = f"\nretry the failed tasks with: polpo resume {name} --retry-failed" if status == MissionStatus.FAILED else ""
        return f"mission {record.name}: {status.value}{why}{hint}", exits.FAILED
    if status == MissionStatus.PAUSED:
        lines = [f"mission {record.name}: paused ({record.pause_reason}): {record.pause_message or ''}".rstrip(": ")]
        lines.append(f"continue with: polpo resume {name}")
        if record.pause_reason == "gate":
            lines.append(f"or retry what failed the gate: polpo resume {name} --retry-failed")
        return "\n".join(lines), exits.WAITING
    waiting = [t for t in record.tasks if t.status == TaskStatus.AWAITING_APPROVAL]
    if waiting:
        lines = [f"mission {record.name}: waiting for approval"]
        lines += [f"  {t.title!r} ({t.id}): polpo approve {t.id}  |  polpo reject {t.id}" for t in waiting]
        return "\n".join(lines), exits.WAITING
    return f"mission {record.name}: {status.value}", exits.FAILED
