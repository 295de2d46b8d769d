"""The project sandbox: which paths resolve, which are refused, and what commands may see."""

from __future__ import annotations

from pathlib import Path

import pytest

from polpo_nb.errors import NotFoundError, PolpoError
from polpo_nb.sandbox import SandboxError, filtered_env, resolve_in_project


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    return project


def test_sandbox_error_is_a_bad_request_polpo_error() -> None:
    assert issubclass(SandboxError, PolpoError)
    assert SandboxError.code == "BAD_REQUEST"


def test_accepts_nested_relative_path(root: Path) -> None:
    assert resolve_in_project(root, "src/pkg/mod.py") == (root / "src" / "pkg" / "mod.py").resolve()


def test_accepts_absolute_path_inside_root(root: Path) -> None:
    inside = root / "src" / "pkg" / "mod.py"
    assert resolve_in_project(root, str(inside)) == inside.resolve()


def test_accepts_path_that_does_not_exist_yet(root: Path) -> None:
    assert resolve_in_project(root, "new/file.txt") == (root / "new" / "file.txt").resolve()


def test_accepts_symlink_whose_target_stays_inside(root: Path) -> None:
    (root / "link").symlink_to(root / "src")
    assert resolve_in_project(root, "link/pkg/mod.py") == (root / "src" / "pkg" / "mod.py").resolve()


def test_rejects_dotdot_component(root: Path) -> None:
    with pytest.raises(SandboxError, match=r"'\.\.'"):
        resolve_in_project(root, "../secret.txt")


def test_rejects_dotdot_even_when_it_would_land_inside(root: Path) -> None:
    with pytest.raises(SandboxError):
        resolve_in_project(root, "src/../src/pkg/mod.py")


def test_rejects_absolute_path_outside_root(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("nope")
    with pytest.raises(SandboxError, match="outside the project"):
        resolve_in_project(root, str(outside))


def test_rejects_symlink_escaping_root(root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("hunter2")
    (root / "escape").symlink_to(secret)
    with pytest.raises(SandboxError, match="resolves outside the project"):
        resolve_in_project(root, "escape/key.txt")


def test_symlink_escape_message_does_not_reveal_the_target(root: Path, tmp_path: Path) -> None:
    target = tmp_path / "hidden-target-dir"
    target.mkdir()
    (root / "escape").symlink_to(target)
    with pytest.raises(SandboxError) as info:
        resolve_in_project(root, "escape")
    assert "escape" in info.value.message
    assert "hidden-target-dir" not in info.value.message


def test_rejects_nul_byte(root: Path) -> None:
    with pytest.raises(SandboxError, match="NUL"):
        resolve_in_project(root, "src/mod\x00.py")


def test_must_exist_raises_not_found_for_missing_path(root: Path) -> None:
    with pytest.raises(NotFoundError, match="missing.txt"):
        resolve_in_project(root, "missing.txt", must_exist=True)


@pytest.mark.parametrize("path", [".polpo/state.db", ".polpo/state.db-wal", ".polpo/state.db-shm", "sub/.polpo/state.db",
                                  "link-to-db"])
def test_a_project_state_database_is_never_handed_out(root: Path, path: str) -> None:
    """Opening and closing any descriptor of a SQLite file drops every POSIX lock the process holds on it,
    SQLite's included: a file preview of `.polpo/state.db` in the server let the next other process on
    the project delete its live WAL, and the two went on writing apart. No one opens it but the store."""
    for d in (root / ".polpo", root / "sub" / ".polpo"):
        d.mkdir(parents=True)
        (d / "state.db").write_bytes(b"SQLite format 3\x00")
    (root / "link-to-db").symlink_to(root / ".polpo" / "state.db")
    with pytest.raises(SandboxError, match="state database"):
        resolve_in_project(root, path)
    assert resolve_in_project(root, ".polpo/output/report.md") == (root / ".polpo" / "output" / "report.md").resolve()


def test_filtered_env_drops_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("MY_TOKEN", "t0k3n")
    env = filtered_env()
    assert "OPENAI_API_KEY" not in env
    assert "MY_TOKEN" not in env


def test_filtered_env_keeps_path_and_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    env = filtered_env()
    assert env["PATH"] == "/usr/bin:/bin"
    assert env["LC_ALL"] == "C.UTF-8"


def test_filtered_env_drops_unlisted_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://user:pw@db/prod")
    assert "DATABASE_URL" not in filtered_env()


def test_filtered_env_applies_extra_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    env = filtered_env({"PATH": "/opt/bin", "POLPO_TASK_ID": "task_1"})
    assert env["PATH"] == "/opt/bin"
    assert env["POLPO_TASK_ID"] == "task_1"
