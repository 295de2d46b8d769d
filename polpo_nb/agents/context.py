"""What an agent sees of its task's world, and how it talks back while it works."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..spec import Agent, Phase, TaskRecord, TaskResult
from .steps import StepLog, run_step, run_step_async


@dataclass
class Attempt:
    """What an agent is told about its attempt: one list of fields, shared by the engine's context and
    the picklable snapshot a remote executor sends (executors/dask.py)."""

    task: TaskRecord
    agent: Agent
    model: str | None
    attempt: int
    phase: Phase
    project_dir: Path
    feedback: str | None = None
    mission_name: str | None = None
    mission_prompt: str = ""
    mission_data: Any = None
    upstream: dict[str, TaskResult] = field(default_factory=dict)

    def attempt_fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(Attempt)}

    @property
    def output_dir(self) -> Path:
        """`.polpo/output/`, the default place for an agent's files."""
        path = self.project_dir / ".polpo" / "output"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def steps(self) -> StepLog | None:
        """The attempt's durable step log (agents/steps.py), None where there is no store (a remote
        worker: its steps are not durable)."""
        return None

    def step(self, name: str, fn: Callable[..., Any], *args: Any, idempotent: bool = False, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` as a durable step of a sync agent: its result (JSON) is stored before
        this returns, and when the attempt runs on after a crash it is answered from the store instead
        of running again. A non-idempotent step the crash interrupted raises `StepInterrupted`; with
        `idempotent=True` it runs again. In an async agent use `await ctx.astep(...)`."""
        return run_step(self.steps, name, fn, args, kwargs, idempotent=idempotent)

    async def astep(self, name: str, fn: Callable[..., Any], *args: Any, idempotent: bool = False, **kwargs: Any) -> Any:
        """`step` for an async agent; `fn` may be sync or async."""
        return await run_step_async(self.steps, name, fn, args, kwargs, idempotent=idempotent)


@dataclass
class AgentContext(Attempt):
    """Handed to every agent call. Safe to use from the worker thread a sync agent runs on."""

    _memory: Callable[[], str] = field(default=lambda: "", repr=False)
    _output: Callable[[str], None] = field(default=lambda text: None, repr=False)
    _log: Callable[[str, str], None] = field(default=lambda message, level: None, repr=False)
    _tool_use: Callable[[str, Any, str], None] = field(default=lambda name, args, summary: None, repr=False)
    # a flag, not a threading.Event: nothing waits on it, and an Event (a lock and a condition) per attempt
    # was measurable on the engine's hot path; a bool written and read under the GIL is seen by every thread
    _cancelled: bool = field(default=False, repr=False)
    #: the attempt's durable steps (agents/steps.py); None where there is no store (a remote worker)
    _steps: StepLog | None = field(default=None, repr=False)

    @property
    def memory(self) -> str:
        """The project memory (`.polpo/memory.md`), read when asked: most agents never look."""
        return self._memory()

    def output(self, text: str) -> None:
        """Stream a piece of output: a `task:output` event, live in widgets and SSE streams."""
        self._output(str(text))

    def tool_use(self, name: str, args: Any = None, result_summary: str = "") -> None:
        """Report a tool call: a `task:tool_use` event (`tool`, `args`, `result`)."""
        self._tool_use(str(name), args, str(result_summary))

    def log(self, message: str, level: str = "info") -> None:
        """A line in this attempt's log session (`GET logs/:sessionId`)."""
        self._log(str(message), level)

    def cancel(self) -> None:
        """Mark the attempt killed or timed out (the engine does): `cancelled` answers True from now on."""
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        """True once the attempt was killed or timed out. A sync agent cannot be interrupted from
        outside its thread; a long-running one should check this and return early."""
        return self._cancelled

    @property
    def steps(self) -> StepLog | None:
        return self._steps
