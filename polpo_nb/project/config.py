"""Finding a project's directories and reading its config, again whenever the file changes."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from ..errors import SpecError
from ..spec import ProjectConfig, parse
from ..spec.datafile import loads_json, read_as_data, read_utf8

POLPO_DIR = ".polpo"
CONFIG_FILES = (f"{POLPO_DIR}/config.json", "polpo.json")
#: Keys read once, when the project opens (the store, the executor, the model registry are built from
#: them): a change is reported in the log and applies at the next open.
READ_AT_OPEN = frozenset({"project", "synchronous", "executor", "dask_scheduler", "dask_connect_timeout",
                          "providers", "change_detection", "poll_interval"})

log = logging.getLogger(__name__)


def config_path(root: Path) -> Path | None:
    """`.polpo/config.json`, else `polpo.json` at the project root, else None."""
    for name in CONFIG_FILES:
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def load_config(root: Path, overrides: dict | None = None, defaults: dict | None = None) -> ProjectConfig:
    """The file's config over `defaults` (a server's own settings), under `overrides` (Python's `config=`)."""
    data: dict = {}
    path = config_path(root)
    if path is not None:
        with read_as_data(str(path)):
            try:
                data = loads_json(read_utf8(path))
            except json.JSONDecodeError as exc:
                raise SpecError([{"loc": [str(path)], "msg": f"invalid JSON: {exc}"}]) from None
        if not isinstance(data, dict):
            raise SpecError([{"loc": [str(path)], "msg": "the config file holds one JSON object"}])
    return parse(ProjectConfig, {**_wire_keys(defaults), **data, **_wire_keys(overrides)})


def _wire_keys(settings: dict | None) -> dict:
    """`max_concurrency` as `maxConcurrency`: layers merge on one spelling, else the same setting in
    two spellings would be two keys (and pydantic would refuse the second)."""
    fields = ProjectConfig.model_fields
    return {(fields[key].alias or key) if key in fields else key: value for key, value in (settings or {}).items()}


def _stamp(paths: tuple[str, ...]) -> tuple[Any, ...]:
    """What identifies the config files' contents without reading them: one stat each (about 1 µs)."""
    stamp: list[Any] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamp.append(None)
        else:
            stamp.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(stamp)


class CurrentConfig(Protocol):
    """`ConfigFile.current`, as the layers that read the config are given it."""

    def __call__(self, *, within: float = 0.0) -> ProjectConfig: ...


class ConfigFile:
    """A project's config that follows its file: `current()` re-reads it when it changed (two stats per
    call, the file read only on a change), so editing `.polpo/config.json` (say `orchestratorModel`)
    takes effect in a running server or kernel at its next use, without a restart.

    There is one `ProjectConfig` object per project, updated in place, so every holder of it (the
    engine, the LLM runtime, the chat) sees the new values. A file that does not parse keeps the last
    good config in force (and says so in the log): a half-saved edit must not stop running missions.
    """

    def __init__(self, root: Path, overrides: dict[str, Any] | None = None,
                 defaults: dict[str, Any] | None = None) -> None:
        self.root = root
        self.overrides = dict(overrides or {})
        self.defaults = dict(defaults or {})
        self._paths = tuple(str(root / name) for name in CONFIG_FILES)
        self._stamp = _stamp(self._paths)
        self._looked = time.monotonic()  # when the file was last looked at (`current`)
        self.config = load_config(root, self.overrides, self.defaults)
        self._lock = threading.Lock()

    def current(self, *, within: float = 0.0) -> ProjectConfig:
        """The config as its file says now; with `within`, as it said at a look at most that many seconds
        ago: for a caller asking per task started (thousands a second), whose two stats per look were ~3%
        of a quick task's cost. An edit then applies within that time rather than at once."""
        now = time.monotonic()
        if within and now - self._looked < within:
            return self.config
        self._looked = now
        stamp = _stamp(self._paths)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._stamp = stamp
                    self._reload()
        return self.config

    def _reload(self) -> None:
        try:
            new = load_config(self.root, self.overrides, self.defaults)
        except SpecError as exc:
            log.warning("polpo: %s: the config file is invalid, the previous one stays in force: %s",
                        self.root, exc.message)
            return
        changed = [name for name in ProjectConfig.model_fields if getattr(new, name) != getattr(self.config, name)]
        for name in changed:
            if name in READ_AT_OPEN:
                log.warning("polpo: %s: config %r changed; it applies when the project is next opened",
                            self.root, ProjectConfig.model_fields[name].alias or name)
            else:
                setattr(self.config, name, getattr(new, name))
