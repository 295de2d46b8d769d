"""Group commit: one transaction per batch, events after the commit, one failing write isolated."""

from __future__ import annotations

import asyncio
from pathlib import Path

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

    def counting_write():
        nonlocal commits
        commits += 1
        return real_write()
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
