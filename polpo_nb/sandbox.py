"""Keeping agents, expectations and the file API inside the project.

Everything that touches a path or runs a command on behalf of an agent goes through here, so there is
one definition of "inside the project" and one of "the environment a command may see".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePath

from .errors import NotFoundError, PolpoError

__all__ = ["SandboxError", "filtered_env", "resolve_in_project"]


class SandboxError(PolpoError):
    """A path that would leave the project. Its message names the path as given, never the target."""

    code = "BAD_REQUEST"


def resolve_in_project(root: Path, path: str, *, must_exist: bool = False) -> Path:
    """The absolute, resolved path of `path` under `root`, or SandboxError.

    `..` is refused before resolution (even when it would land back inside) because a path that
    spells its way out is a mistake or an attack either way. Symlinks are followed and allowed as
    long as their target stays in the project. With `must_exist`, a missing path raises NotFoundError
    (a different code: the request was legitimate, the file is just not there).
    """
    shown = repr(path)
    if "\x00" in path:
        raise SandboxError(f"path {shown} is not allowed: it contains a NUL byte")
    given = PurePath(path)
    if ".." in given.parts:
        raise SandboxError(f"path {shown} is not allowed: it contains a '..' component")

    root = Path(root)
    real_root = root.resolve()
    candidate = Path(given) if given.is_absolute() else root / given
    if given.is_absolute() and not (candidate.is_relative_to(root.absolute()) or candidate.is_relative_to(real_root)):
        raise SandboxError(f"path {shown} is not allowed: it is outside the project")
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops, unreadable components
        raise SandboxError(f"path {shown} cannot be resolved: {type(exc).__name__}") from None
    if not resolved.is_relative_to(real_root):
        raise SandboxError(f"path {shown} is not allowed: it resolves outside the project (symlink)")
    if _is_state_database(resolved):
        raise SandboxError(f"path {shown} is not allowed: it is a project's state database, which only polpo's store "
                           "opens (a descriptor opened and closed anywhere else in the process drops its locks)")
    try:
        exists = resolved.exists()
    except OSError as exc:  # a name too long for the file system (ENAMETOOLONG), ...
        raise SandboxError(f"path {shown} cannot be used: {exc.strerror or type(exc).__name__}") from None
    if must_exist and not exists:
        raise NotFoundError(f"path {shown} does not exist in the project")
    return resolved


def _is_state_database(path: Path) -> bool:
    """`.polpo/state.db` or one of its companions (`-wal`, `-shm`, `-journal`), of this project or another.
    SQLite's locks are POSIX locks, which a process loses on *every* descriptor of the file when it closes
    any one of them: reading the file for a preview in the process that holds the store would let another
    process remove its live WAL. So no path the sandbox hands out leads to one."""
    return path.parent.name == ".polpo" and path.name.startswith("state.db")


#: Variables a command needs to behave like it would in the user's shell.
_KEPT = frozenset(
    {"PATH", "HOME", "LANG", "TERM", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SHELL", "USER"}
)
#: Name fragments that mark a credential; such a variable never reaches a command, even if kept above.
_SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


def _is_kept(name: str) -> bool:
    upper = name.upper()
    if any(marker in upper for marker in _SECRET_MARKERS):
        return False
    return upper in _KEPT or upper.startswith("LC_")


def filtered_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for commands run for agents and expectations: an allow-list, so a provider's API
    key in the server's environment cannot be read (or printed into feedback) by an agent's command.
    `extra` is applied last and unfiltered: the caller chose it."""
    env = {name: value for name, value in os.environ.items() if _is_kept(name)}
    if extra:
        env.update(extra)
    return env
