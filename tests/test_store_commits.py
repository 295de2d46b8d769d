"""`Store.commits` and `Store.write_seconds` count committed write transactions (benchmarks/engine.py's
floor multiplies the first by a commit's measured cost; the second is its "inside write transactions"
line): a rolled-back transaction and a read are not commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from polpo_nb.store.sqlite import Store


def test_commits_and_write_seconds_count_committed_write_transactions_only(tmp_path: Path):
    """`commits` (the floor's multiplier) and `write_seconds` (the benchmark's "inside write transactions"
    line) move with committed writes, never with a rolled-back one or a read."""
    store = Store(tmp_path / "state.db")
    try:
        assert (store.commits, store.write_seconds) == (0, 0.0)
        with store.write() as tx:
            tx.put_kv("a", 1)
        after_one = store.write_seconds
        assert store.commits == 1 and after_one > 0.0
        with store.write() as tx:
            tx.put_kv("b", 2)
        after_two = store.write_seconds
        assert store.commits == 2 and after_two > after_one
        with pytest.raises(RuntimeError), store.write() as tx:
            tx.put_kv("c", 3)
            raise RuntimeError("rolled back")
        with store.read() as tx:
            assert tx.get_kv("a") == 1 and tx.get_kv("c") is None
        assert (store.commits, store.write_seconds) == (2, after_two)
    finally:
        store.close()
