"""The event stream: filters, ids, replay from the ring and the store, live streams, other processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from polpo_nb.errors import SpecError
from polpo_nb.events import EventFilter, format_event_id, parse_event_id
from polpo_nb.events import bus as bus_module
from polpo_nb.events.bus import RING_SIZE
from polpo_nb.events.catalog import CatalogEvent, MemoryUpdated, TeamRenamed
from polpo_nb.events.packing import PackedEvents


@pytest.mark.parametrize("pattern,name,expected", [
    ("task:*", "task:transition", True), ("task:*", "mission:status", False), ("*", "anything:at_all", True),
    ("mission:created,mission:completed", "mission:completed", True),
    ("mission:created,mission:completed", "mission:status", False), ("agent:*,task:transition", "agent:spawned", True),
    ("task:transition", "task:transitions", False), (None, "x", True),
])
def test_glob_filters(pattern, name, expected):
    assert EventFilter(pattern).matches(name) is expected


def test_event_ids_render_and_parse():
    assert format_event_id(42) == "evt_00042"
    assert parse_event_id("evt_00042") == parse_event_id("42") == parse_event_id(42) == 42
    assert parse_event_id("") is None
    with pytest.raises(SpecError):
        parse_event_id("event-42")
    for other_digits in ("\u0663", "evt_\u0664\u0662", "\uff14\uff12"):  # Arabic-Indic, fullwidth: not ids
        with pytest.raises(SpecError):
            parse_event_id(other_digits)


def _ping(i: int) -> CatalogEvent:
    return MemoryUpdated(length=i)


def _emit(project, n: int, event: Callable[[int], CatalogEvent] = _ping) -> None:
    async def go():
        for i in range(n):
            await project.aio.journal.emit(event(i))
    project._thread.call(go())


def test_ids_are_consecutive_and_replay_returns_what_followed(project):
    _emit(project, 20)
    events = project.replay(0, "memory:*")
    ids = [e.id for e in events]
    assert ids == list(range(ids[0], ids[0] + 20))
    tail = project.replay(ids[9], "memory:*")
    assert [e.data["length"] for e in tail] == list(range(10, 20))


def test_replay_beyond_the_ring_reads_the_store(project):
    _emit(project, RING_SIZE + 300)
    first = project.replay(0, "memory:*")[0].id
    events = project.replay(first - 1, "memory:*")
    assert len(events) == RING_SIZE + 300
    assert [e.data["length"] for e in events[:3]] == [0, 1, 2]


def test_the_ring_serves_replays_without_keeping_delivered_events_in_the_collectors_heap(project):
    """A run publishes ten events per task; a ring of the last thousand as objects kept each one alive
    long enough to reach the collector's oldest generation, where its death costs full collections
    (at 100,000 tasks, about 14 of the collector's 45-50 µs per task). The ring holds the commits' packed rows
    instead (bytes, which the collector never walks): replays from it are the same events."""
    import gc

    from polpo_nb.events import Event

    marked = 7_000_000  # (this test's events, whatever other tests of this process left alive)
    _emit(project, RING_SIZE // 2, lambda i: MemoryUpdated(length=marked + i))
    gc.collect()
    assert sum(isinstance(o, Event) and o.data.get("length", 0) >= marked for o in gc.get_objects()) == 0
    first = project.replay(0, "memory:*")[0].id
    assert _replays_are_the_stores(project, first - 1, first + 7, first + RING_SIZE // 2 - 2)
    assert [e.data["length"] - marked for e in project.replay(first - 1)] == list(range(RING_SIZE // 2))


def _stored(project, after: int) -> list[tuple]:
    """The events the store holds after `after`, as comparable tuples."""
    with project.aio.store.read() as tx:
        return [(e.id, e.event, e.data) for e in tx.events_after(after, limit=10**6)]


def _replays_are_the_stores(project, *afters: int) -> bool:
    """Whether a replay after each of `afters` (from the ring, where it reaches) is what the store holds."""
    for after in afters:
        stored = _stored(project, after)
        if [(e.id, e.event, e.data) for e in project.replay(after)] != stored or not stored:
            return False
    return True


def test_the_ring_after_a_commit_larger_than_itself_and_a_batch_with_a_refused_write(project, monkeypatch):
    """A mission's save commits thousands of events at once; a batch whose one write raises commits
    the others (each in a savepoint, the refused one rolled back): the ring keeps what was committed,
    no more, and no row larger than itself (a replay unpacks whole rows on the caller's loop)."""
    journal = project.aio.journal
    _emit(project, 5)
    start = project.aio.bus.cursor

    def many(tx, emit):
        for i in range(RING_SIZE + 500):
            emit(_ping(i))

    def refused(tx, emit):
        emit(_ping(-1))
        tx.flush()  # (its row written, then rolled back with its savepoint)
        raise ValueError("refused")

    async def go():
        await journal.write(many)
        writes = [journal.write(lambda tx, emit, i=i: emit(_ping(10_000 + i))) for i in range(3)]
        writes.insert(1, journal.write(refused))
        return await asyncio.gather(*writes, return_exceptions=True)
    outcomes = project._thread.call(go())
    assert [type(o).__name__ for o in outcomes] == ["Event", "ValueError", "Event", "Event"]
    end = project.aio.bus.cursor
    assert end == start + RING_SIZE + 500 + 3
    assert _replays_are_the_stores(project, start, start + 499)  # (past the ring: from the store, in pages)
    from_ring = (start + 500, end - 4, end - 3, end - 1)
    stored = [_stored(project, after) for after in from_ring]
    unpacked: list[int] = []  # the size of each row a replay from the ring unpacks
    events_of = PackedEvents.events
    monkeypatch.setattr(PackedEvents, "events", lambda row: (unpacked.append(row.size), events_of(row))[1])
    assert [[(e.id, e.event, e.data) for e in project.replay(after)] for after in from_ring] == stored
    assert [e.data["length"] for e in project.replay(end - 4)] == [RING_SIZE + 499, 10_000, 10_001, 10_002]
    assert unpacked and max(unpacked) <= RING_SIZE


def test_subscribers_that_come_and_go_get_exactly_the_events_of_their_time(project):
    """The bus routes each event name to the subscribers whose filter takes it, remembered per name:
    a subscriber added after that name was routed, or one closed since, must be seen at once."""
    early: list[int] = []
    late: list[int] = []
    teams: list[str] = []
    first = project.subscribe(lambda e: early.append(e.data["length"]), "memory:*")
    project.subscribe(lambda e: teams.append(e.data["name"]), "team:*")
    _emit(project, 2)
    second = project.subscribe(lambda e: late.append(e.data["length"]), "memory:updated")
    _emit(project, 2, lambda i: _ping(i + 2))
    first.close()
    _emit(project, 2, lambda i: _ping(i + 4))
    second.close()
    _emit(project, 1, lambda i: TeamRenamed(name="t"))
    assert early == [0, 1, 2, 3]
    assert late == [2, 3, 4, 5]
    assert teams == ["t"]


def test_replay_filters_by_pattern(project):
    _emit(project, 3, lambda i: TeamRenamed(name=f"team {i}"))
    _emit(project, 2)
    assert [e.event for e in project.replay(0, "memory:*")] == ["memory:updated", "memory:updated"]


async def test_stream_replays_then_goes_live_without_gap_or_duplicate(project):
    _emit(project, 5)
    start = project.replay(0, "memory:*")[0].id - 1
    received: list[int] = []

    async def consume():
        async for event in project.aio.events("memory:*", after=start):
            received.append(event.data["length"])
            if len(received) == 10:
                return

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    await asyncio.to_thread(_emit, project, 5)
    await asyncio.wait_for(consumer, 30)
    assert received == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert project.aio.bus.subscriber_count == 0  # the finished stream left no subscriber behind


async def test_a_long_replay_is_read_in_pages_off_the_event_loop(project, monkeypatch):
    """A client replaying from 0 on a long history (`Last-Event-ID: 0`): the store is read a page at a
    time, in a worker thread, so the server's loop goes on answering others meanwhile (the whole
    backlog, up to a million events, was read and decoded on the loop: seconds of a stalled server)."""
    monkeypatch.setattr(bus_module, "REPLAY_PAGE", 100)
    _emit(project, RING_SIZE + 250)
    first = project.replay(0, "memory:*")[0].id
    loop_thread = threading.get_ident()
    reads: list[tuple[int, int]] = []  # (events read, thread)
    read_page = project.aio.bus._read_page

    def spy(after: int, upto: int) -> list:
        page = read_page(after, upto)
        reads.append((len(page), threading.get_ident()))
        return page
    monkeypatch.setattr(project.aio.bus, "_read_page", spy)
    received: list[int] = []
    async for event in project.aio.events("memory:*", after=first - 1):
        received.append(event.data["length"])
        if len(received) == RING_SIZE + 250:
            break
    assert received == list(range(RING_SIZE + 250))
    assert reads and max(n for n, _ in reads) <= 100 and loop_thread not in {t for _, t in reads}


CHILD = textwrap.dedent("""
    import sys, polpo_nb as polpo
    project = polpo.Project(sys.argv[1])
    project.agent("w")(lambda task, ctx: "from the child")
    run = project.execute(polpo.Mission("child-mission").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"]))
    print(run.wait(60).status.value)
    project.close()
""")


def test_events_from_another_process_reach_this_processs_subscribers(project, tmp_path: Path):
    seen = []
    project.subscribe(seen.append)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = subprocess.run([sys.executable, str(script), str(project.root)], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "completed", out.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(e.event == "mission:completed" for e in seen):
        time.sleep(0.02)
    names = [e.event for e in seen]
    assert "mission:completed" in names and names.count("task:completed") == 2
    ids = [e.id for e in seen]
    assert ids == sorted(ids) and ids == list(range(ids[0], ids[0] + len(ids)))  # ordered, no gap
    assert _replays_are_the_stores(project, ids[0] - 1, ids[len(ids) // 2], ids[-2])  # (the ring packed them)


@pytest.mark.parametrize("patterns", ["task:*", "*", "task:transition", "mission:*,schedule:*",
                                      "task:*,mission:completed", "a*b", "*:created"])
def test_every_filter_means_what_fnmatch_means(patterns):
    """Prefix and exact filters take a fast path (every event meets every subscriber's filter): it must
    match exactly what the glob means."""
    import fnmatch

    from polpo_nb.events.filters import EventFilter

    flt = EventFilter(patterns)
    for name in ("task:transition", "task", "task:", "mission:completed", "schedule:fired", "ab", "axb",
                 "session:created", "x"):
        assert flt.matches(name) == any(fnmatch.fnmatchcase(name, p) for p in flt.patterns), (patterns, name)
