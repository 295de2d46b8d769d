"""The project's agents: who plays each name, in one registry the engine, the API and the chat share.

An agent is found in a mission's own team, else in the project's stored team; it is played by a
Python callable registered in this process (`@project.agent`), else by its `handler: module:function`,
else by an LLM on its model (or the project's `defaultModel`). The engine resolves a task's agent
here (`resolve`), the API checks names here before anything is written (`check`), and the chat asks
the same questions (`find`, `names`, `function_runtime`), so the three never disagree.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .. import dryrun
from ..agents.function import AgentUnavailableError, FunctionAgent, load_handler
from ..agents.handler_policy import handler_problems
from ..agents.models import ModelRegistry
from ..agents.notebook import NotebookRuntime
from ..errors import ConflictError, NotFoundError, SpecError
from ..events.catalog import AgentAdded, AgentRemoved
from ..sandbox import SandboxError, resolve_in_project
from ..spec import Agent, Task, Team, parse
from ..store.journal import Emit
from ..store.sqlite import Store, Tx
from .config import CurrentConfig

if TYPE_CHECKING:
    from ..agents.llm import LLMRuntime
    from ..engine.run import Run


#: A look at the config file this recent (seconds) stands for a new one when a task starts: thousands start a
#: second in a quick mission, and a hand edit seen 20 ms later is seen at once for any person.
TASK_START_LOOK = 0.02


class AgentRegistry:
    """The agents of one project: its stored team, the functions registered in this process, and how
    each name is played."""

    def __init__(self, store: Store, root: Path, config: CurrentConfig, models: ModelRegistry, *,
                 remote: bool = False) -> None:
        """`config` gives the config as its file says now; `remote`: task bodies run elsewhere (Dask),
        where the model keys live, so a key missing here is no reason to refuse an LLM agent."""
        self.store = store
        self.root = root
        self.config = config
        self.models = models
        self.remote = remote
        self._functions: dict[str, FunctionAgent] = {}
        self._llm: LLMRuntime | None = None  # built (and pydantic-ai imported) for the first LLM agent
        self._notebooks = NotebookRuntime()  # plays every task that names a notebook

    @property
    def functions(self) -> Mapping[str, FunctionAgent]:
        """The agents played by Python callables in this process, by name (read-only)."""
        return MappingProxyType(self._functions)

    # -- registration --------------------------------------------------------------------------------

    def register(self, name: str, fn: Callable[..., Any], *, role: str = "", model: str | None = None,
                 **spec: Any) -> Agent:
        """`fn` plays `name` in this process; the agent is stored too, with `fn`'s import path as its
        handler when another process could import it."""
        runtime = FunctionAgent(name, fn)
        agent = parse(Agent, {"name": name, "role": role or (inspect.getdoc(fn) or "").split("\n")[0],
                              "model": model, "handler": importable_handler(fn), **spec})
        self._functions[name] = runtime
        with self.store.write() as tx:
            tx.put_agent(agent)
        return agent

    def checked(self, agent: Agent | dict[str, Any]) -> Agent:
        """`agent` parsed, its handler allowed by the config: raises SpecError before anything is written."""
        agent = parse(Agent, agent if isinstance(agent, dict) else agent.model_dump())
        if problems := handler_problems([((), agent)], self.root, self.config().agent_handler_modules,
                                        mcp_commands=self.config().mcp_commands):
            raise SpecError(problems)
        return agent

    def add(self, tx: Tx, emit: Emit, agent: Agent) -> Agent:
        """A journal write: store a new agent (ConflictError when the name is taken)."""
        if tx.agent(agent.name) is not None:
            raise ConflictError(f"An agent named {agent.name!r} already exists")
        tx.put_agent(agent)
        emit(AgentAdded(agent_name=agent.name))
        return agent

    def remove(self, tx: Tx, emit: Emit, name: str) -> None:
        """A journal write: forget an agent (NotFoundError for an unknown name)."""
        if not tx.delete_agent(name):
            raise NotFoundError(f"Agent not found: {name}")
        emit(AgentRemoved(agent_name=name))

    def forget_function(self, name: str) -> None:
        self._functions.pop(name, None)

    # -- lookup --------------------------------------------------------------------------------------

    def list(self) -> list[Agent]:
        """The project's stored agents."""
        with self.store.read() as tx:
            return [row.agent for row in tx.agents()]

    def stored(self, name: str) -> Agent | None:
        """The stored agent of that name, if any."""
        with self.store.read() as tx:
            return tx.agent(name)

    def find(self, name: str, team: Team | None = None) -> Agent | None:
        """The agent `name` as it would play: the team's, else the stored one, else a bare spec for a
        function registered here; None when nothing knows the name."""
        spec = team.agent(name) if team else None
        spec = spec or self.stored(name)
        if spec is None and name in self._functions:
            return Agent(name=name)
        return spec

    def names(self, team: Team | None = None) -> set[str]:
        """Every name a task may be assigned to (with `team`: a mission's own agents too)."""
        return {a.name for a in self.list()} | set(self._functions) | ({a.name for a in team.agents} if team else set())

    def check(self, tasks: Sequence[Task], team: Team | None, *, kept: Iterable[Task] = (), team_given: bool = True) -> None:
        """SpecError naming every task of a mission assigned to (or falling back on) an unknown agent, and
        every team agent whose handler the config does not allow. An edit checks what it makes anew: the
        tasks of `kept` (stored) whose assignment it leaves as it was, and the team when not `team_given`,
        are not checked again (an agent deleted since, or registered in another process, does not block an
        edit of something else; the run refuses it before anything starts)."""
        known = self.names(team)
        unchanged = {_assignment(t) for t in kept}
        errors = [problem for i, task in enumerate(tasks) if _assignment(task) not in unchanged
                  for problem in _task_problems(task, ("tasks", i), known, self.root)]
        if team_given:
            errors += handler_problems([(("team", "agents", i), a) for i, a in enumerate(team.agents if team else [])],
                                       self.root, self.config().agent_handler_modules,
                                       mcp_commands=self.config().mcp_commands)
        if errors:
            raise SpecError(errors)

    def check_task(self, task: Task, team: Team | None) -> None:
        """`check` for one task given alone (created, edited, added to a mission): its fields' own paths."""
        errors = _task_problems(task, (), self.names(team), self.root)
        if errors:
            raise SpecError(errors)

    # -- playing -------------------------------------------------------------------------------------

    def function_runtime(self, spec: Agent) -> FunctionAgent | None:
        """The callable that plays `spec` here: registered in this process, else its handler loaded;
        None for an agent played by a model."""
        runtime = self._functions.get(spec.name)
        if runtime is None and spec.handler:
            runtime = FunctionAgent(spec.name, load_handler(spec.handler, self.root))
        return runtime

    def plays_function(self, spec: Agent) -> bool:
        """Whether a callable (registered or a handler) plays `spec`, rather than a model."""
        return spec.name in self._functions or bool(spec.handler)

    def resolve(self, who: str | Task, run: Run) -> tuple[Agent, FunctionAgent]:
        """(spec, runtime) of what plays a task of `run`: given the task, its notebook if it names one
        (`NotebookRuntime`), else its agent; given a name, that agent, cached for the run. Raises
        AgentUnavailableError, in the user's terms, when nothing here can play it."""
        if isinstance(who, Task):
            if who.notebook is not None:
                # A label, not an agent: it may be a path (`nb/train.ipynb`), which no agent name could be.
                label = Agent.model_construct(name=who.assign_to, role="notebook")
                return label, FunctionAgent(who.assign_to, self._notebooks)
            who = who.assign_to
        name = who
        # each task starts on the config as its file says now, or said a few milliseconds ago (the engine
        # shares the object; a mission's run looked at the file when it started)
        config = self.config(within=TASK_START_LOOK)
        cached: tuple[Agent, FunctionAgent] | None = run.agent_cache.get(name)
        if cached is not None:
            return cached
        spec = self.find(name, run.mission.team if run.mission else None)
        if spec is None:
            raise AgentUnavailableError(f"unknown agent {name!r}: add it to the team or register @project.agent({name!r})")
        runtime = self.function_runtime(spec)
        if runtime is None and run.flags.dry_run:  # a test key's run: the model it plays is the offline one
            spec = spec.model_copy(update={"model": dryrun.TEST_MODEL})
        if runtime is None:
            model = spec.model or config.default_model
            if model is None:
                raise AgentUnavailableError(
                    f"agent {name!r} has neither a model nor a handler: give it a `model` (or set defaultModel), "
                    f"register a function with @project.agent({name!r}), or give it a `handler: module:function`"
                )
            llm = self.llm_runtime()
            try:  # a missing key fails here, before anything is written
                llm.check(name, model, spec.allowed_tools, spec.mcp_servers)
            except AgentUnavailableError as exc:
                if not (exc.details.get("env") and self.remote):  # Dask: keys on workers
                    raise type(exc)(f"agent {name!r}: {exc.message}; or play it offline with @project.agent({name!r})",
                                    **exc.details) from None
            runtime = FunctionAgent(name, llm)
        run.agent_cache[name] = (spec, runtime)
        return spec, runtime

    def llm_runtime(self) -> LLMRuntime:
        if self._llm is None:
            from ..agents.llm import LLMRuntime

            self._llm = LLMRuntime(self.models, self.config(), self.root)
        return self._llm


