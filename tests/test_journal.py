"""Group commit: one transaction per batch, events after the commit, one failing write isolated."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from polpo_nb.errors import StoreError
from polpo_nb.events import EventBus
from polpo_nb.events.catalog import MemoryUpdated, TeamRenamed
from polpo_nb.store import Journal, Store


async def test_failing_write_is_isolated_from_its_batch(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    bus = EventBus(store)
    published: list[str] = []
    bus.subscribe(lambda e: published.append(e.event))
    journal = Journal(store, bus, asyncio.get_running_loop())

    def good(tx, emit):
        tx.put_kv("good", 1)
        emit(TeamRenamed(name="good"))
        return "kept"

    def bad(tx, emit):
        tx.put_kv("bad", 1)
        emit(TeamRenamed(name="bad"))
        raise ValueError("this write is refused")

    results = await asyncio.gather(journal.write(good), journal.write(bad), journal.write(good),
                                   return_exceptions=True)
    assert results[0] == results[2] == "kept"
    assert isinstance(results[1], ValueError)
    with store.read() as tx:
        assert tx.get_kv("good") == 1 and tx.get_kv("bad") is None
        stored = [e.event for e in tx.events_after(0)]
    assert stored == published == ["team:renamed", "team:renamed"]
    ids = [e.id for e in bus.replay(0)]
    assert ids == [1, 2]  # the refused write burnt no event id


async def test_writes_of_one_loop_iteration_share_one_transaction(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    bus = EventBus(store)
    journal = Journal(store, bus, asyncio.get_running_loop())
    stamps = await asyncio.gather(*(journal.write(lambda tx, emit: tx.now) for _ in range(5)))
    assert len(set(stamps)) == 1  # same transaction, same commit timestamp


async def test_events_are_published_only_after_the_commit(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    bus = EventBus(store)
    other = Store(tmp_path / "state.db")  # another connection sees only committed data
    seen: list[object] = []
    bus.subscribe(lambda e: seen.append(other.tx.get_kv("k")))
    journal = Journal(store, bus, asyncio.get_running_loop())
    await journal.write(lambda tx, emit: (tx.put_kv("k", "v"), emit(MemoryUpdated(length=1))))
    assert seen == ["v"]


async def test_a_commit_waits_for_the_writes_of_work_in_flight(tmp_path: Path, monkeypatch):
    """Agents on worker threads finish a few microseconds apart: their writes still share one commit."""
    from polpo_nb.store import journal as journal_module

    store = Store(tmp_path / "state.db")
    journal = Journal(store, EventBus(store), asyncio.get_running_loop())
    monkeypatch.setattr(journal_module, "MAX_LINGER", 60.0)
    journal._commit_cost = 60.0  # wait as long as it takes: only the last arrival may trigger the commit
    commits = 0
    real_write = store.write

    def counting_write(**kwargs):
        nonlocal commits
        commits += 1
        return real_write(**kwargs)
    monkeypatch.setattr(store, "write", counting_write)
    gates = [asyncio.Event() for _ in range(3)]

    async def agent(gate: asyncio.Event) -> str:
        with journal.expecting():
            await gate.wait()
        return await journal.write(lambda tx, emit: (emit(MemoryUpdated(length=1)), tx.now)[1])

    calls = [asyncio.ensure_future(agent(g)) for g in gates]
    for gate in gates:  # one finishes per loop iteration
        await asyncio.sleep(0)
        gate.set()
        await asyncio.sleep(0)
    stamps = await asyncio.wait_for(asyncio.gather(*calls), 30)
    assert commits == 1 and len(set(stamps)) == 1


async def test_a_commit_does_not_wait_forever_for_expected_work(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    journal = Journal(store, EventBus(store), asyncio.get_running_loop())
    with journal.expecting():  # work that never ends
        await asyncio.wait_for(journal.write(lambda tx, emit: tx.put_kv("k", 1)), 30)
        with store.read() as tx:
            assert tx.get_kv("k") == 1


def _holding_the_write_lock(db: Path) -> sqlite3.Connection:
    """Another process's connection in the middle of a write (a `polpo` command saving a big mission)."""
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE IF NOT EXISTS elsewhere (x)")
    return other


