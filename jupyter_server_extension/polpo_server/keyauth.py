"""Who is asking, and may they ask this: the one decision every polpo handler makes in `prepare`.

Three kinds of callers (`Principal`): the server's own credentials (Jupyter's token or session,
`polpo serve --api-key`, `c.PolpoServerApp.api_key`) open everything and alone administer keys; a
project API key (`sk_live_...`, `sk_test_...`, see `polpo_nb.project.keys`) opens its own project
only: another project's routes answer 404, as if it did not exist; and on a server without
credentials (`polpo serve` on the loopback, no `--api-key`) anyone is "open", except that a project
with keys requires one. Then each request is counted against its key's rate limits (ratelimit.py).

HTTP verbs, SSE, the WebSocket, `/mcp` and the dashboard's calls all pass here (`AuthMixin.prepare`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jupyter_server.auth import User

from polpo_nb.errors import NotFoundError
from polpo_nb.project.keys import ApiKeys, looks_like_key
from polpo_nb.spec.keys import ApiKey

from .failures import Failure
from .projects import ProjectRegistry
from .ratelimit import RateLimiter

#: The tag of the routes that manage keys: the server's own credentials only.
ADMIN_TAG = "keys"
#: The user a project key authenticates as (the authorizer and the decorators only need *a* user).
KEY_USER_PREFIX = "polpo-api-key:"


@dataclass(frozen=True)
class Principal:
    kind: Literal["server", "open", "key"]
    key: ApiKey | None = None
    root: Path | None = None  # the key's project

    @property
    def test(self) -> bool:
        """A test key: what it starts are dry runs."""
        return self.key is not None and self.key.kind == "test"

    @property
    def bucket(self) -> tuple[str, ...]:
        return ("key", self.key.id) if self.key else (self.kind,)


@dataclass(frozen=True)
class Limits:
    """The server's defaults, for what a project's `rateLimits` leaves unset (0: no limit)."""

    requests_per_minute: int = 0
    concurrent_streams: int = 0


class KeyGate:
    """The keys of every project the server serves, and the rate limiter."""

    def __init__(self, registry: ProjectRegistry, limits: Limits) -> None:
        self.registry = registry
        self.limits = limits
        self.limiter = RateLimiter()
        self._rings: dict[Path, ApiKeys] = {}
        self._touches: set[asyncio.Future[None]] = set()

    def ring(self, root: Path) -> ApiKeys:
        ring = self._rings.get(root)
        if ring is None:
            ring = self._rings[root] = ApiKeys(root)
        return ring

    async def find(self, presented: str) -> tuple[Path, ApiKey] | None:
        """The project and key `presented` is: the default project first, then the open ones, then every
        other one (the directory tree is looked at only for a key none of the first knows)."""
        first = [self.registry.default_path, *(p.root for p in self.registry.open_projects)]
        found = self._verify(first, presented)
        if found is None:
            others = [p for p in (await self.registry.discover()).values() if p not in first]
            found = self._verify(others, presented)
        return found

    def _verify(self, roots: list[Path], presented: str) -> tuple[Path, ApiKey] | None:
        for root in roots:
            key = self.ring(root).verify(presented)
            if key is not None:
                return root.resolve(), key  # as an open project's root is: compared with it below
        return None

    def still_valid(self, principal: Principal) -> bool:
        """Whether a key's request may go on: the key is still active (revoked, here or by `polpo keys`
        in another process, it is not). The server's credentials and open servers always may."""
        if principal.kind != "key":
            return True
        assert principal.root is not None and principal.key is not None
        return any(key.id == principal.key.id for _, key in self.ring(principal.root).active())

    def touch(self, root: Path, key: ApiKey) -> None:
        """Record the key's use off the event loop (a write at most once a minute; nothing otherwise)."""
        ring = self.ring(root)
        if not ring.use_due(key.id):
            return
        future = asyncio.get_running_loop().run_in_executor(None, ring.record_use, key.id)
        self._touches.add(future)
        future.add_done_callback(self._touches.discard)

    async def target_root(self, project_id: str | None) -> Path | None:
        """The directory of the project a request names (None: the default one); None if unknown."""
        if project_id is None:
            return self.registry.default_path
        opened = self.registry.find_open(project_id)
        if opened is not None:  # the usual case: no look at the directory tree
            return opened.root
        path = (await self.registry.discover()).get(project_id) or (await self.registry.discover(fresh=True)).get(project_id)
        return path.resolve() if path is not None else None

    async def limits_for(self, project_id: str | None, root: Path | None) -> Limits:
        """The project's `rateLimits` over the server's defaults (the server's alone without a project)."""
        if root is None:
            return self.limits
        try:
            configured = (await self.registry.get(project_id)).config.rate_limits
        except NotFoundError:
            return self.limits
        rpm, streams = configured.requests_per_minute, configured.concurrent_streams
        return Limits(self.limits.requests_per_minute if rpm is None else rpm,
                      self.limits.concurrent_streams if streams is None else streams)

    def close(self) -> None:
        for ring in self._rings.values():
            ring.close()
        self._rings.clear()


