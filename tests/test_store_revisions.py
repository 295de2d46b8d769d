"""Task revisions (store/revisions.py, schema V7): every task write numbers its row after every row
written before it, by any connection, and every deletion of a task row is counted, so a reader that
kept a mark reads exactly the rows written since, and knows when rows went."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support import old_database

from polpo_nb.spec import MissionRecord, TaskRecord
from polpo_nb.store import Store
from polpo_nb.store.revisions import TaskMark
from polpo_nb.store.schema import statements

NOW = "2026-01-01T00:00:00.000Z"


def task(ident: str, seq: int, mission_id: str | None = None, **fields: object) -> TaskRecord:
    return TaskRecord(id=ident, title=ident, assign_to="w", seq=seq, mission_id=mission_id, created_at=NOW,
                      updated_at=NOW, **fields)


def put(store: Store, *tasks: TaskRecord) -> None:
    with store.write() as tx:
        for t in tasks:
            tx.put_task(t)


def since(store: Store, rev: int | None) -> dict[str, str]:
    with store.read() as tx:
        return {row.id: row.doc for row in tx.task_rows_since(rev)}


def mark(store: Store) -> TaskMark:
    with store.read() as tx:
        return tx.task_mark()


def test_the_rows_written_after_a_mark_are_exactly_the_ones_read(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    other = Store(tmp_path / "state.db")  # another connection (as another process): the same numbering
    put(store, task("a", 1), task("b", 2), task("c", 3))
    first = mark(store)
    assert first == TaskMark(3, 0) and set(since(store, None)) == {"a", "b", "c"}
    put(other, task("b", 2, description="changed"))
    put(store, task("d", 4))
    assert set(since(store, first.rev)) == {"b", "d"}
    assert '"changed"' in since(other, first.rev)["b"]
    second = mark(other)
    assert second.rev > first.rev and since(store, second.rev) == {}


def test_every_deletion_of_a_task_row_is_counted_whatever_deleted_it(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    with store.write() as tx:
        tx.put_mission(MissionRecord(id="m1", name="m", created_at=NOW, updated_at=NOW))
    put(store, task("a", 1), task("b", 2, "m1"), task("c", 3, "m1"))
    with store.write() as tx:
        tx.delete_task("a")
    assert mark(store).deletions == 1
    with store.write() as tx:
        tx.delete_mission("m1")
    assert mark(store).deletions == 3
    raw = sqlite3.connect(tmp_path / "state.db")  # by hand, outside the store: counted too
    put(store, task("d", 4))
    raw.execute("DELETE FROM tasks WHERE id = 'd'")
    raw.commit()
    raw.close()
    assert mark(store).deletions == 4 and since(store, None) == {}


def test_a_database_of_the_previous_schema_is_migrated_with_its_tasks(tmp_path: Path):
    path = tmp_path / "state.db"
    conn = old_database(path, 6)
    doc = task("old", 1).model_dump_json(by_alias=True, exclude_none=True)
    conn.execute("INSERT INTO tasks (id, mission_id, seq, status, assign_to, doc) VALUES ('old', NULL, 1, 'draft', 'w', ?)",
                 (doc,))
    conn.close()
    store = Store(path)
    assert mark(store) == TaskMark(0, 0) and set(since(store, None)) == {"old"}
    put(store, task("new", 2))
    assert set(since(store, 0)) == {"new"}
    with store.read() as tx:
        assert [t.id for t in tx.tasks()] == ["old", "new"]


def test_a_trigger_whose_body_holds_semicolons_is_one_statement():
    script = "CREATE TABLE x (n INTEGER);\nCREATE TRIGGER t AFTER DELETE ON x BEGIN UPDATE x SET n = 1; SELECT 1; END\n"
    assert statements(script) == ["CREATE TABLE x (n INTEGER)",
                                  "CREATE TRIGGER t AFTER DELETE ON x BEGIN UPDATE x SET n = 1; SELECT 1; END"]


def test_the_next_seq_follows_every_task_standalone_or_in_a_mission(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    with store.write() as tx:
        assert tx.next_seq() == 1
        tx.put_mission(MissionRecord(id="m1", name="m1", created_at=NOW, updated_at=NOW))
        tx.put_mission(MissionRecord(id="m2", name="m2", created_at=NOW, updated_at=NOW))
        tx.put_mission(MissionRecord(id="m3", name="m3", created_at=NOW, updated_at=NOW))  # no task
    put(store, task("a", 1, "m1"), task("b", 7, "m2"), task("c", 3))
    with store.read() as tx:
        assert tx.next_seq() == 8
    put(store, task("d", 9))
    with store.read() as tx:
        assert tx.next_seq() == 10
    put(store, task("e", 12, "m1"))
    with store.read() as tx:
        assert tx.next_seq() == 13


def test_the_next_seq_never_goes_back_below_a_deleted_task_s(tmp_path: Path):
    """A list's cursor is a seq: a number given again after its task was deleted would put a new task
    behind a cursor already handed out. Deleted by hand, outside the store, counts too (a trigger)."""
    store = Store(tmp_path / "state.db")
    with store.write() as tx:
        tx.put_mission(MissionRecord(id="m1", name="m1", created_at=NOW, updated_at=NOW))
    put(store, task("a", 1), task("b", 2, "m1"), task("c", 3))
    with store.write() as tx:
        tx.delete_task("c")
        tx.delete_mission("m1")
    with store.read() as tx:
        assert tx.next_seq() == 4
    raw = sqlite3.connect(tmp_path / "state.db")
    put(store, task("d", 4))
    raw.execute("DELETE FROM tasks WHERE id = 'd'")
    raw.commit()
    raw.close()
    with store.read() as tx:
        assert tx.next_seq() == 5


def test_a_batch_of_stored_and_new_rows_is_written_whole_in_put_order(tmp_path: Path):
    """A transaction's task rows are updates of stored rows, new rows, or stored rows whose number
    changed (a mission renumbered before its start): each is stored as put, numbered in put order."""
    store = Store(tmp_path / "state.db")
    put(store, task("a", 1), task("b", 2))
    before = mark(store).rev
    put(store, task("b", 2, description="updated"), task("c", 3), task("a", 7, description="renumbered"))
    with store.read() as tx:
        stored = {t.id: t for t in tx.tasks()}
    revs = dict(sqlite3.connect(tmp_path / "state.db").execute("SELECT id, rev FROM tasks WHERE rev > ?", (before,)))
    assert stored["b"].description == "updated" and stored["c"].seq == 3
    assert stored["a"].seq == 7 and stored["a"].description == "renumbered"
    assert revs["b"] < revs["c"] < revs["a"] and min(revs.values()) == before + 1
    assert mark(store).rev == before + 3


def test_a_task_put_as_new_is_stored_as_its_last_put_and_a_rolled_back_one_not_at_all(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    put(store, task("a", 1))
    with store.write() as tx:
        tx.put_new_task(task("b", 2))
        tx.put_task(task("b", 2, description="moved on in the same transaction"))
        tx.put_task(task("a", 1, description="updated"))
        with pytest.raises(RuntimeError), store.savepoint():
            tx.put_new_task(task("c", 3))
            raise RuntimeError("this unit rolls back")
    with store.read() as tx:
        stored = {t.id: t.description for t in tx.tasks()}
    assert stored == {"a": "updated", "b": "moved on in the same transaction"}
