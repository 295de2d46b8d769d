"""A project's API keys: made, listed, revoked, and checked, in the project's own `state.db`.

    keys = ApiKeys("path/to/project")       # or project.keys
    made = keys.create("ci", kind="test")   # made.key is shown this once
    keys.verify(made.key)                   # -> ApiKey, or None
    keys.revoke("ci")                       # by name or id

Only a SHA-256 of each key is stored (a key is 32 random bytes: nothing to guess, so no salt or slow
hash is needed), and a presented key is compared against every active key's hash with
`hmac.compare_digest`, without stopping at a match. The registry has its own SQLite connection, so a
server checks keys without opening the project's engine, and the CLI manages them beside a running
server: the cached key table is read again whenever `PRAGMA data_version` says another connection
committed, so a key revoked anywhere is refused on the very next request, with no restart.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConflictError, NotFoundError, SpecError
from ..spec import parse, utcnow
from ..spec.keys import ApiKey, CreatedApiKey, KeyKind, NewApiKey
from ..store.sqlite import Store
from .config import POLPO_DIR

PREFIXES: dict[str, str] = {"live": "sk_live_", "test": "sk_test_"}
PREFIX_SHOWN = 12  # characters of a key kept to recognise it: `sk_live_` and four random ones
TOUCH_EVERY = 60.0  # seconds between two writes of a key's last use
_COLUMNS = "id, name, kind, prefix, hash, created_at, last_used_at, revoked_at"


def looks_like_key(text: str) -> bool:
    """Whether `text` has the form of a project key (`sk_live_...` / `sk_test_...`)."""
    return text.startswith(tuple(PREFIXES.values()))


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """The API keys of the project at `root` (thread-safe): reads on one SQLite connection opened on first
    use, each write on a connection of its own."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.path = self.root / POLPO_DIR / "state.db"
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None  # data_version the cache was read at
        self._active: list[tuple[bytes, ApiKey]] = []
        self._touched: dict[str, float] = {}

    # -- managing ----------------------------------------------------------------------------------------

    def create(self, name: str, *, kind: KeyKind = "live") -> CreatedApiKey:
        """A new key named `name` (unique among the active keys): its text is in the answer, and nowhere else."""
        spec = parse(NewApiKey, {"name": name, "kind": kind})
        key = PREFIXES[spec.kind] + secrets.token_urlsafe(32)
        record = ApiKey(id="key_" + secrets.token_hex(8), name=spec.name.strip(), kind=spec.kind,
                        prefix=key[:PREFIX_SHOWN], created_at=utcnow())
        with self._writing() as conn:
            if conn.execute("SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL", (record.name,)).fetchone():
                raise ConflictError(f"An active API key named {record.name!r} already exists; revoke it or pick another name")
            conn.execute(f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                         (record.id, record.name, record.kind, record.prefix, key_hash(key), record.created_at))
        return CreatedApiKey(**record.model_dump(), key=key)

    def list(self, *, revoked: bool = False) -> builtins.list[ApiKey]:
        """The active keys, oldest first (with `revoked=True`, the revoked ones too)."""
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return []
            where = "" if revoked else " WHERE revoked_at IS NULL"
            return [_key(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY created_at, id")]

    def revoke(self, ref: str) -> ApiKey:
        """Revoke the active key with this id, else with this name: refused from the next request on,
        everywhere. (An id names one key: a key *named* like another's id is not the one revoked by it.)"""
        with self._writing() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND (id = ? OR name = ?) "
                               "ORDER BY id = ? DESC LIMIT 1", (ref, ref, ref)).fetchone()
            if row is None:
                raise NotFoundError(f"No active API key with id or name {ref!r}")
            now = utcnow()
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (now, row[0]))
        return _key(row).model_copy(update={"revoked_at": now})

    # -- checking ----------------------------------------------------------------------------------------

    def verify(self, presented: str) -> ApiKey | None:
        """The active key `presented` is, else None; compared in constant time with every active key."""
        digest = bytes.fromhex(key_hash(presented))
        found = None
        for stored, record in self.active():
            if hmac.compare_digest(stored, digest) and found is None:
                found = record
        return found

    def any_active(self) -> bool:
        """Whether the project has keys (then every request to it needs one, or the server's credentials)."""
        return bool(self.active())

    def active(self) -> builtins.list[tuple[bytes, ApiKey]]:
        """(hash, key) of the active keys, read again only when the database changed."""
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return []
            version = int(conn.execute("PRAGMA data_version").fetchone()[0])
            if version != self._version:
                rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE revoked_at IS NULL").fetchall()
                self._active = [(bytes.fromhex(row[4]), _key(row)) for row in rows]
                self._version = version
            return list(self._active)

    def touch(self, key_id: str) -> None:
        """Record a use of the key (at most once a minute per key: a request must not cost a write)."""
        if self.use_due(key_id):
            self.record_use(key_id)

    def use_due(self, key_id: str) -> bool:
        """Whether a use of the key is to be recorded now (the first in a minute); True claims it."""
        now = time.monotonic()
        if now - self._touched.get(key_id, -TOUCH_EVERY) < TOUCH_EVERY:
            return False
        self._touched[key_id] = now
        return True

    def record_use(self, key_id: str) -> None:
        """Write the key's last use now (a write: `touch` decides when one is due)."""
        try:
            with self._writing(timeout=5.0) as conn:
                conn.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (utcnow(), key_id))
        except sqlite3.Error:  # busy: the next use records it
            self._touched.pop(key_id, None)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._version = None

    # -- the connection ----------------------------------------------------------------------------------

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        """The connection (under the lock); None when the project has no state yet and `create` is False.
        A database of an older schema is migrated first, through the store that owns the schema."""
        if self._conn is not None:
            return self._conn
        if not self.path.is_file():
            if not create:
                return None
            if not (self.root / POLPO_DIR).is_dir() and not self.root.is_dir():
                raise SpecError([{"loc": ["project"], "msg": f"{self.root} is not a directory"}])
        Store(self.path).close()  # creates or migrates the schema (api_keys is in it from V4 on)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        self._conn = conn
        return conn

    @contextmanager
    def _writing(self, timeout: float = 30.0) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction on a connection of its own: a write waiting for SQLite's lock (the
        engine may hold it) never holds up `verify`, which a server calls on its event loop."""
        with self._lock:
            self._connect(create=True)  # the schema exists
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=timeout)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()


def _key(row: tuple[str, ...]) -> ApiKey:
    ident, name, kind, prefix, _, created, used, revoked = row
    return ApiKey(id=ident, name=name, kind=kind, prefix=prefix, created_at=created, last_used_at=used,
                  revoked_at=revoked)
