"""The event log stores each transaction's events in one row (store/eventlog.py): every reader sees
the same events under the same ids as with one row per event, an old database's events move over
unchanged, retention keeps exactly the newest ones, and a mission's events take a fraction of the bytes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pydantic_core import to_json
from support import old_database

import polpo_nb as polpo
from polpo_nb.store import Store

WAIT = 30


def _write(store: Store, batches: list[list[int]]) -> list[int]:
    ids = []
    for batch in batches:
        with store.write() as tx:
            ids += [tx.append_event("x", {"i": i}).id for i in batch]
    return ids


def test_ids_run_on_across_transactions_and_every_range_reads_back(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    ids = _write(store, [[0, 1, 2], [3], [4, 5, 6, 7], [8, 9]])
    assert ids == list(range(1, 11))
    with store.read() as tx:
        assert tx.last_event_id() == 10
        for after in range(0, 11):
            assert [e.data["i"] for e in tx.events_after(after)] == list(range(after, 10))
            assert [e.id for e in tx.events_after(after, limit=2)] == list(range(after + 1, min(after + 3, 11)))
        assert [e.id for e in tx.events_after(2, upto=6)] == [3, 4, 5, 6]
        assert tx.events_after(2**70) == []
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT COUNT(*) FROM event_batches").fetchone()[0] == 4  # one row per transaction


def test_a_transaction_of_thousands_of_events_reads_back_whole(tmp_path: Path):
    """A mission's save writes two events per task in one transaction: its row is compressed a piece at
    a time as it is serialised; every event reads back, in order, under its id."""
    store = Store(tmp_path / "state.db")
    sizes = [1, 511, 512, 513, 1025, 3000]
    ids = _write(store, [list(range(n)) for n in sizes])
    assert ids == list(range(1, sum(sizes) + 1))
    with store.read() as tx:
        events = tx.events_after(0, limit=10**6)
    assert [e.id for e in events] == ids
    assert [e.data["i"] for e in events] == [i for n in sizes for i in range(n)]


def test_retention_keeps_exactly_the_newest_events_and_ids_are_never_reused(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    _write(store, [list(range(5)), list(range(5, 10)), list(range(10, 15))])
    with store.write() as tx:
        assert tx.prune_events(keep=7) == 8  # the middle row is cut across: its last two stay
    with store.read() as tx:
        assert [e.id for e in tx.events_after(0)] == list(range(9, 16))
        assert [e.data["i"] for e in tx.events_after(10)] == list(range(10, 15))
    with store.write() as tx:
        assert tx.prune_events(keep=0) == 7
    with store.read() as tx:
        assert tx.events_after(0) == [] and tx.last_event_id() == 15
    assert _write(store, [[99]]) == [16]


def test_an_old_databases_events_move_over_with_their_ids(tmp_path: Path):
    db = tmp_path / "state.db"
    conn = old_database(db, 7)  # the schema before the event log's rows
    rows = [(1, "task:transition", '{"taskId":"t1","to":"done"}'), (2, "x", '{"score":NaN}'),
            (3, "mission:completed", '{"missionId":"m"}')]
    conn.executemany("INSERT INTO events (id, name, data) VALUES (?, ?, ?)", rows)
    conn.execute("DELETE FROM events WHERE id = 1")  # pruned: the others keep their ids
    conn.close()
    store = Store(db)
    with store.read() as tx:
        events = tx.events_after(0)
    assert [(e.id, e.event) for e in events] == [(2, "x"), (3, "mission:completed")]
    assert events[0].data["score"] != events[0].data["score"]  # NaN came over as it was written
    assert events[1].data == {"missionId": "m"}
    assert _write(store, [[0]]) == [4]


def test_an_old_database_whose_events_were_all_pruned_keeps_counting(tmp_path: Path):
    db = tmp_path / "state.db"
    conn = old_database(db, 7)
    conn.executemany("INSERT INTO events (id, name, data) VALUES (?, 'x', '{}')", [(i,) for i in range(1, 6)])
    conn.execute("DELETE FROM events")
    conn.close()
    store = Store(db)
    with store.read() as tx:
        assert tx.events_after(0) == [] and tx.last_event_id() == 5
    assert _write(store, [[0]]) == [6]


def test_a_missions_events_replay_whole_and_take_a_fraction_of_their_json(project):
    project.agent("w")(lambda task, ctx: "ok")
    mission = polpo.Mission("m")
    for i in range(20):
        mission = mission.task(f"t{i}", assign_to="w", depends_on=[f"t{i - 1}"] if i else [])
    project.execute(mission).wait(WAIT)
    replayed = project.replay(0)
    with project.aio.store.read() as tx:
        stored = tx.events_after(0)
    assert [(e.id, e.event, e.data) for e in stored] == [(e.id, e.event, e.data) for e in replayed]
    assert [e.id for e in stored] == list(range(1, len(stored) + 1))
    with sqlite3.connect(project.root / ".polpo" / "state.db") as db:
        body_bytes = db.execute("SELECT SUM(LENGTH(body)) FROM event_batches").fetchone()[0]
    json_bytes = sum(len(to_json(e.data)) for e in stored)
    assert body_bytes * 3 < json_bytes  # compressed per transaction: well under a third of the payloads