async def recognise(handler: Any, gate: KeyGate, presented: str | None) -> Principal | None:
    """Before the server authenticates: a project key becomes the request's user."""
    if not presented or not looks_like_key(presented) or getattr(handler, "_jupyter_current_user", None) is not None:
        return None
    found = await gate.find(presented)
    if found is None:
        return None
    root, key = found
    handler._jupyter_current_user = User(KEY_USER_PREFIX + key.id, name=f"API key {key.name}")
    handler._token_authenticated = True
    return Principal("key", key, root)


def classify(handler: Any, principal: Principal | None) -> Principal | None:
    """After the server authenticated: whose request this is (None: nobody; the decorators answer 401)."""
    if principal is not None:
        return principal
    if getattr(handler, "_jupyter_current_user", None) is None:
        return None
    return Principal("server" if handler.identity_provider.auth_enabled else "open")


async def admit(handler: Any, gate: KeyGate, principal: Principal, *, presented: str | None,
                target: tuple[bool, str | None], admin: bool, stream: bool, dry_runs: bool = True) -> dict[str, str]:
    """Refuse what `principal` may not do here (a Failure), count the request; the headers to answer.
    `target`: (whether the route is a project's, its id or None for the default project); `dry_runs`: whether
    the handler runs what a test key starts as a dry run (route_handler.py does; /mcp cannot)."""
    scoped, project_id = target
    root = await gate.target_root(project_id) if scoped else None
    if principal.kind == "key":
        if principal.test and not dry_runs:
            raise Failure("FORBIDDEN", "A test key cannot use this endpoint: what it starts could not be a dry run; "
                                       "use the REST API, or a live key")
        if admin:
            raise Failure("FORBIDDEN", "API keys are managed with the server's own credentials (its --api-key, or "
                                       "the Jupyter token), not with a project key")
        if scoped and root != principal.root:
            raise Failure("NOT_FOUND", f"Project not found: {project_id}" if project_id else "Project not found")
        assert principal.root is not None and principal.key is not None
        gate.touch(principal.root, principal.key)
    elif principal.kind == "open":
        if presented and looks_like_key(presented):  # a project key no project knows (revoked): say so
            raise Failure("INVALID_API_KEY", "Invalid API key", headers=CHALLENGE)
        if root is not None and gate.ring(root).any_active():
            if presented:
                raise Failure("INVALID_API_KEY", "Invalid API key", headers=CHALLENGE)
            raise Failure("UNAUTHORIZED", "This project requires an API key: send Authorization: Bearer <key>",
                          headers=CHALLENGE)
        if admin:
            raise Failure("FORBIDDEN", "API keys are managed over HTTP only on a server with credentials "
                                       "(polpo serve --api-key); use `polpo keys` here")
    limits = await gate.limits_for(project_id, root)
    who = (principal.bucket, str(root) if principal.kind != "key" else "")
    rpm = limits.requests_per_minute
    if stream and limits.concurrent_streams:  # first: a stream refused for want of a slot costs no request
        try:
            gate.limiter.open_stream(who, limits.concurrent_streams)
        except Failure as refused:
            refused.headers.update(gate.limiter.take(who, rpm, count=False) if rpm else {})
            raise
        handler.stream_slot = (gate.limiter, who)
    try:
        return gate.limiter.take(who, rpm) if rpm else {}
    except Failure:
        handler.release_stream()
        raise


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="polpo"'}
