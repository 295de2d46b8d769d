"""Task bodies on a Dask cluster: `executor: "dask"` + `daskScheduler` in the config, or in Python
`Project(path, executor=client)` with a `distributed.Client` (or `executor=DaskExecutor(client)`).

Only the agent's call leaves the process. The engine, the store and the events stay where they are:
each attempt ships `(agent function, a picklable snapshot of its context)` to a worker and gets back
`(return value, what the agent reported)`. Everything else (assessment, retries, transitions) happens
on the engine's loop as with the in-process executor.

- **What runs where.** A sync agent runs in a worker thread; an async one in a fresh event loop of its
  own in that worker thread (closed afterwards). LLM agents run their whole tool loop on the worker:
  provider keys are read from the *worker's* environment (never shipped), and their files go to the
  project directory as the worker sees it, so a multi-host cluster needs the project on a shared
  filesystem. A fix phase on Dask gets the self-contained fix prompt: the conversation of the previous
  attempt stayed on the worker that ran it.
- **Pickling.** Agent functions travel with cloudpickle: functions of importable modules by reference
  (the workers must import them: install the package there, or run a `LocalCluster`, whose workers get
  this process's `sys.path`), functions defined in a notebook or script (`__main__`) by value, with
  their closures. Workers also need `polpo-nb` itself (`pip install "polpo-nb[dask]"`).
- **Output.** `ctx.output()`, `ctx.log()` and `ctx.tool_use()` on a worker are streamed back through
  the scheduler's event topics (`Worker.log_event`), so `task:output` events arrive while the attempt
  runs; the full list also comes back with the result and fills any gap, in order, without
  duplicates. With `stream=False` everything arrives when the attempt ends.
- **Failures.** An exception in the agent fails the attempt (its worker-side traceback is the error).
  A worker lost mid-attempt fails the attempt too (`WorkerLostError`) and the engine retries it like
  any failure: a scheduler plugin tells Dask not to re-run polpo's attempts on its own after a worker
  death, so an attempt never runs twice behind the engine's back. An unreachable scheduler fails the
  attempt with a `DaskExecutorError` naming the address (`daskConnectTimeout`, default 10 s).
- **Keys.** The engine does not need the provider keys of LLM agents that run on Dask (the preflight
  check skips a missing key); the worker reads them from its own environment and fails the attempt
  with the usual missing-key error if it lacks them.
- **Cancellation** (`maxDuration`, kill, abort): the Dask future is cancelled. A running async agent
  is cancelled on the worker within ~0.1 s; a sync one cannot be interrupted and should poll
  `ctx.cancelled`, which turns true on the worker once the scheduler has released the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pickle
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..agents.context import AgentContext, Attempt
from ..agents.function import FunctionAgent
from ..errors import PolpoError
from ..tracebacks import attempt_error

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskExecutor", "DaskExecutorError", "RemoteAgentError", "WorkerContext", "WorkerLostError"]

log = logging.getLogger(__name__)

#: Every attempt's Dask key starts with this; the scheduler plugin recognises them by it.
KEY_PREFIX = "polpo-attempt-"
_PLUGIN_NAME = "polpo-nb-attempts"
_EVENT_KINDS = frozenset({"output", "log", "tool_use"})
_CANCEL_POLL = 0.1  # seconds between checks of ctx.cancelled for an async agent on a worker


class DaskExecutorError(PolpoError):
    """The cluster cannot take the attempt: `distributed` missing, scheduler unreachable, unpicklable agent."""


class WorkerLostError(DaskExecutorError):
    """The worker running an attempt died (or the attempt was dropped by the cluster): the attempt failed."""


class RemoteAgentError(Exception):
    """The agent raised on a worker; the message is the worker-side traceback (or the error's own report),
    stored as is: the engine's local frames say nothing about it."""

    own_traceback = True


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - the dev environment has it
        raise DaskExecutorError(
            "the Dask executor needs `distributed`: pip install 'polpo-nb[dask]'"
        ) from None
    return distributed


# == the worker side ===================================================================================


@dataclass
class WorkerContext(Attempt):
    """The AgentContext an agent sees on a Dask worker: the same attributes, as a picklable snapshot.

    `output()`, `log()` and `tool_use()` are buffered (and streamed when the executor streams) and
    replayed into the engine-side context; `memory` is the project memory as it was when the attempt
    was sent.
    """

    memory: str = ""
    _key: str = field(default="", repr=False)
    _topic: str | None = field(default=None, repr=False)
    _events: list[list[Any]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def output(self, text: str) -> None:
        self._emit("output", str(text))

    def tool_use(self, name: str, args: Any = None, result_summary: str = "") -> None:
        self._emit("tool_use", str(name), _plain(args), str(result_summary))

    def log(self, message: str, level: str = "info") -> None:
        self._emit("log", str(message), str(level))

    @property
    def cancelled(self) -> bool:
        """True once the engine gave up on this attempt (timeout, kill, abort): the scheduler released it."""
        try:
            from distributed import get_worker

            state = get_worker().state.tasks.get(self._key)
        except (ImportError, ValueError):  # not on a worker: nobody can cancel us
            return False
        return state is None or state.state in ("cancelled", "released", "forgotten")

    def _emit(self, kind: str, *args: Any) -> None:
        with self._lock:  # an agent may report from several threads of its own
            event = [len(self._events), kind, list(args)]
            self._events.append(event)
        if self._topic is not None:
            try:
                from distributed import get_worker

                get_worker().log_event(self._topic, {"key": self._key, "event": event})
            except Exception:  # noqa: BLE001 - streaming is best effort; the result carries every event
                pass

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _plain(value: Any) -> Any:
    """Tool arguments as plain JSON data: events travel as msgpack and end up as JSON anyway."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return repr(value)


def run_attempt(payload: bytes) -> dict[str, Any]:
    """What a worker runs for one attempt: unpickle the agent and its context, call it, report back."""
    import cloudpickle

    fn, is_async, ctx = cloudpickle.loads(payload)
    try:
        value = _run_coroutine(lambda: fn(ctx.task, ctx), ctx) if is_async else fn(ctx.task, ctx)
    except BaseException as exc:  # noqa: BLE001 - the traceback is the attempt's error, the events still count
        return {"error": attempt_error(exc), "events": ctx._events}
    return {"value": value, "events": ctx._events}


def _run_coroutine(make: Callable[[], Coroutine[Any, Any, Any]], ctx: WorkerContext) -> Any:
    """Run an async agent on a private event loop in this worker thread, cancelling it when the
    engine gives up on the attempt. Never `asyncio.run`: the loop is created, used and closed here."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_supervise(make(), ctx))
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


async def _supervise(coro: Coroutine[Any, Any, Any], ctx: WorkerContext) -> Any:
    """Cancel the agent once the attempt is released, and only once (as the engine does in process): an
    agent cleaning up after its cancellation (a notebook interrupting, then shutting down its kernel)
    must not be cancelled again in the middle of it."""
    task = asyncio.ensure_future(coro)
    while not task.done():
        await asyncio.wait({task}, timeout=_CANCEL_POLL)
        if not task.done() and not task.cancelling() and ctx.cancelled:
            task.cancel()
    return task.result()


# == pickling agents ===================================================================================


def _dumps(obj: Any) -> bytes:
    """cloudpickle: notebook and `__main__` functions by value. Project-bound objects that cannot travel
    as they are (ModelRegistry, LLMRuntime) pickle as the recipe to rebuild them (their `__reduce__`)."""
    import cloudpickle

    return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def snapshot(ctx: AgentContext, key: str = "", topic: str | None = None) -> WorkerContext:
    """The picklable copy of `ctx` a worker gets."""
    return WorkerContext(**{**ctx.attempt_fields(), "upstream": dict(ctx.upstream)}, memory=ctx.memory,
                         _key=key, _topic=topic)


# == the engine side ===================================================================================


class _Replay:
    """Feeds a worker's events into the real context in order, once each, whichever way they come
    (the stream, the final list, or both). Used on the client's loop only."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.next = 0
        self.early: dict[int, tuple[str, list[Any]]] = {}

    def feed(self, seq: int, kind: str, args: list[Any]) -> None:
        if seq < self.next or kind not in _EVENT_KINDS:
            return
        self.early[seq] = (kind, args)
        while self.next in self.early:
            kind, args = self.early.pop(self.next)
            self.next += 1
            getattr(self.ctx, kind)(*args)

    def finish(self, events: list[list[Any]]) -> None:
        for seq, kind, args in events:
            self.feed(seq, kind, args)


#: The states of a `distributed.Client` that will send nothing any more.
_CLOSED = frozenset({"closing", "closed", "failed"})


class DaskExecutor:
    """Runs task bodies on a Dask cluster: `DaskExecutor(client)` or `DaskExecutor(address="tcp://...")`.

    A client passed in is used as it is (sync or asynchronous, on any loop or thread) and left open;
    with an address the executor connects on first use (not when the project opens: a project whose
    cluster is down can still be read) and closes its client in `close()`. An unreachable scheduler
    fails the attempt with a `DaskExecutorError` naming the address; for `connect_timeout` seconds after
    that, further attempts fail at once with the same error instead of each waiting again.
    """

    #: Task bodies run elsewhere: the engine need not hold provider keys (the workers' environment does).
    remote = True

    def __init__(self, client: Client | None = None, address: str | None = None, *, stream: bool = True,
                 connect_timeout: float = 10.0) -> None:
        _import_distributed()
        if client is None and not address:
            raise DaskExecutorError("DaskExecutor needs a distributed.Client or a scheduler address")
        self._client: Client | None = client
        self._address = address
        self._owns_client = client is None
        self._stream = stream
        self._connect_timeout = connect_timeout
        self._topic = f"polpo-events-{secrets.token_hex(4)}"
        self._replays: dict[str, _Replay] = {}
        self._lock = threading.Lock()
        self._failed: tuple[float, str] | None = None  # (when, why) of the last failed connection
        self._setup: asyncio.Future[None] | None = None  # on the client's loop: plugin + topic, once

    @property
    def client(self) -> Client | None:
        return self._client

    async def run(self, agent: FunctionAgent, ctx: AgentContext) -> Any:
        client = self._client
        if client is not None and client.status in _CLOSED:
            if not self._owns_client:
                raise DaskExecutorError(f"the Dask client polpo was given is {client.status}: open the project "
                                        "again with a client that is connected")
            self._forget(client)  # distributed closed it (its scheduler went away): connect again
            client = None
        if client is None:
            client = await asyncio.to_thread(self._connect)
        key = f"{KEY_PREFIX}{ctx.task.id}-{ctx.attempt}-{secrets.token_hex(4)}"
        try:
            payload = _dumps((agent.fn, agent.is_async, snapshot(ctx, key, self._topic if self._stream else None)))
        except Exception as exc:  # noqa: BLE001 - whatever cloudpickle chokes on
            raise DaskExecutorError(
                f"agent {agent.name!r} cannot be sent to Dask workers: {type(exc).__name__}: {exc}. Agent "
                "functions, their closures and the context must pickle (cloudpickle): define them at module "
                "level or in the notebook, and keep locks, sockets and open files out of their closures"
            ) from exc
        remote = self._remote(client, key, payload, _Replay(ctx))
        if client.loop is None:
            raise DaskExecutorError("the Dask client is closed")
        loop = client.loop.asyncio_loop  # type: ignore[attr-defined]  # distributed runs tornado's AsyncIOLoop
        if loop is asyncio.get_running_loop():
            return await remote
        # A sync client runs its own loop thread: the attempt lives there; cancelling ours cancels it.
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(remote, loop))

    async def _remote(self, client: Client, key: str, payload: bytes, replay: _Replay) -> Any:
        """On the client's loop: submit, await, replay the agent's events; cancel the future if cancelled."""
        distributed = _import_distributed()
        await self._ensure_setup(client)
        self._replays[key] = replay
        future = client.submit(run_attempt, payload, key=key, pure=False)
        try:
            outcome = await future
        except asyncio.CancelledError:
            await client.cancel([future], asynchronous=True, reason="polpo: attempt cancelled (maxDuration, kill, abort)")
            raise
        except distributed.KilledWorker as exc:
            raise WorkerLostError(f"the Dask worker running {key} died: {exc}") from exc
        except (distributed.comm.CommClosedError, distributed.client.FutureCancelledError) as exc:
            raise WorkerLostError(f"Dask lost {key}: {type(exc).__name__}: {exc}") from exc
        finally:
            self._replays.pop(key, None)
            future.release()
        replay.finish(outcome["events"])
        if "error" in outcome:
            raise RemoteAgentError(outcome["error"])
        return outcome["value"]

    async def _ensure_setup(self, client: Client) -> None:
        """Once per executor, on the client's loop (so it works for sync and asynchronous clients alike):
        the scheduler plugin that leaves retries to polpo, and the topic streamed events come on."""
        if self._setup is None:
            self._setup = asyncio.ensure_future(self._do_setup(client))
        await asyncio.shield(self._setup)

    async def _do_setup(self, client: Client) -> None:
        try:
            from ._dask_plugin import AttemptsPlugin

            await client.register_plugin(AttemptsPlugin(KEY_PREFIX), name=_PLUGIN_NAME)
        except Exception as exc:  # noqa: BLE001 - e.g. polpo-nb not importable on the scheduler
            log.warning("polpo: could not install the %s scheduler plugin (%s); Dask may re-run an attempt "
                        "on another worker after a worker death instead of failing it", _PLUGIN_NAME, exc)
        if self._stream:
            client.subscribe_topic(self._topic, self._on_event)

    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        """A streamed worker event (on the client's loop)."""
        _, msg = event
        replay = self._replays.get(msg.get("key", ""))
        if replay is not None:
            seq, kind, args = msg["event"]
            replay.feed(seq, kind, args)

    def _connect(self) -> Client:
        """In a worker thread, once: our own client for `address`. A failure is remembered for
        `connect_timeout` seconds so that concurrent and retried attempts do not queue up behind it."""
        with self._lock:
            if self._client is not None:
                return self._client
            if self._failed is not None and time.monotonic() - self._failed[0] < self._connect_timeout:
                raise DaskExecutorError(self._failed[1])
            distributed = _import_distributed()
            try:
                self._client = distributed.Client(self._address, set_as_default=False, timeout=self._connect_timeout)
            except (OSError, TimeoutError, ValueError) as exc:  # refused, timed out, malformed address
                why = (f"cannot reach the Dask scheduler at {self._address!r} (daskScheduler) within "
                       f"{self._connect_timeout:g} s: {type(exc).__name__}: {exc}")
                self._failed = (time.monotonic(), why)
                raise DaskExecutorError(why) from None
            self._failed = None
            return self._client

    def _forget(self, client: Client) -> None:
        """Our client, which distributed closed: the next attempt connects anew (and sets up again)."""
        with self._lock:
            if self._client is client:
                self._client = None
                self._setup = None

    def close(self) -> None:
        client = self._client
        if client is None:
            return
        if self._setup is not None and self._stream:
            with contextlib.suppress(Exception):  # closing is best effort
                client.unsubscribe_topic(self._topic)
        if self._owns_client:
            self._client = None
            self._setup = None
            client.close()
