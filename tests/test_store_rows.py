"""The store answers with typed rows (small frozen classes, snake_case), reads in one snapshot, and says
when its state may have changed (`change_token`) without anyone reaching into its connection."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import polpo_nb as polpo
from polpo_nb.spec import Agent, MissionRecord
from polpo_nb.store import Store
from polpo_nb.store.rows import (
    AttemptRow,
    ChatMessageRow,
    ChatSessionRow,
    CommandOutcome,
    CommandRow,
    LogEntryRow,
    LogSessionRow,
    RunRow,
    ScheduleFireRow,
    StoredAgent,
)

NOW = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state.db")
    with store.write() as tx:
        tx.put_mission(MissionRecord(id="m1", name="m", created_at=NOW, updated_at=NOW))
    return store


def test_every_kind_of_row_is_a_frozen_class_with_snake_case_fields(store: Store):
    with store.write() as tx:
        tx.now = NOW
        tx.start_attempt("t1", 1, phase="execution", agent="a", model="m", owner="me")
        tx.put_run("m1", "me", 12.5, {"approved": ["x"]})
        command = tx.add_command("me", "approve", None, "t1", {"note": "ok"})
        tx.claim_occurrence("m1", "2026-01-01T00:00:00Z", "fired", "me")
        tx.put_chat_session("s1", "hello", None, NOW, NOW)
        message = tx.add_chat_message("s1", '{"role":"user","content":"hi"}')
        tx.put_agent(Agent(name="a"), "m1")
        tx.log("t1-1", "a line", task_id="t1")
    with store.read() as tx:
        rows = {
            "attempt": (tx.running_attempts(), [AttemptRow("t1", 1, "running", "execution", "a", "m", "me", NOW, None, None)]),
            "run": (tx.run("m1"), RunRow("m1", "me", 12.5, {"approved": ["x"]})),
            "command": (tx.open_commands("me"), [CommandRow(command, "approve", None, "t1", {"note": "ok"})]),
            "outcome": (tx.command_outcome(command), CommandOutcome(False, None, None)),
            "fire": (tx.schedule_history("m1"), [ScheduleFireRow("2026-01-01T00:00:00Z", "fired", "me", NOW)]),
            "session": (tx.chat_sessions(), [ChatSessionRow("s1", "hello", None, NOW, NOW, 1)]),
            "message": (tx.chat_messages("s1"), [ChatMessageRow(message, '{"role":"user","content":"hi"}')]),
            "agent": (tx.agents(), [StoredAgent(Agent(name="a"), "m1")]),
        }
        log_session, = tx.log_sessions()
        log_entry, = tx.log_entries("t1-1")
    for name, (got, want) in rows.items():
        assert got == want, name
    assert isinstance(log_session, LogSessionRow) and (log_session.session_id, log_session.task_id, log_session.entries) == ("t1-1", "t1", 1)
    assert isinstance(log_entry, LogEntryRow) and (log_entry.message, log_entry.task_id) == ("a line", "t1")
    attempt = rows["attempt"][0][0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        attempt.status = "done"  # type: ignore[misc]
    assert not hasattr(attempt, "__dict__")  # slots: as cheap as the tuple it replaces


def test_owner_lease_is_the_latest_lease_an_owner_holds(store: Store):
    with store.write() as tx:
        tx.put_mission(MissionRecord(id="m2", name="n", created_at=NOW, updated_at=NOW))
        tx.put_run("m1", "me", 10.0, {})
        tx.put_run("m2", "me", 30.0, {})
    with store.read() as tx:
        assert (tx.owner_lease("me"), tx.owner_lease("someone else")) == (30.0, 0.0)


def test_a_read_is_one_snapshot_while_another_connection_commits(store: Store):
    other = Store(store.path)
    with other.write() as tx:
        tx.put_kv("k", 1)
    with store.read() as tx:
        assert tx.get_kv("k") == 1
        with other.write() as wtx:  # commits while the read is open (WAL: the writer is not blocked)
            wtx.put_kv("k", 2)
        assert tx.get_kv("k") == 1  # the read goes on seeing the state it started on
    with store.read() as tx:
        assert tx.get_kv("k") == 2


def test_a_read_inside_a_write_sees_the_write_s_own_rows(store: Store):
    with store.write() as tx:
        tx.put_kv("k", 3)
        with store.read() as inner:
            assert inner.get_kv("k") == 3
    with store.read() as tx:
        assert tx.get_kv("k") == 3


def test_change_token_changes_on_a_commit_here_or_elsewhere_and_only_then(store: Store):
    other = Store(store.path)
    token = store.change_token()
    with store.read() as tx:
        tx.get_kv("k")
    assert store.change_token() == token  # reading changes nothing
    with other.write() as tx:
        tx.put_kv("k", 1)
    after_other = store.change_token()
    assert after_other != token
    with store.write() as tx:
        tx.put_kv("k", 2)
    assert store.change_token() not in (token, after_other)


WRITER = textwrap.dedent("""
    import sys
    from polpo_nb.spec import TaskRecord
    from polpo_nb.store import Store

    store = Store(sys.argv[1], synchronous="OFF")
    for i in range(int(sys.argv[2])):
        with store.write() as tx:  # a task and the event announcing it: one commit
            tx.put_task(TaskRecord(id=f"task_{i}", title=f"t{i}", assign_to="w", seq=i + 1,
                                   created_at=tx.now, updated_at=tx.now))
            tx.append_event("task:created", {"taskId": f"task_{i}"})
    store.close()
""")


def test_state_never_shows_a_half_applied_commit_of_another_process(project_dir: Path, tmp_path: Path):
    """Another process commits a task and its event together, over and over; every state() read
    meanwhile shows as many tasks as events: it reads tasks and events in one snapshot."""
    count = 300
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    with polpo.Project(project_dir) as project:
        writer = subprocess.Popen([sys.executable, str(script), str(project.root / ".polpo" / "state.db"), str(count)])
        seen = []
        try:
            while True:
                state = project.state()
                last = int(state.last_event_id.removeprefix("evt_")) if state.last_event_id else 0
                seen.append((len(state.tasks), last))
                if len(state.tasks) == count or writer.poll() not in (None, 0):
                    break
        finally:
            assert writer.wait(60) == 0
    torn = [(tasks, events) for tasks, events in seen if tasks != events]
    assert torn == [] and seen[-1] == (count, count)
