"""Who runs a mission: an owner id per engine, a heartbeat lease in the store, and liveness checks.

When an owner dies its lease stops being renewed; another process may take the run over once the
lease has expired, or at once when the owner was on this host and its pid is gone (SIGKILL).
"""

from __future__ import annotations

import os
import secrets
import socket
import time

LEASE_SECONDS = 10.0
HEARTBEAT_SECONDS = LEASE_SECONDS / 3

#: The owner of a run row no process claims: an ended run (kept for the flags a later resume reads) or
#: an interrupted one. `owner_alive` reads it as dead.
NO_OWNER = ""

#: Engines of this process that are open; a closed engine's runs are orphans even though the pid lives.
_LIVE_OWNERS: set[str] = set()


def new_owner_id() -> str:
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    _LIVE_OWNERS.add(owner)
    return owner


def release_owner(owner: str) -> None:
    _LIVE_OWNERS.discard(owner)


def lease_deadline() -> float:
    return time.time() + LEASE_SECONDS


def owner_alive(owner: str, lease_until: float) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            return owner in _LIVE_OWNERS
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    return lease_until > time.time()
