"""`.polpo/state.db`: WAL, schema versioning, conflicts, and clear errors on a bad file."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

import polpo_nb as polpo
from polpo_nb.errors import StoreError
from polpo_nb.store import Store
from polpo_nb.store.schema import SCHEMA_VERSION


def test_state_db_is_wal_with_current_schema_version(project):
    db = project.root / ".polpo" / "state.db"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"missions", "tasks", "attempts", "event_batches", "logs", "runs", "agents"} <= tables


def test_ids_have_their_prefixes(project):
    project.agent("w")(lambda t, c: "ok")
    mission = project.save_mission(polpo.Mission("m").task("a", assign_to="w"))
    assert mission.id.startswith("msn_") and mission.tasks[0].id.startswith("task_")


def test_a_missions_task_ids_follow_its_task_order_from_a_random_start(project, monkeypatch):
    """A mission's task ids are consecutive (its rows then sit together in the indexes keyed by task
    id), in the mission's order, from a start drawn for each mission, and carry across the top of the
    id space."""
    import polpo_nb.project.missions as missions

    project.agent("w")(lambda t, c: "ok")

    def ids_of(name: str, count: int) -> list[int]:
        mission = polpo.Mission(name)
        for i in range(count):
            mission.task(f"t{i}", assign_to="w")
        ids = [t.id for t in project.save_mission(mission).tasks]
        assert all(re.fullmatch(r"task_[0-9a-f]{12}", i) for i in ids)
        return [int(i.removeprefix("task_"), 16) for i in ids]

    first, second = ids_of("first", 5), ids_of("second", 5)
    assert first == list(range(first[0], first[0] + 5)) and second == list(range(second[0], second[0] + 5))
    assert first[0] != second[0]
    monkeypatch.setattr(missions.secrets, "randbelow", lambda n: n - 2)
    assert ids_of("top", 4) == [(1 << 48) - 2, (1 << 48) - 1, 0, 1]


def test_reopening_a_project_keeps_everything(project_dir: Path):
    with polpo.Project(project_dir) as first:
        first.agent("w")(lambda t, c: "kept")
        first.execute(polpo.Mission("m").task("a", assign_to="w")).wait(30)
    with polpo.Project(project_dir) as second:
        mission = second.get_mission("m")
        assert mission.status.value == "completed"
        assert mission.tasks[0].result.content == "kept"


def test_newer_schema_is_refused_without_touching_the_file(tmp_path: Path):
    db = tmp_path / "state.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="newer than this polpo-nb"):
        Store(db)
    assert db.read_bytes() == before


def test_corrupted_state_db_gives_a_clear_error_and_is_left_in_place(project_dir: Path):
    db = project_dir / ".polpo" / "state.db"
    db.parent.mkdir(parents=True)
    garbage = b"this is not a database" * 100
    db.write_bytes(garbage)
    with pytest.raises(StoreError) as info:
        polpo.Project(project_dir)
    assert "state.db" in str(info.value) and "untouched" in str(info.value)
    assert db.read_bytes() == garbage


def test_locked_database_reports_a_clear_error(tmp_path: Path, monkeypatch):
    import polpo_nb.store.sqlite as sqlite_mod

    monkeypatch.setattr(sqlite_mod, "BUSY_TIMEOUT_MS", 200)
    db = tmp_path / "state.db"
    store = Store(db)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"), store.write() as tx:
            tx.put_kv("k", 1)
    finally:
        blocker.execute("ROLLBACK")
    with store.write() as tx:  # nothing was lost: the store works once the lock is gone
        tx.put_kv("k", 2)
    with store.read() as tx:
        assert tx.get_kv("k") == 2


def test_a_new_database_another_connection_is_writing_is_opened_once_it_is_done(tmp_path: Path):
    """Two processes opening a new project at once (a kernel and `polpo serve`, or two `polpo run`): while
    one holds the write lock of the file, still in rollback-journal mode, SQLite refuses the other's switch
    to WAL at once (SQLITE_BUSY, without calling its busy handler), and the open failed "database is
    locked ... move it away to start afresh" (seen in CI, two processes appending to the memory). It
    waits for the lock now, as every other statement does."""
    import threading

    db = tmp_path / "state.db"
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE other (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO other VALUES (1)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store = Store(db)
        with store.write() as tx:
            tx.put_kv("k", 1)
        with store.read() as tx:
            assert tx.get_kv("k") == 1
        store.close()
    finally:
        release.join()
        other.close()
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert check.execute("SELECT x FROM other").fetchall() == [(1,)]  # the other's write, kept


def test_two_stores_on_one_file_see_each_others_writes(tmp_path: Path):
    db = tmp_path / "state.db"
    a, b = Store(db), Store(db)
    with a.write() as tx:
        tx.put_kv("shared", "from a")
    with b.read() as tx:
        assert tx.get_kv("shared") == "from a"


def test_event_retention_prunes_old_events(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    with store.write() as tx:
        for i in range(50):
            tx.append_event("x", {"i": i})
        removed = tx.prune_events(keep=10)
    with store.read() as tx:
        remaining = tx.events_after(0)
    assert removed == 40 and [e.data["i"] for e in remaining] == list(range(40, 50))


def test_buffered_attempt_rows_are_read_back_committed_and_rolled_back(tmp_path: Path):
    """Attempt rows are buffered like task rows: a query in the transaction sees them, a commit keeps
    them, a rollback forgets them."""
    store = Store(tmp_path / "state.db")
    with store.write() as tx:
        tx.start_attempt("t1", 1, phase="execution", agent="a", model=None, owner="me")
        tx.start_attempt("t2", 1, phase="execution", agent="a", model=None, owner="me")
        tx.finish_attempt("t2", 1, "completed", '{"content":"x"}')  # started in the same transaction
        assert [a.task_id for a in tx.running_attempts()] == ["t1"]
    with store.write() as tx:
        tx.finish_attempt("t1", 1, "failed", None)  # an attempt stored by an earlier transaction
        tx.start_attempt("t1", 2, phase="fix", agent="a", model="m", owner="me")
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.start_attempt("t3", 1, phase="execution", agent="a", model=None, owner="me")
        raise RuntimeError("rolled back")
    with store.read() as tx:
        assert [(a.number, a.status, a.phase) for a in tx.attempts("t1")] == [(1, "failed", "execution"), (2, "running", "fix")]
        assert [(a.status, a.result) for a in tx.attempts("t2")] == [("completed", '{"content":"x"}')]
        assert tx.attempts("t3") == [] and tx.attempt_counts(["t1", "t2", "t3"]) == {"t1": 2, "t2": 1}


def test_a_checkpoint_never_waits_for_another_process_s_reader(tmp_path: Path):
    """Housekeeping checkpoints the WAL (TRUNCATE) on the engine's loop every few minutes. That mode waits,
    in SQLite's busy handler, for every reader to leave its snapshot: another process's long read (a list
    of a big mission) held the loop, and the whole engine, up to 30 s. It takes what it can now, and the
    next round does the rest."""
    import threading

    db = tmp_path / "state.db"
    store = Store(db)
    with store.write() as tx:
        tx.put_kv("k", 1)
    reader = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM kv").fetchone()  # its snapshot: before the next write
    with store.write() as tx:
        tx.put_kv("k", 2)
    guard = threading.Timer(5.0, lambda: reader.execute("COMMIT"))  # what a waiting checkpoint would wait for
    guard.start()
    try:
        done = store.checkpoint()
        assert reader.in_transaction, "the checkpoint waited for the reader to leave its snapshot"
        assert done is False
    finally:
        guard.cancel()
        guard.join()
        if reader.in_transaction:
            reader.execute("COMMIT")
        reader.close()
    assert store.checkpoint() is True  # nobody reads an old snapshot now: the WAL is emptied
    assert (tmp_path / "state.db-wal").stat().st_size == 0
    with store.read() as tx:
        assert tx.get_kv("k") == 2
