"""The projects a server serves: its root directory (the default project) and every directory with a
`.polpo/` folder below it, a few levels deep.

Projects are opened lazily, on the server's event loop, the first time a request names them (the
default one also at start-up): their engines then run on the server's loop, next to the handlers that
stream their events. A project no request has named for `idle_close` seconds, with no run, no event
subscriber and no schedule, is closed again (`close_idle`), so a server whose root holds many projects
keeps open only those in use; the next request reopens it.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from polpo_nb import AsyncProject
from polpo_nb.errors import NotFoundError, PolpoError
from polpo_nb.project.config import POLPO_DIR, load_config
from polpo_nb.spec.state import ProjectInfo

#: Directories never searched for projects (besides hidden ones).
SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env"})
DISCOVERY_TTL = 2.0

log = logging.getLogger(__name__)


class ProjectRegistry:
    def __init__(self, root: str | Path, *, default: str = "", max_depth: int = 3,
                 config: Callable[[Path], dict[str, Any]] | None = None) -> None:
        self.root = Path(root).resolve()
        self.default_path = (self.root / default).resolve() if default else self.root
        if not self.default_path.is_relative_to(self.root):
            raise ValueError(f"the default project {default!r} is outside the projects root {self.root}")
        self.max_depth = max_depth
        self._config = config or (lambda path: {})
        self._open: dict[Path, AsyncProject] = {}
        self._opening: dict[Path, asyncio.Future[AsyncProject]] = {}
        self._discovered: tuple[float, dict[str, Path]] = (0.0, {})
        self._last_used: dict[Path, float] = {}
        self.closed = False

    # -- discovery -------------------------------------------------------------------------------------

    def _project_id(self, path: Path) -> str:
        try:
            return load_config(path).project or path.name
        except PolpoError:  # a broken config file: the project is still listed, under its name
            return path.name

    def _scan(self) -> dict[str, Path]:
        """id -> directory: the default project first, then breadth-first, ids unique (a later
        directory whose name is taken gets its relative path, `a--b--c`)."""
        found = [self.default_path]
        if self.root != self.default_path and (self.root / POLPO_DIR).is_dir():
            found.append(self.root)
        frontier = [self.root]
        for _ in range(self.max_depth):
            next_frontier = []
            for directory in frontier:
                try:
                    children = sorted(os.scandir(directory), key=lambda e: e.name)
                except OSError:
                    continue
                for entry in children:
                    if entry.name.startswith(".") or entry.name in SKIP_DIRS:
                        continue
                    try:
                        if not entry.is_dir(follow_symlinks=False):
                            continue
                    except OSError:
                        continue
                    path = Path(entry.path)
                    next_frontier.append(path)
                    if (path / POLPO_DIR).is_dir() and path not in found:
                        found.append(path)
            frontier = next_frontier
        ids: dict[str, Path] = {}
        for path in found:
            ident = self._project_id(path)
            if ident in ids:
                ident = path.relative_to(self.root).as_posix().replace("/", "--")
            ids.setdefault(ident, path)
        return ids

    async def discover(self, *, fresh: bool = False) -> dict[str, Path]:
        stamp, ids = self._discovered
        if fresh or time.monotonic() - stamp > DISCOVERY_TTL:
            ids = await asyncio.to_thread(self._scan)
            self._discovered = (time.monotonic(), ids)
        return ids

    async def list(self) -> list[ProjectInfo]:
        ids = await self.discover(fresh=True)
        return [ProjectInfo(id=ident, name=path.name, path=path.relative_to(self.root).as_posix() or ".")
                for ident, path in ids.items()]

    # -- opening ---------------------------------------------------------------------------------------

    @property
    def open_projects(self) -> builtins.list[AsyncProject]:
        return list(self._open.values())

    def find_open(self, project_id: str) -> AsyncProject | None:
        return next((p for p in self._open.values() if p.id == project_id), None)

    async def get(self, project_id: str | None) -> AsyncProject:
        """The project with this id; None is the default project (the flat dialect's)."""
        if project_id is None:
            return await self.default()
        project = self.find_open(project_id)
        if project is not None:
            self._last_used[project.root] = time.monotonic()
            return project
        path = (await self.discover()).get(project_id)
        if path is None:
            path = (await self.discover(fresh=True)).get(project_id)
        if path is None:
            raise NotFoundError(f"Project not found: {project_id}")
        return await self.open(path)

    async def default(self) -> AsyncProject:
        return await self.open(self.default_path)

    async def open(self, path: Path) -> AsyncProject:
        if self.closed:
            raise PolpoError("the server is stopping")
        self._last_used[path] = time.monotonic()
        project = self._open.get(path)
        if project is not None:
            return project
        opening = self._opening.get(path)
        if opening is None:
            opening = asyncio.ensure_future(self._do_open(path))
            self._opening[path] = opening
        return await asyncio.shield(opening)

    async def _do_open(self, path: Path) -> AsyncProject:
        try:
            project = await AsyncProject.open(path, config_defaults=self._config(path) or None)
            self._open[path] = project
            log.info("polpo: opened project %r at %s", project.id, path)
            return project
        finally:
            self._opening.pop(path, None)

    async def close_idle(self, idle_close: float) -> builtins.list[str]:
        """Close the projects unused for `idle_close` seconds that nothing needs open; their ids."""
        closed = []
        now = time.monotonic()
        for path, project in list(self._open.items()):
            unused = now - self._last_used.get(path, now)
            if unused < idle_close or await project.in_use():
                continue
            if self._open.get(path) is not project:  # reopened or closed while we asked
                continue
            del self._open[path]
            self._last_used.pop(path, None)
            await project.close()
            log.info("polpo: closed project %r (unused for %.0f s)", project.id, unused)
            closed.append(project.id)
        return closed

    async def close_idle_forever(self, idle_close: float) -> None:
        """`close_idle` every tenth of `idle_close` (at least every 5 s, at most every minute)."""
        while not self.closed:
            await asyncio.sleep(min(60.0, max(5.0, idle_close / 10)))
            try:
                await self.close_idle(idle_close)
            except Exception:  # noqa: BLE001 - a failed close must not stop later ones
                log.exception("polpo: closing idle projects failed")

    async def close(self) -> None:
        self.closed = True
        for opening in list(self._opening.values()):
            opening.cancel()
        projects, self._open = list(self._open.values()), {}
        for project in projects:
            try:
                await project.close()
            except Exception:  # noqa: BLE001 - one project's failure must not keep the others open
                log.exception("polpo: closing project %s failed", project.root)
