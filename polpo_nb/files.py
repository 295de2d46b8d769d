"""A project directory's files as the API and the chat show them: listings, previews, and the bytes.

Every path goes through `polpo_nb.sandbox.resolve_in_project` (the library's one definition of
"inside the project"): `..`, absolute paths outside the project and symlinks that escape it are
refused before anything is read. With `nested=False` (the server, for a project key), a directory
below the project with its own `.polpo/` is another project, whose key is another: its files are
neither listed nor served. The server's own credentials see every file below the root, as Jupyter's
contents API does (the widget links a nested project's executed notebooks through the root's routes).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from .errors import NotFoundError, PolpoError, SpecError
from .sandbox import resolve_in_project
from .spec.files import FileEntry, FileListing, FilePreview

CHUNK = 64 * 1024
#: A preview reads at most this much text, whatever `maxLines` says.
PREVIEW_BYTES = 1024 * 1024
_SNIFF = 8192


def _relative(root: Path, path: Path) -> str:
    rel = path.relative_to(root.resolve()).as_posix()
    return rel or "."


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _own(root: Path, target: Path, path: str, nested: bool) -> Path:
    """`target` (resolved, inside `root`), unless `nested` is False and it lies in a project nested in this
    one: NotFoundError."""
    if nested:
        return target
    real_root = root.resolve()
    for folder in (target, *target.parents):
        if folder == real_root:
            return target
        if (folder / ".polpo").is_dir():
            raise NotFoundError(f"path {path!r} belongs to another project ({_relative(root, folder)})")
    return target


def listing(root: Path, path: str, *, nested: bool = True) -> FileListing:
    directory = _own(root, resolve_in_project(root, path or ".", must_exist=True), path, nested)
    if not directory.is_dir():
        raise SpecError([{"loc": ["path"], "msg": f"{path!r} is not a directory"}])
    entries = []
    for child in directory.iterdir():
        try:
            target = _own(root, resolve_in_project(root, str(child)), str(child), nested)
        except PolpoError:  # a symlink pointing out of the project, the state database, another project: not shown
            continue
        is_dir = target.is_dir()
        entries.append(FileEntry(
            name=child.name, path=_relative(root, directory / child.name), type="directory" if is_dir else "file",
            size=None if is_dir or not target.exists() else target.stat().st_size,
            modified=_mtime(target) if target.exists() else None,
        ))
    entries.sort(key=lambda e: (e.type != "directory", e.name.lower()))
    return FileListing(path=_relative(root, directory), entries=entries)


def resolve_file(root: Path, path: str, *, nested: bool = True) -> Path:
    target = _own(root, resolve_in_project(root, path, must_exist=True), path, nested)
    if not target.is_file():
        raise SpecError([{"loc": ["path"], "msg": f"{path!r} is not a file"}])
    return target


def content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed is None:
        return "text/plain; charset=utf-8" if _is_text(path) else "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "application/javascript", "image/svg+xml"):
        return f"{guessed}; charset=utf-8"
    return guessed


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            yield block


def _is_text(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF)
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the sniff boundary is still text
        return exc.start >= len(head) - 3
    return True


def _kind(path: Path, mime: str) -> str:
    if mime.startswith("image/") and not mime.startswith("image/svg"):
        return "image"
    for prefix, kind in (("audio/", "audio"), ("video/", "video"), ("application/pdf", "pdf")):
        if mime.startswith(prefix):
            return kind
    if not _is_text(path):
        return "binary"
    return "json" if mime.startswith("application/json") else "text"


def preview(root: Path, path: str, max_lines: int, *, nested: bool = True) -> FilePreview:
    """Text and JSON files: their first `max_lines` lines; others: their kind and type (`url` is the
    HTTP layer's to fill)."""
    target = resolve_file(root, path, nested=nested)
    mime = content_type(target)
    kind = _kind(target, mime)
    size = target.stat().st_size
    rel = _relative(root, target)
    if kind not in ("text", "json"):
        return FilePreview(path=rel, type=kind, mime_type=mime, size=size)
    lines: list[str] = []
    read = 0
    truncated = False
    with target.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        for line in fh:
            if len(lines) >= max_lines or read + len(line) > PREVIEW_BYTES:
                truncated = True
                break
            lines.append(line)
            read += len(line)
    return FilePreview(path=rel, type=kind, mime_type=mime, size=size, content="".join(lines), truncated=truncated)
