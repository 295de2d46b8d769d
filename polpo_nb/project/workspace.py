"""The workspace face of a project (`AsyncProject` inherits it): the memory its agents share, its log, and
its files. A class of its own so the project's module keeps to runs, missions and tasks; it holds no
state but what `AsyncProject.__init__` gives it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from .. import files
from ..errors import NotFoundError
from ..events.catalog import MemoryUpdated
from ..spec.files import FileListing, FilePreview
from ..spec.state import LogEntry, LogSession
from ..store.journal import Emit, Journal
from ..store.reader import Reader
from ..store.sqlite import Tx
from .loop import engine_call
from .memory import MemoryFile, appended, memory_text


class ProjectWorkspace:
    """The memory, log and file methods of `AsyncProject`; the attributes below are the ones its
    `__init__` sets."""

    _loop: asyncio.AbstractEventLoop
    root: Path
    memory_file: MemoryFile
    journal: Journal
    reads: Reader

    # -- memory ----------------------------------------------------------------------------------------

    @engine_call
    async def get_memory(self) -> str:
        return self.memory_file.read()

    @engine_call
    async def put_memory(self, text: str) -> str:
        return await self._edit_memory(lambda current: memory_text(text))

    @engine_call
    async def append_memory(self, text: str) -> str:
        return await self._edit_memory(lambda current: appended(current, memory_text(text)))

    async def _edit_memory(self, edit: Callable[[str], str]) -> str:
        """Read, edit and write the memory under the store's write lock (`BEGIN IMMEDIATE`, held across
        processes): two processes appending at once lost lines, each writing back what it had read."""
        def write(_tx: Tx, emit: Emit) -> str:
            text = edit(self.memory_file.read())
            self.memory_file.write(text)
            emit(MemoryUpdated(length=len(text)))
            return text
        return await self.journal.exclusively(write)

    # -- log -------------------------------------------------------------------------------------------

    @engine_call
    async def log_sessions(self) -> list[LogSession]:
        """The sessions of the project's log (one per attempt of a task), oldest first."""
        rows = await self.reads(lambda tx: tx.log_sessions())
        return [LogSession.model_validate(row, from_attributes=True) for row in rows]

    @engine_call
    async def log(self, session_id: str) -> list[LogEntry]:
        """A log session's entries in order."""
        rows = await self.reads(lambda tx: tx.log_entries(session_id))
        if not rows:
            raise NotFoundError(f"Log session not found: {session_id}")
        return [LogEntry.model_validate(row, from_attributes=True) for row in rows]

    # -- files -----------------------------------------------------------------------------------------

    @engine_call
    async def list_files(self, path: str = ".", *, nested: bool = True) -> FileListing:
        """A directory of the project (sandboxed: nothing outside it, no escaping symlinks; `nested=False`:
        nothing of a project nested in this one)."""
        return files.listing(self.root, path, nested=nested)

    @engine_call
    async def preview_file(self, path: str, max_lines: int = 500, *, nested: bool = True) -> FilePreview:
        """A text or JSON file's first `max_lines` lines; for other files, their kind and type."""
        return files.preview(self.root, path, max_lines, nested=nested)

    @engine_call
    async def file_path(self, path: str, *, nested: bool = True) -> Path:
        """Where a file of the project is on disk, once the sandbox has checked it is one."""
        return files.resolve_file(self.root, path, nested=nested)
