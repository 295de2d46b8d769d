"""The SQL schema of `.polpo/state.db` and its migrations.

Rows keep the columns we filter or join on, plus `doc`: the pydantic model's JSON, so the store speaks
the same schema as the API. A migration is the SQL from one version to the next, run in one
`BEGIN IMMEDIATE` transaction so two processes opening a new project cannot both apply it. Opening a newer database than this code knows is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3

V1 = """
CREATE TABLE missions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    mission_id TEXT REFERENCES missions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    assign_to TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX tasks_by_mission ON tasks(mission_id, seq);
CREATE TABLE attempts (
    task_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    phase TEXT NOT NULL,
    agent TEXT NOT NULL,
    model TEXT,
    owner TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    result TEXT,
    PRIMARY KEY (task_id, number)
);
CREATE TABLE runs (
    mission_id TEXT PRIMARY KEY REFERENCES missions(id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    lease_until REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    task_id TEXT,
    ts TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX logs_by_session ON logs(session_id, id);
CREATE TABLE agents (
    name TEXT PRIMARY KEY,
    mission_id TEXT,
    doc TEXT NOT NULL
);
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mission_id TEXT,
    task_id TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
"""

V2 = """
CREATE TABLE schedule_fires (
    mission_id TEXT NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
    occurrence TEXT NOT NULL,
    outcome TEXT NOT NULL,
    owner TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (mission_id, occurrence)
);
ALTER TABLE commands ADD COLUMN owner TEXT;
ALTER TABLE commands ADD COLUMN error TEXT;
ALTER TABLE commands ADD COLUMN error_code TEXT;
CREATE INDEX commands_open ON commands(done, owner)
"""

V3 = """
CREATE TABLE chat_sessions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    agent TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE INDEX chat_messages_by_session ON chat_messages(session_id, id)
"""

V4 = """
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(name) WHERE revoked_at IS NULL
"""

#: Exact resume (issue 22): the durable steps of an attempt, in order (store/steps.py, agents/steps.py).
V5 = """
CREATE TABLE steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX steps_by_attempt ON steps(task_id, attempt, id)
"""

#: Budgets and attribution (issue 21): what each attempt, review and chat turn spent (usage/ledger.py).
V6 = """
CREATE TABLE spend (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    mission_id TEXT,
    execution INTEGER,
    task_id TEXT,
    attempt INTEGER,
    session_id TEXT,
    agent TEXT,
    model TEXT,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    tool_calls INTEGER NOT NULL,
    cost_usd TEXT,
    unpriced_requests INTEGER NOT NULL,
    unpriced_tokens INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX spend_by_mission ON spend(mission_id)
"""

#: Lists that stay cheap while a mission runs (issue 15; store/revisions.py): every task write numbers
#: its row with the next `rev` (the upsert computes it from the index), and every deletion of a task
#: row counts in `task_deletions`, so a reader that kept the list as of one (rev, deletions) reads only
#: the rows written since, and knows when rows went.
V7 = """
ALTER TABLE tasks ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_by_rev ON tasks(rev);
CREATE TABLE task_deletions (n INTEGER NOT NULL);
INSERT INTO task_deletions (n) VALUES (0);
CREATE TRIGGER tasks_deleted AFTER DELETE ON tasks BEGIN UPDATE task_deletions SET n = n + 1; END
"""

#: The events of one transaction in one row (store/eventlog.py says why): ids `first`..`last`, `body` the
#: zlib'd JSON array of [name, payload]. The old rows move over as they are, one event each, their body
#: plain JSON text (built as text: a payload is not parsed again); an empty row keeps the old sequence's
#: last id if every old event had been pruned, so ids are never used twice.
V8 = """
CREATE TABLE event_batches (
    first INTEGER PRIMARY KEY,
    last INTEGER NOT NULL,
    body BLOB NOT NULL
);
INSERT INTO event_batches (first, last, body) SELECT id, id, '[[' || json_quote(name) || ',' || data || ']]' FROM events;
INSERT INTO event_batches (first, last, body)
    SELECT seq, seq, '[]' FROM sqlite_sequence WHERE name = 'events' AND seq > (SELECT COALESCE(MAX(id), 0) FROM events);
DROP TABLE events
"""

#: The largest seq a deleted task had (`Tx.next_seq` never goes below it): a list's cursor is a seq, and a
#: number given again after its task was deleted put a new task behind cursors already handed out.
#: Deletions before this version are not known: it starts at 0.
V9 = """
ALTER TABLE task_deletions ADD COLUMN max_seq INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER tasks_deleted;
CREATE TRIGGER tasks_deleted AFTER DELETE ON tasks BEGIN
    UPDATE task_deletions SET n = n + 1, max_seq = MAX(max_seq, OLD.seq);
END
"""

#: `MIGRATIONS[n]` is the SQL that upgrades a database at version n to n+1 (PRAGMA user_version).
MIGRATIONS: list[str] = [V1, V2, V3, V4, V5, V6, V7, V8, V9]
SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """Split a migration into statements (ours hold no `;` inside literals). A trigger's body holds `;`
    of its own: a statement ends at the first `;` after which SQLite's parser finds it complete."""
    out: list[str] = []
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                out.append(current.strip().removesuffix(";").strip())
            current = ""
    if current.strip(" \n;"):
        out.append(current.strip().removesuffix(";").strip())
    return out
