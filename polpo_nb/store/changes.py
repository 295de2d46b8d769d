"""Knowing, without polling, when another process may have written the state database.

An open project must deliver what other processes commit (a `polpo run`, another kernel, a server)
within ~100 ms, yet cost nothing while nothing happens: a notebook kernel holding a project between
cells, or a server with many projects, must not burn a core reading `PRAGMA data_version` 20 times a
second. So the project sleeps on a change notification for the files SQLite writes (`state.db` and
its `-wal`): inotify registered with the event loop on Linux (no thread, no timer), watchfiles
(FSEvents, ReadDirectoryChangesW) elsewhere. Network filesystems do not report other machines'
writes, so there, or when no notification can be had, it polls slowly (and says so in the log).

A notification arrives when the writer *writes* the WAL, which can be a moment before its commit is
visible, so after each notification the caller looks a few more times (`SETTLE_SECONDS`) before it
sleeps again; that is what keeps a commit from slipping between a look and the next sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger(__name__)

ChangeDetection = Literal["auto", "notify", "poll"]

#: After a notification, keep looking this long (at `LOOK_SECONDS` intervals) for commits that were
#: being written when it arrived.
SETTLE_SECONDS = 0.5
LOOK_SECONDS = 0.05
#: Filesystems whose other clients' writes raise no local notification.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "gpfs", "afs",
    "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.glusterfs", "beegfs", "ocfs2", "gfs2",
})


class ChangeWatch(Protocol):
    """Something to sleep on until the database files may have changed."""

    mode: str

    async def wait(self) -> None:
        """Return when the database may have changed (or, polling, when it is time to look)."""

    def close(self) -> None: ...


def filesystem_type(path: Path, mounts: str | None = None) -> str | None:
    """The type of the filesystem `path` is on, from /proc/self/mounts (None where there is no such file)."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    best: tuple[int, str] | None = None
    target = str(path)
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > best[0]):
            best = (len(point), fields[2])
    return best[1] if best else None


class PollWatch:
    """Look every `interval` seconds: the fallback where no notification reaches this machine."""

    mode = "poll"

    def __init__(self, interval: float) -> None:
        self.interval = interval

    async def wait(self) -> None:
        await asyncio.sleep(self.interval)

    def close(self) -> None:
        return None


class InotifyWatch:
    """Linux: the directory's inotify descriptor read by the event loop itself."""

    mode = "inotify"

    def __init__(self, directory: Path, is_db_file: Callable[[str], bool]) -> None:
        from asyncinotify import Inotify, Mask

        self._inotify = Inotify(sync_timeout=0)  # sync_get: what is queued, never blocking
        try:
            self._inotify.add_watch(directory, Mask.MODIFY | Mask.CREATE | Mask.MOVED_TO | Mask.DELETE)
        except Exception:
            self._inotify.close()
            raise
        self._is_db_file = is_db_file

    async def wait(self) -> None:
        while True:
            event = await self._inotify.get()
            if event.name is None or self._is_db_file(event.name.name):  # None: the queue overflowed
                self._drain()
                return

    def _drain(self) -> None:
        """Swallow what is already queued: one look covers every write before it."""
        with contextlib.suppress(BlockingIOError):
            while self._inotify.sync_get() is not None:
                pass

    def close(self) -> None:
        self._inotify.close()


class WatchfilesWatch:
    """macOS and Windows: watchfiles' native watcher, in a thread of its own."""

    mode = "watchfiles"

    def __init__(self, directory: Path, is_db_file: Callable[[str], bool]) -> None:
        import watchfiles

        self._stop = asyncio.Event()
        self._changes: asyncio.Queue[None] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._run(watchfiles, directory, is_db_file))

    async def _run(self, watchfiles: object, directory: Path, is_db_file: Callable[[str], bool]) -> None:
        awatch = watchfiles.awatch  # type: ignore[attr-defined]
        async for _ in awatch(directory, watch_filter=lambda _c, p: is_db_file(Path(p).name), recursive=False,
                              debounce=50, step=LOOK_SECONDS * 1000, stop_event=self._stop):
            self._changes.put_nowait(None)

    async def wait(self) -> None:
        await self._changes.get()
        while not self._changes.empty():
            self._changes.get_nowait()

    def close(self) -> None:
        self._stop.set()
        self._task.cancel()


def watch_database(db_path: Path, *, detection: ChangeDetection = "auto", poll_interval: float = 1.0) -> ChangeWatch:
    """The cheapest reliable way to learn that `db_path` changed. `auto` notifies where the platform
    can and the files are local, else polls every `poll_interval` s; `notify` insists (and raises
    where it cannot); `poll` always polls (for a filesystem we cannot recognize as remote)."""
    if detection == "poll":
        return PollWatch(poll_interval)
    directory = db_path.parent
    fs_type = filesystem_type(directory)
    if detection == "auto" and fs_type in NETWORK_FILESYSTEMS:
        log.info("polpo: %s is on %s (no change notifications for other machines' writes): polling every %s s",
                 directory, fs_type, poll_interval)
        return PollWatch(poll_interval)
    name = db_path.name

    def is_db_file(file_name: str) -> bool:
        return file_name == name or file_name.startswith(name + "-")

    try:
        if sys.platform.startswith("linux"):
            return InotifyWatch(directory, is_db_file)
        return WatchfilesWatch(directory, is_db_file)
    except (OSError, ImportError) as exc:
        if detection == "notify":
            raise
        log.warning("polpo: no change notifications for %s (%s): polling every %s s", directory, exc, poll_interval)
        return PollWatch(poll_interval)


async def follow_changes(watch: ChangeWatch, look: Callable[[], Awaitable[bool]]) -> None:
    """Call `look()` (True if it found something new) whenever the database may have changed, forever.

    After each notification it keeps looking for `SETTLE_SECONDS`: the notification can come while
    the writer's commit is still on its way to being visible."""
    while True:
        await watch.wait()
        if watch.mode == "poll":
            await look()
            continue
        loop = asyncio.get_running_loop()
        until = loop.time() + SETTLE_SECONDS
        while True:
            if await look():
                until = loop.time() + SETTLE_SECONDS
            if loop.time() >= until:
                break
            await asyncio.sleep(LOOK_SECONDS)