async def test_a_commit_waiting_for_another_process_s_write_lock_leaves_the_loop_free(tmp_path: Path):
    """The commit's `BEGIN IMMEDIATE` waited for the lock inside SQLite's busy handler, up to 30 s, on the
    engine's loop: every run, stream and request of the process stood still meanwhile. The batch now
    waits on the loop's timer, and is committed, whole, once the lock is free."""
    store = Store(tmp_path / "state.db")
    journal = Journal(store, EventBus(store), asyncio.get_running_loop())
    other = _holding_the_write_lock(tmp_path / "state.db")
    guard = threading.Timer(5.0, lambda: other.execute("COMMIT"))  # a frozen loop would wait for this
    guard.start()
    try:
        write = journal.write(lambda tx, emit: (tx.put_kv("k", 1), emit(MemoryUpdated(length=1)))[0])
        ticks = 0
        for _ in range(20):  # the loop runs other work while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert other.in_transaction, "the loop stood still until the other process let go of its lock"
        assert not write.done()  # the write waits; it was not dropped, nor failed
        other.execute("COMMIT")
    finally:
        guard.cancel()
        guard.join()
    await asyncio.wait_for(write, 30)
    assert ticks == 20
    with store.read() as tx:
        assert tx.get_kv("k") == 1
        assert [e.event for e in tx.events_after(0)] == ["memory:updated"]
    other.close()


async def test_a_write_lock_held_elsewhere_past_the_busy_timeout_fails_the_batch_and_writes_nothing(
        tmp_path: Path, monkeypatch):
    from polpo_nb.store import sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 300)  # the store's busy timeout, the journal's too
    store = Store(tmp_path / "state.db")
    journal = Journal(store, EventBus(store), asyncio.get_running_loop())
    other = _holding_the_write_lock(tmp_path / "state.db")
    try:
        with pytest.raises(StoreError, match="locked by another process for more than"):
            await asyncio.wait_for(journal.write(lambda tx, emit: tx.put_kv("k", 1)), 30)
    finally:
        other.execute("COMMIT")
        other.close()
    with store.read() as tx:
        assert tx.get_kv("k") is None
    await asyncio.wait_for(journal.write(lambda tx, emit: tx.put_kv("k", 2)), 30)  # the journal goes on
    with store.read() as tx:
        assert tx.get_kv("k") == 2


async def test_a_patient_journal_waits_past_the_busy_timeout_and_says_so_then_commits(
        tmp_path: Path, monkeypatch, caplog):
    """The engine's journal: a run's writes are never dropped for another process's lock, however long it
    is held; each busy timeout spent waiting is a warning in the log."""
    from polpo_nb.store import sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 100)
    store = Store(tmp_path / "state.db")
    journal = Journal(store, EventBus(store), asyncio.get_running_loop(), patient=True)
    other = _holding_the_write_lock(tmp_path / "state.db")
    try:
        batch = journal.write(lambda tx, emit: tx.put_kv("k", 1))
        edit = asyncio.ensure_future(journal.exclusively(lambda tx, emit: tx.put_kv("e", 1)))
        await asyncio.sleep(0.5)  # five busy timeouts
        assert not batch.done() and not edit.done()
        assert caplog.text.count("locked by another process") >= 4
    finally:
        other.execute("COMMIT")
        other.close()
    await asyncio.wait_for(asyncio.gather(batch, edit), 30)
    with store.read() as tx:
        assert (tx.get_kv("k"), tx.get_kv("e")) == (1, 1)


async def test_work_done_exclusively_waits_for_the_lock_then_runs_once_or_fails_past_the_busy_timeout(
        tmp_path: Path, monkeypatch):
    from polpo_nb.store import sqlite as sqlite_module

    store = Store(tmp_path / "state.db")
    bus = EventBus(store)
    journal = Journal(store, bus, asyncio.get_running_loop())
    runs: list[int] = []
    published: list[str] = []
    bus.subscribe(lambda e: published.append(e.event))

    def work(tx, emit):
        runs.append(1)
        tx.put_kv("k", len(runs))
        emit(MemoryUpdated(length=len(runs)))
        return len(runs)

    other = _holding_the_write_lock(tmp_path / "state.db")
    edit = asyncio.ensure_future(journal.exclusively(work))
    await asyncio.sleep(0.1)
    assert not edit.done() and runs == []  # waiting, on the loop
    other.execute("COMMIT")
    assert await asyncio.wait_for(edit, 30) == 1 and runs == [1]
    assert published == ["memory:updated"]  # its event, published once it was committed

    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 300)  # a store whose busy timeout is 0.3 s
    impatient = Store(tmp_path / "state.db")
    impatient_bus = EventBus(impatient)
    impatient_bus.subscribe(lambda e: published.append(e.event))
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked by another process for more than 0.3s"):
            await asyncio.wait_for(Journal(impatient, impatient_bus, asyncio.get_running_loop()).exclusively(work), 30)
    finally:
        other.execute("COMMIT")
        other.close()
    assert runs == [1] and published == ["memory:updated"]
    with store.read() as tx:
        assert tx.get_kv("k") == 1
        assert [e.event for e in tx.events_after(0)] == ["memory:updated"]
