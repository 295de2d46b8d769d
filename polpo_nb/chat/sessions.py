"""Chat sessions in the project's store: every conversation, with its tool calls, kept and listed.

Writes go through the journal (group commit), so `session:created` and `message:added` are published
only once the rows are durable, like every other event. Messages are stored as they happen during a
turn (the user's first, then each assistant turn and each tool result), so a crash or a cancelled
stream leaves the conversation as far as it got.
"""

from __future__ import annotations

import builtins
import secrets
from typing import TYPE_CHECKING

from ..errors import NotFoundError
from ..events.catalog import MessageAdded, SessionCreated, SessionDeleted, SessionRenamed
from ..spec import utcnow
from ..usage.ledger import write_spend
from .messages import ChatMessage, ChatSession

if TYPE_CHECKING:
    from ..store.journal import Emit, Journal
    from ..store.rows import SpendRow
    from ..store.sqlite import Store, Tx

__all__ = ["SessionNotFound", "Sessions"]


class SessionNotFound(NotFoundError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"Chat session not found: {session_id}")


def new_session_id() -> str:
    return f"sess_{secrets.token_hex(8)}"


class Sessions:
    def __init__(self, store: Store, journal: Journal) -> None:
        self._store = store
        self._journal = journal

    # -- reads --------------------------------------------------------------------------------------

    def list(self) -> list[ChatSession]:
        """Most recently updated first."""
        with self._store.read() as tx:
            return [ChatSession.model_validate(row, from_attributes=True) for row in tx.chat_sessions()]

    def get(self, session_id: str) -> ChatSession:
        with self._store.read() as tx:
            return _one(tx, session_id)

    def latest(self) -> ChatSession | None:
        sessions = self.list()
        return sessions[0] if sessions else None

    def messages(self, session_id: str) -> builtins.list[ChatMessage]:
        with self._store.read() as tx:
            _one(tx, session_id)
            return [ChatMessage.model_validate_json(row.doc).model_copy(update={"id": row.id})
                    for row in tx.chat_messages(session_id)]

    # -- writes -------------------------------------------------------------------------------------

    async def create(self, title: str, agent: str | None) -> ChatSession:
        session_id = new_session_id()

        def write(tx: Tx, emit: Emit) -> ChatSession:
            now = tx.now or utcnow()
            tx.put_chat_session(session_id, title, agent, now, now)
            emit(SessionCreated(session_id=session_id, title=title, agent=agent))
            return _one(tx, session_id)
        return await self._journal.write(write)

    async def add(self, session_id: str, messages: builtins.list[ChatMessage]) -> builtins.list[ChatMessage]:
        """Append messages (one transaction, one `message:added` each); they come back with their ids."""
        def write(tx: Tx, emit: Emit) -> builtins.list[ChatMessage]:
            now = tx.now or utcnow()
            if not tx.touch_chat_session(session_id, now):
                raise SessionNotFound(session_id)
            stored = []
            for message in messages:
                message = message.model_copy(update={"id": None, "created_at": message.created_at or now})
                message_id = tx.add_chat_message(session_id, message.model_dump_json(by_alias=True, exclude_none=True))
                message = message.model_copy(update={"id": message_id})
                emit(MessageAdded(session_id=session_id, message_id=message_id, role=message.role,
                                  tool_calls=[c.name for c in message.tool_calls or []] or None,
                                  tool=message.name if message.role == "tool" and message.name else None))
                stored.append(message)
            return stored
        return await self._journal.write(write)

    async def record_spend(self, rows: builtins.list[SpendRow]) -> None:
        """What a turn's model calls spent (usage/ledger.py), for the project's rollups."""
        await self._journal.write(lambda tx, emit: write_spend(tx, rows))

    async def rename(self, session_id: str, title: str) -> ChatSession:
        def write(tx: Tx, emit: Emit) -> ChatSession:
            if not tx.touch_chat_session(session_id, tx.now or utcnow(), title=title):
                raise SessionNotFound(session_id)
            emit(SessionRenamed(session_id=session_id, title=title))
            return _one(tx, session_id)
        return await self._journal.write(write)

    async def delete(self, session_id: str) -> None:
        def write(tx: Tx, emit: Emit) -> None:
            if not tx.delete_chat_session(session_id):
                raise SessionNotFound(session_id)
            emit(SessionDeleted(session_id=session_id))
        await self._journal.write(write)


def _one(tx: Tx, session_id: str) -> ChatSession:
    rows = tx.chat_sessions(session_id)
    if not rows:
        raise SessionNotFound(session_id)
    return ChatSession.model_validate(rows[0], from_attributes=True)
