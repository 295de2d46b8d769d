"""The rows of chat sessions and their messages, mixed into `Tx`. A message's row is the chat layer's JSON
(`polpo_nb/chat/sessions.py`): the store stays ignorant of its models."""

from __future__ import annotations

from typing import Any

from .rows import ChatMessageRow, ChatSessionRow
from .statements import Statements


class ChatRows(Statements):
    """The chat queries of a transaction (`Tx` inherits them)."""

    def put_chat_session(self, session_id: str, title: str, agent: str | None, created_at: str, updated_at: str) -> None:
        self._w(
            "INSERT INTO chat_sessions (id, title, agent, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET title=excluded.title, agent=excluded.agent, updated_at=excluded.updated_at",
            (session_id, title, agent, created_at, updated_at),
        )

    def chat_sessions(self, session_id: str | None = None) -> list[ChatSessionRow]:
        """Sessions, most recently updated first, with their message counts (one session by id)."""
        sql = ("SELECT s.id, s.title, s.agent, s.created_at, s.updated_at, "
               "(SELECT COUNT(*) FROM chat_messages m WHERE m.session_id = s.id) FROM chat_sessions s")
        args: list[Any] = []
        if session_id is not None:
            sql, args = sql + " WHERE s.id = ?", [session_id]
        return [ChatSessionRow(*row) for row in self._x(sql + " ORDER BY s.updated_at DESC, s.rowid DESC", args)]

    def touch_chat_session(self, session_id: str, updated_at: str, title: str | None = None) -> bool:
        if title is None:
            cur = self._w("UPDATE chat_sessions SET updated_at = ? WHERE id = ?", (updated_at, session_id))
        else:
            cur = self._w("UPDATE chat_sessions SET updated_at = ?, title = ? WHERE id = ?", (updated_at, title, session_id))
        return cur.rowcount > 0

    def delete_chat_session(self, session_id: str) -> bool:
        self._w("DELETE FROM chat_messages WHERE session_id = ?", (session_id,))
        return self._w("DELETE FROM chat_sessions WHERE id = ?", (session_id,)).rowcount > 0

    def add_chat_message(self, session_id: str, doc: str) -> int:
        cur = self._w("INSERT INTO chat_messages (session_id, doc) VALUES (?, ?)", (session_id, doc))
        return int(cur.lastrowid or 0)

    def chat_messages(self, session_id: str) -> list[ChatMessageRow]:
        """A session's messages in conversation order."""
        return [ChatMessageRow(*row) for row in
                self._x("SELECT id, doc FROM chat_messages WHERE session_id = ? ORDER BY id", (session_id,))]
