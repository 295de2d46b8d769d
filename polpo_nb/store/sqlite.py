"""`.polpo/state.db`: the durable source of truth of a project.

One connection per process, guarded by a lock so the engine thread and a caller's thread can share it.
Writes run in `BEGIN IMMEDIATE` transactions (SQLite serialises writers across processes; the others
wait their turn without holding the connection: `locking.py`). WAL mode lets readers in other
processes go on meanwhile; a read runs in one deferred transaction, so all its queries see one
snapshot. Rows come back as their pydantic models (documents) or as the small frozen classes of
`rows.py` (columns).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..collector import collector_paused
from ..errors import ConflictError, NotFoundError, StoreError, StoreWriteError
from ..events.packing import PackedEvents
from ..spec import Agent, MissionRecord, TaskRecord, utcnow
from ..spec.validation import STORED
from .chatrows import ChatRows
from .commandrows import CommandRows
from .docs import storable
from .eventlog import EventRows
from .locking import BUSY_TIMEOUT_MS, begin, snapshot, switch_to_wal, unwritable, without_busy_wait
from .revisions import TaskRevisions
from .rows import (
    AttemptRow,
    LogEntryRow,
    LogSessionRow,
    RunRow,
    ScheduleFireRow,
    SpendRow,
    StoredAgent,
)
from .schema import MIGRATIONS, SCHEMA_VERSION, statements
from .steps import StepRows
from .taskrows import TaskRows

#: The attempts table's columns in `AttemptRow`'s field order.
_ATTEMPT_COLUMNS = "task_id, number, status, phase, agent, model, owner, started_at, finished_at, result"
#: The spend table's columns in `SpendRow`'s field order.
_SPEND_FIELDS = tuple(SpendRow.__dataclass_fields__)
_SPEND_COLUMNS = ", ".join(_SPEND_FIELDS)
log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class UnreadableRecordError(ConflictError):
    """A stored row that no longer validates (written by an older, buggier version, or by hand)."""


def _load(model: type[M], doc: str, what: str) -> M:
    """One row as its model; a row that does not validate is an UnreadableRecordError naming it."""
    try:
        return model.model_validate_json(doc, context=STORED)
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise UnreadableRecordError(f"{what} is stored but cannot be read (invalid: {', '.join(fields) or 'the row'}); "
                                    "it was written by another version or by hand, and lists leave it out") from None


def _by_seq(row: tuple[str, int, str]) -> int:
    return row[1]


def readable_rows(model: type[M], rows: Any, what: str) -> list[M]:
    """Rows `(id, doc)` as models, leaving out (and logging) any that cannot be read: one bad row must
    not make a whole list unreadable."""
    out = []
    for ident, doc in rows:
        try:
            out.append(_load(model, doc, f"{what} {ident}"))
        except UnreadableRecordError as exc:
            log.warning("polpo store: left out of the list: %s", exc.message)
    return out


class Store:
    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._busy_ms = BUSY_TIMEOUT_MS  # how long a statement waits for another process (`locking.py`)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_ms / 1000)
            self._conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            mode = switch_to_wal(self._conn, self._busy_ms)
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open {self.path}: {exc}. The file is left untouched; move it away to start afresh.") from exc
        self.tx = Tx(self._conn)
        #: write transactions committed by this connection: what benchmarks multiply by a commit's cost
        self.commits = 0
        #: seconds spent inside committed write transactions (the writers' own code, the rows, the commit):
        #: the benchmark's measure of what a run's durable state costs, apart from the engine around it
        self.write_seconds = 0.0

    def _migrate(self) -> None:
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, newer than this polpo-nb ({SCHEMA_VERSION}); upgrade polpo-nb.")
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for target in range(version, SCHEMA_VERSION):
                for stmt in statements(MIGRATIONS[target]):
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {target + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self, *, wait: bool = True) -> Iterator[Tx]:
        """One write transaction: everything inside commits together or not at all. While another process
        writes, the calling thread waits for it, up to the busy timeout, without holding the connection
        (`store/locking.py`); `wait=False` raises `StoreBusy` at once instead, for the engine's loop,
        which must not sleep."""
        began = time.perf_counter()
        begin(self._lock, self._conn, self.path, self._busy_ms, wait=wait)
        try:
            self.tx.now = utcnow()
            try:
                yield self.tx
                self.tx.flush()
                self.tx.reset()
                self._conn.execute("COMMIT")
            except BaseException as exc:
                self.tx.reset()
                if self._conn.in_transaction:  # (SQLite ends it itself on some errors: keep the first one)
                    self._conn.execute("ROLLBACK")
                if unwritable(exc):
                    raise StoreWriteError(f"{self.path} cannot be written ({exc}); nothing of this write was "
                                          "stored", reason=str(exc)) from exc
                raise
            self.commits += 1
            self.write_seconds += time.perf_counter() - began
        finally:
            self._lock.release()

    @property
    def busy_timeout(self) -> float:
        """Seconds a write waits for another process's write lock before it fails as locked."""
        return self._busy_ms / 1000

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """One consistent snapshot: every query inside sees the database as of the first one, whatever
        other processes commit meanwhile (a deferred read transaction; WAL lets writers go on). Inside
        `write()` or another `read()`, the enclosing transaction is the snapshot."""
        with self._lock:
            if self._conn.in_transaction:
                yield self.tx
                return
            with snapshot(self._conn):
                yield self.tx

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside `write()`: a nested unit that rolls back alone on error, leaving the batch intact."""
        mark = self.tx.mark()
        self._conn.execute("SAVEPOINT op")
        try:
            yield
        except BaseException:
            self.tx.restore(mark)  # rows buffered before this unit stay; anything it flushed is rolled back
            if self._conn.in_transaction:  # (SQLite ends the whole transaction itself on some errors)
                self._conn.execute("ROLLBACK TO op")
                self._conn.execute("RELEASE op")
            raise
        self._conn.execute("RELEASE op")

    def data_version(self) -> int:
        """Changes whenever another connection commits: the cheap poll behind the event tail."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def change_token(self) -> str:
        """A token that changes whenever the stored state may have changed: by a commit of this
        connection (its change counter) or of another one (`data_version`). Two reads under the same
        token read the same state."""
        with self._lock:
            return f"{self._conn.total_changes}:{self.data_version()}"

    def checkpoint(self) -> bool:
        """Copy the WAL into the database and empty it; False when a reader of another process still holds
        an older snapshot. Then it copies what it can without waiting (it runs on the engine's loop, which
        a reader's long snapshot would hold), and a later checkpoint does the rest."""
        with self._lock, without_busy_wait(self._conn, self._busy_ms):
            busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return not busy

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Tx(StepRows, TaskRevisions, TaskRows, EventRows, CommandRows, ChatRows):
    """Queries and writes over the connection; use inside `Store.read()` / `Store.write()`.

    Task rows, attempt rows and events, the bulk of the engine's writes, are buffered and written with
    one statement each when the transaction commits (or before any query, so reads always see
    them): a task that moves assigned -> in_progress in one transaction costs one row write, and the
    transaction's events one row (eventlog.py). A task row is serialised only then, so the intermediate
    states of a task within one transaction cost nothing. Event ids are assigned here, under the write
    lock, so the caller gets them at once.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
        self._tasks: dict[str, TaskRecord] = {}
        self._new_tasks: set[str] = set()  # of `_tasks`, those put as new rows (`put_new_task`)
        self._started: dict[tuple[str, int], list[Any]] = {}  # attempt rows to insert, by (task, number)
        self._finished: dict[tuple[str, int], tuple[Any, ...]] = {}  # updates of attempts already stored
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._events_first = 0
        self._next_event: int | None = None
        self._written: list[PackedEvents] = []
        self._holders: dict[str, str | None] = {}  # run_holder's answers in this transaction
        self.now = ""  # the transaction's timestamp: everything it commits happens at once

    def _x(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        if self._tasks or self._events or self._started or self._finished:
            self.flush()
        return self._c.execute(sql, args)

    def _w(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        """A write to a table the buffers never touch (attempts, runs, logs, kv, agents): no flush."""
        return self._c.execute(sql, args)

    def flush(self) -> None:
        """Write the buffered rows (called before COMMIT and before any statement)."""
        if self._tasks:
            self._flush_tasks()
        if self._started:
            self._c.executemany(
                "INSERT OR REPLACE INTO attempts (task_id, number, status, phase, agent, model, owner, started_at, "
                "finished_at, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                list(self._started.values()),
            )
            self._started.clear()
        if self._finished:
            self._c.executemany(
                "UPDATE attempts SET status = ?, finished_at = ?, result = ? WHERE task_id = ? AND number = ?",
                list(self._finished.values()),
            )
            self._finished.clear()
        if self._events:
            self._flush_events()

    def reset(self) -> None:
        """Forget buffered rows and the event counter (after a rollback, at the end of a transaction)."""
        self._tasks.clear()
        self._new_tasks.clear()
        self._started.clear()
        self._finished.clear()
        self._events.clear()
        self._next_event = None
        self._written.clear()
        self._holders.clear()

    def mark(self) -> tuple[Any, ...]:
        return (dict(self._tasks), set(self._new_tasks), {k: list(v) for k, v in self._started.items()},
                dict(self._finished), list(self._events), self._events_first, self._next_event, len(self._written))

    def restore(self, mark: tuple[Any, ...]) -> None:
        tasks, new_tasks, started, finished, events, self._events_first, self._next_event, written = mark
        del self._written[written:]  # rows flushed inside the unit are rolled back with it
        self._tasks, self._new_tasks, self._finished, self._events = dict(tasks), set(new_tasks), dict(finished), list(events)
        self._started = {k: list(v) for k, v in started.items()}
        self._holders.clear()  # a run row the unit wrote is rolled back

    # -- tasks -----------------------------------------------------------------------------------------

    def task(self, task_id: str) -> TaskRecord:
        row = self._x("SELECT doc FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"Task not found: {task_id}")
        return _load(TaskRecord, row[0], f"Task {task_id}")

    def tasks(self, *, mission_id: str | None = None, status: str | None = None, assign_to: str | None = None,
              group: str | None = None, standalone: bool = False) -> list[TaskRecord]:
        """Read with the collector paused (`collector.py`): the collections a mission's 20,000 rows and
        records started took half the read."""
        with collector_paused():
            rows = self.task_docs(mission_id=mission_id, status=status, assign_to=assign_to, group=group,
                                  standalone=standalone)
            return readable_rows(TaskRecord, ((ident, doc) for ident, _, doc in rows), "Task")

    def task_docs(self, *, mission_id: str | None = None, status: str | None = None, assign_to: str | None = None,
                  group: str | None = None, standalone: bool = False) -> list[tuple[str, int, str]]:
        """Task rows `(id, seq, doc)` in creation order, the stored JSON unparsed: for a reader that keeps
        its own rendering of each record keyed by the JSON it came from (the HTTP lists)."""
        where: list[str] = []
        args: list[Any] = []
        if mission_id is not None:
            where.append("mission_id = ?")
            args.append(mission_id)
        if standalone:
            where.append("mission_id IS NULL")
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if assign_to is not None:
            where.append("assign_to = ?")
            args.append(assign_to)
        if group is not None:
            where.append("mission_id IN (SELECT id FROM missions WHERE id = ? OR name = ?)")
            args += [group, group]
        sql = "SELECT id, seq, doc FROM tasks" + (" WHERE " + " AND ".join(where) if where else "")
        # seq is unique: sorting here gives ORDER BY seq's order without SQLite sorting every doc
        # along (no index on seq), ~40% of reading a whole list
        rows: list[tuple[str, int, str]] = self._x(sql, args).fetchall()
        rows.sort(key=_by_seq)
        return rows

    def delete_task(self, task_id: str) -> None:
        self.delete_tasks([task_id])

    def delete_tasks(self, task_ids: list[str]) -> None:
        if task_ids:
            self.flush()
            self._c.executemany("DELETE FROM tasks WHERE id = ?", [(task_id,) for task_id in task_ids])

    def next_seq(self) -> int:
        """One more than the largest seq a task has or a deleted task had (schema V9): the largest of the
        standalone tasks' and of each mission's, each one seek of `tasks_by_mission` (a task's mission is
        always in missions: a foreign key), where MAX(seq) over the table reads every entry of that index
        (~0.2 ms at 5,000 tasks, per created task)."""
        return int(self._x(
            "SELECT COALESCE(MAX(m), 0) + 1 FROM (SELECT MAX(seq) AS m FROM tasks WHERE mission_id IS NULL UNION ALL "
            "SELECT (SELECT MAX(seq) FROM tasks WHERE mission_id = missions.id) FROM missions UNION ALL "
            "SELECT max_seq FROM task_deletions)").fetchone()[0])

    # -- missions --------------------------------------------------------------------------------------

    def put_mission(self, mission: MissionRecord) -> None:
        """Store the mission's own fields; its tasks live in the tasks table."""
        doc = storable(MissionRecord, mission.model_dump_json(by_alias=True, exclude_none=True,
                                                               exclude={"tasks", "task_count"}))
        try:
            self._x(
                "INSERT INTO missions (id, name, status, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET name=excluded.name, status=excluded.status, doc=excluded.doc",
                (mission.id, mission.name, mission.status.value, doc),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"A mission named {mission.name!r} already exists in this project") from exc

    def mission(self, ref: str, *, with_tasks: bool = True) -> MissionRecord:
        """By id or by name."""
        row = self._x("SELECT id, doc FROM missions WHERE id = ? OR name = ? LIMIT 1", (ref, ref)).fetchone()
        if row is None:
            raise NotFoundError(f"Mission not found: {ref}")
        mission_id, doc = row
        return self._mission_from(mission_id, doc, with_tasks)

    def missions(self, *, status: str | None = None, with_tasks: bool = True) -> list[MissionRecord]:
        out = []
        for mission_id, _, doc in self.mission_docs(status=status):
            try:
                out.append(self._mission_from(mission_id, doc, with_tasks))
            except UnreadableRecordError as exc:
                log.warning("polpo store: left out of the list: %s", exc.message)
        return out

    def scheduled_missions(self) -> list[MissionRecord]:
        """The missions with a next occurrence (`nextRunAt`), without their tasks or task count: what
        the scheduler reads at every look, instead of parsing every mission of the project's history
        and counting each one's tasks (SQLite's JSON picks the rows). A row SQLite cannot read as JSON
        (`Infinity` in it, from an earlier version) is left out, not the look."""
        rows = self._x("SELECT id, doc FROM missions WHERE CASE WHEN json_valid(doc) THEN json_extract(doc, "
                       "'$.nextRunAt') END IS NOT NULL ORDER BY rowid").fetchall()
        return readable_rows(MissionRecord, rows, "Mission")

    def mission_docs(self, *, status: str | None = None) -> list[tuple[str, int, str]]:
        """Mission rows `(id, rowid, doc)` in creation order, the stored JSON (without tasks) unparsed."""
        sql, args = "SELECT id, rowid, doc FROM missions", list[str]()
        if status is not None:
            sql, args = sql + " WHERE status = ?", [status]
        return self._x(sql + " ORDER BY rowid", args).fetchall()

    def _mission_from(self, mission_id: str, doc: str, with_tasks: bool) -> MissionRecord:
        record = _load(MissionRecord, doc, f"Mission {mission_id}")
        if with_tasks:
            record.tasks = self.tasks(mission_id=mission_id)  # parsed once, not re-validated
            record.task_count = len(record.tasks)
        else:
            record.task_count = self._x("SELECT COUNT(*) FROM tasks WHERE mission_id = ?", (mission_id,)).fetchone()[0]
        return record

    def delete_mission(self, mission_id: str) -> None:
        self._x("DELETE FROM tasks WHERE mission_id = ?", (mission_id,))
        self._x("DELETE FROM runs WHERE mission_id = ?", (mission_id,))
        self._x("DELETE FROM missions WHERE id = ?", (mission_id,))

    # -- attempts --------------------------------------------------------------------------------------

    def start_attempt(self, task_id: str, number: int, *, phase: str, agent: str, model: str | None, owner: str) -> None:
        """Buffered like task rows: one `executemany` for a wave of attempts."""
        key = (task_id, number)
        self._finished.pop(key, None)  # the row is replaced whole
        self._started[key] = [task_id, number, "running", phase, agent, model, owner, self.now or utcnow(), None, None]

    def finish_attempt(self, task_id: str, number: int, status: str, result_json: str | None) -> None:
        key = (task_id, number)
        row = self._started.get(key)
        if row is not None:  # started in this transaction: finish the buffered row itself
            row[2], row[8], row[9] = status, self.now or utcnow(), result_json
        else:
            self._finished[key] = (status, self.now or utcnow(), result_json, task_id, number)

    def attempt_counts(self, task_ids: list[str]) -> dict[str, int]:
        """The last attempt number of each task that has one, for many tasks in a few queries."""
        out: dict[str, int] = {}
        for i in range(0, len(task_ids), 500):
            chunk = task_ids[i:i + 500]
            sql = ("SELECT task_id, MAX(number) FROM attempts WHERE task_id IN (" + ",".join("?" * len(chunk))
                   + ") GROUP BY task_id")
            out.update(self._x(sql, chunk).fetchall())
        return out

    def attempts(self, task_id: str) -> list[AttemptRow]:
        cur = self._x(f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE task_id = ? ORDER BY number", (task_id,))
        return [AttemptRow(*row) for row in cur]

    def running_attempts(self, owner: str | None = None) -> list[AttemptRow]:
        sql, args = f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE status = 'running'", list[str]()
        if owner is not None:
            sql, args = sql + " AND owner = ?", [owner]
        return [AttemptRow(*row) for row in self._x(sql, args)]

    def attempt_count(self, task_id: str) -> int:
        return int(self._x("SELECT COALESCE(MAX(number), 0) FROM attempts WHERE task_id = ?", (task_id,)).fetchone()[0])

    # -- runs (ownership) ------------------------------------------------------------------------------

    def put_run(self, mission_id: str, owner: str, lease_until: float, state: dict[str, Any]) -> None:
        self._w(
            "INSERT OR REPLACE INTO runs (mission_id, owner, lease_until, state) VALUES (?, ?, ?, ?)",
            (mission_id, owner, lease_until, json.dumps(state)),
        )
        self._holders[mission_id] = owner

    def run_holder(self, mission_id: str) -> str | None:
        """The owner the mission's run row names (None: no row), read once per transaction: every task
        write of a run checks it (engine/writes.py), a layer of them in one commit."""
        if mission_id not in self._holders:
            row = self._w("SELECT owner FROM runs WHERE mission_id = ?", (mission_id,)).fetchone()  # unbuffered table
            self._holders[mission_id] = row[0] if row else None
        return self._holders[mission_id]

    def run(self, mission_id: str) -> RunRow | None:
        row = self._x("SELECT owner, lease_until, state FROM runs WHERE mission_id = ?", (mission_id,)).fetchone()
        if row is None:
            return None
        owner, lease_until, state = row
        return RunRow(mission_id, owner, lease_until, json.loads(state))

    def owner_lease(self, owner: str) -> float:
        """The latest lease `owner` holds on any run (0.0 if none): whether that process is alive."""
        return float(self._x("SELECT COALESCE(MAX(lease_until), 0.0) FROM runs WHERE owner = ?", (owner,)).fetchone()[0])

    def renew_leases(self, owner: str, lease_until: float) -> None:
        self._w("UPDATE runs SET lease_until = ? WHERE owner = ?", (lease_until, owner))

    def delete_run(self, mission_id: str) -> None:
        self._w("DELETE FROM runs WHERE mission_id = ?", (mission_id,))

    # -- schedules (cross-process commands: commandrows.py) --------------------------------------------

    def claim_occurrence(self, mission_id: str, occurrence: str, outcome: str, owner: str) -> bool:
        """Record what happened to one schedule occurrence; False if another process already did."""
        cur = self._w(
            "INSERT OR IGNORE INTO schedule_fires (mission_id, occurrence, outcome, owner, at) VALUES (?, ?, ?, ?, ?)",
            (mission_id, occurrence, outcome, owner, self.now or utcnow()),
        )
        return cur.rowcount == 1

    def schedule_history(self, mission_id: str) -> list[ScheduleFireRow]:
        rows = self._x("SELECT occurrence, outcome, owner, at FROM schedule_fires WHERE mission_id = ? ORDER BY occurrence",
                       (mission_id,))
        return [ScheduleFireRow(*row) for row in rows]

    # -- spend (usage/ledger.py writes it with the work it pays for) -----------------------------------

    def add_spend(self, row: SpendRow) -> None:
        self._w(f"INSERT INTO spend ({_SPEND_COLUMNS}) VALUES ({', '.join('?' * len(_SPEND_FIELDS))})",
                (*(getattr(row, f) for f in _SPEND_FIELDS[:-1]), self.now or utcnow()))

    def spend(self, mission_id: str | None = None) -> list[SpendRow]:
        """Spend rows in the order they were written: one mission's, or all."""
        sql, args = f"SELECT {_SPEND_COLUMNS} FROM spend", list[str]()
        if mission_id is not None:
            sql, args = sql + " WHERE mission_id = ?", [mission_id]
        return [SpendRow(*row) for row in self._x(sql + " ORDER BY id", args)]

    # -- agents, key/values, logs ----------------------------------------------------------------------

    def put_agent(self, agent: Agent, mission_id: str | None = None) -> None:
        """A project agent (`mission_id` None) replaces the agent of its name. A volatile team's agent
        (its mission's id) is listed only where no other agent has its name: one of the project, or of
        another volatile team, stands as it is (the team's agent plays its own mission's tasks all the
        same: runs resolve their team first), so releasing the team never deletes an agent it did not add."""
        doc = storable(Agent, agent.model_dump_json(by_alias=True, exclude_none=True))
        if mission_id is None:
            self._w("INSERT OR REPLACE INTO agents (name, mission_id, doc) VALUES (?, ?, ?)", (agent.name, None, doc))
            return
        self._w("INSERT INTO agents (name, mission_id, doc) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "doc = excluded.doc WHERE agents.mission_id IS excluded.mission_id", (agent.name, mission_id, doc))

    def agent(self, name: str) -> Agent | None:
        row = self._x("SELECT doc FROM agents WHERE name = ?", (name,)).fetchone()
        return None if row is None else _load(Agent, row[0], f"Agent {name}")

    def agents(self) -> list[StoredAgent]:
        rows = self._x("SELECT name, doc, mission_id FROM agents ORDER BY rowid").fetchall()
        agents = readable_rows(Agent, [(n, d) for n, d, _ in rows], "Agent")
        missions = {n: m for n, _, m in rows}
        return [StoredAgent(agent, missions[agent.name]) for agent in agents]

    def delete_agent(self, name: str) -> bool:
        return self._x("DELETE FROM agents WHERE name = ?", (name,)).rowcount > 0

    def delete_mission_agents(self, mission_id: str) -> list[str]:
        names = [r[0] for r in self._x("SELECT name FROM agents WHERE mission_id = ?", (mission_id,))]
        self._x("DELETE FROM agents WHERE mission_id = ?", (mission_id,))
        return names

    def get_kv(self, key: str, default: Any = None) -> Any:
        row = self._x("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def put_kv(self, key: str, value: Any) -> None:
        self._w("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def log(self, session_id: str, message: str, *, level: str = "info", task_id: str | None = None) -> None:
        self._w(
            "INSERT INTO logs (session_id, task_id, ts, level, message) VALUES (?, ?, ?, ?, ?)",
            (session_id, task_id, utcnow(), level, message),
        )

    def log_sessions(self) -> list[LogSessionRow]:
        rows = self._x(
            "SELECT session_id, MAX(task_id), COUNT(*), MIN(ts), MAX(ts) FROM logs GROUP BY session_id ORDER BY MIN(id)"
        )
        return [LogSessionRow(*row) for row in rows]

    def log_entries(self, session_id: str) -> list[LogEntryRow]:
        rows = self._x("SELECT ts, level, message, task_id FROM logs WHERE session_id = ? ORDER BY id", (session_id,))
        return [LogEntryRow(*row) for row in rows]