def _task_problems(task: Task, loc: tuple[Any, ...], known: set[str], root: Path) -> list[dict[str, Any]]:
    """A task's agent problems, at `loc` + the field: an unknown agent or fallback, a notebook outside `root`."""
    errors = []
    if task.notebook is not None:  # played by its notebook: assignTo is only a label
        try:
            resolve_in_project(root, task.notebook)  # a missing file fails the attempt, not the request
        except SandboxError as exc:
            errors.append({"loc": [*loc, "notebook"], "msg": exc.message})
    elif task.assign_to not in known:
        errors.append({"loc": [*loc, "assignTo"], "msg": f"unknown agent {task.assign_to!r} (known: {sorted(known)})"})
    fallback = task.retry_policy.fallback_agent if task.retry_policy else None
    if fallback and fallback not in known:
        errors.append({"loc": [*loc, "retryPolicy", "fallbackAgent"], "msg": f"unknown agent {fallback!r}"})
    return errors


def _assignment(task: Task) -> tuple[str, str, str | None, str | None]:
    """What of a task names who plays it: its agent, its notebook, its fallback (by task title)."""
    return (task.title, task.assign_to, task.notebook, task.retry_policy.fallback_agent if task.retry_policy else None)


def importable_handler(fn: Callable[..., Any]) -> str | None:
    """`module:qualname` when another process could import the function; None for notebook cells."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname or module.startswith("__"):
        return None
    return f"{module}:{qualname}"
