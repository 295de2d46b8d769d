"""Project memory: `.polpo/memory.md`, shared by every agent of the project."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SpecError


class MemoryFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def write(self, text: str) -> None:
        """Atomic: a reader never sees half a memory, a crash never leaves one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)


def memory_text(text: object) -> str:
    """What the memory file can hold: text that is UTF-8 (a lone surrogate is not)."""
    if not isinstance(text, str):
        raise SpecError([{"loc": ["content"], "msg": "memory is text"}])
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SpecError([{"loc": ["content"], "msg": f"memory is UTF-8 text: {exc.reason} at {exc.start}"}]) from None
    return text


def appended(current: str, text: str) -> str:
    """`text` after the memory, on a line of its own."""
    return current + ("" if not current or current.endswith("\n") else "\n") + text
