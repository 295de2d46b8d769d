"""`Store.commits` counts committed write transactions (benchmarks/engine.py's floor multiplies it by a
commit's measured cost): a rolled-back transaction and a read are not commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from polpo_nb.store.sqlite import Store


def test_commits_counts_committed_write_transactions_only(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    try:
        assert store.commits == 0
        with store.write() as tx:
            tx.put_kv("a", 1)
        with store.write() as tx:
            tx.put_kv("b", 2)
        with pytest.raises(RuntimeError), store.write() as tx:
            tx.put_kv("c", 3)
            raise RuntimeError("rolled back")
        with store.read() as tx:
            assert tx.get_kv("a") == 1 and tx.get_kv("c") is None
        assert store.commits == 2
    finally:
        store.close()


def test_write_seconds_adds_up_committed_write_transactions_only(tmp_path: Path):
    """The benchmark's "in write transactions" line: time inside committed writes, nothing else."""
    store = Store(tmp_path / "state.db")
    try:
        assert store.write_seconds == 0.0
        with store.write() as tx:
            tx.put_kv("a", 1)
        after_commit = store.write_seconds
        assert after_commit > 0.0
        with pytest.raises(RuntimeError), store.write() as tx:
            tx.put_kv("c", 3)
            raise RuntimeError("rolled back")
        with store.read() as tx:
            tx.get_kv("a")
        assert store.write_seconds == after_commit
    finally:
        store.close()
