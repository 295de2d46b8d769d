"""Missions: a DAG of tasks, a team, quality gates and checkpoints.

`Mission` is both the schema and the notebook builder: `Mission("x").task(...).gate(...)` mutates and
returns the same model. Each piece is validated on its own as it is added (a bad field surfaces in the
cell that made it), but references between pieces (dependencies, gates, checkpoints, delays, the team's
agents) may point forward: the whole graph is checked once the mission is complete, by `validate()`,
and by executing, saving or dumping it, so an unknown task is reported as unknown and a cycle as a
cycle. `Mission.model_validate(json)` (and a mission file) is complete at once and checked at once.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, ClassVar

from croniter import CroniterBadDateError, croniter
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..errors import SpecError
from ._base import WireModel, share_given_fields
from .agent import Agent, Team
from .budget import Budget
from .datafile import read_mission_file, write_mission_file
from .durations import parse_duration
from .expectations import ExpectedOutcome
from .graph import find_cycle
from .jsonvalues import json_value
from .status import MissionStatus
from .task import DEFAULT_MAX_RETRIES, RetryPolicy, Task, TaskRecord
from .validation import STORED, is_stored, parse

DEFAULT_QUALITY_THRESHOLD = 3.0


class QualityGate(WireModel):
    """Blocks `blocksTasks` until every `afterTasks` task is done with score >= `minScore`."""

    name: str | None = None
    after_tasks: list[str] = Field(min_length=1)
    blocks_tasks: list[str] = Field(min_length=1)
    min_score: float | None = Field(default=None, ge=1, le=5, description="Defaults to the mission's threshold.")
    require_all_passed: bool = False


class Checkpoint(WireModel):
    """Pauses the whole mission for a human once `afterTasks` are done, until `resume`."""

    name: str = Field(min_length=1)
    after_tasks: list[str] = Field(min_length=1)
    message: str = ""


class Delay(WireModel):
    """Holds `blocksTasks` back for `duration` (ISO 8601, e.g. `PT2H`) after every `afterTasks` task is
    done; the mission goes on by itself when it elapses."""

    name: str = Field(min_length=1)
    after_tasks: list[str] = Field(min_length=1)
    blocks_tasks: list[str] = Field(min_length=1)
    duration: str

    @field_validator("duration")
    @classmethod
    def _duration_valid(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def seconds(self) -> float:
        return parse_duration(self.duration).total_seconds()


def _invalid(path: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("mission_graph", "{path}: {message}", {"path": path, "message": message})


#: Where the check that a cron expression occurs at all starts: fixed, so that the check does not depend
#: on the day it runs (a leap year follows: `0 0 29 2 *` occurs).
_CRON_CHECK_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def _bad_name(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_mission_name", "{message}", {"message": message})


#: Characters that reorder what follows them on screen (embeddings, overrides, isolates).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Mission names that are routes below `missions/`.
_ROUTE_NAMES = frozenset({"resumable"})


def check_schedule(value: str, *, stored: bool = False) -> str:
    """A cron expression of 5 fields or a nickname (`@daily`), recurring; or an ISO 8601 timestamp (once).
    Refused: more fields (croniter would read a sixth as seconds where node-cron, upstream Polpo's, reads
    the first: the same text, another schedule) and a date no calendar has (`0 0 30 2 *`); a `stored`
    schedule, saved before that rule, is read as it was saved."""
    if croniter.is_valid(value):
        if stored:
            return value
        fields = value.split()
        if not value.startswith("@") and len(fields) != 5:
            raise ValueError(f"{value!r} has {len(fields)} fields: a cron expression here has 5 (minute hour "
                             "day-of-month month day-of-week), no seconds or years")
        try:
            croniter(value, _CRON_CHECK_FROM).get_next(datetime)
        except CroniterBadDateError:
            raise ValueError(f"{value!r} never occurs: no date matches it") from None
        return value
    try:
        once = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is neither a cron expression nor an ISO 8601 timestamp") from None
    if once.tzinfo is not None:
        try:
            once.astimezone(UTC)  # schedules are kept in UTC
        except OverflowError:
            raise ValueError(f"{value!r} is outside the years 1 to 9999 once written in UTC") from None
    return value


class Mission(WireModel):
    name: str = Field(min_length=1, max_length=200)
    prompt: str = ""
    data: Any = None
    tasks: list[Task] = Field(default_factory=list)
    team: Team | None = None
    quality_threshold: float = Field(default=DEFAULT_QUALITY_THRESHOLD, ge=1, le=5)
    deadline: datetime | None = None
    schedule: str | None = None
    end_date: datetime | None = Field(default=None, description="Last date a recurring schedule fires.")
    quality_gates: list[QualityGate] = Field(default_factory=list)
    checkpoints: list[Checkpoint] = Field(default_factory=list)
    delays: list[Delay] = Field(default_factory=list)
    budget: Budget | None = Field(default=None, description="What the mission may spend; reaching a limit "
                                  "pauses it (`pauseReason: \"budget\"`) until the budget is raised and it resumes.")

    @field_validator("data")
    @classmethod
    def _json_data(cls, value: Any) -> Any:
        return json_value(value, "data")

    @field_validator("name")
    @classmethod
    def _name_shown_and_fetched(cls, value: str, info: ValidationInfo) -> str:
        """A name is shown on one line (CLI, dashboard, events) and a mission is fetched by it: refused,
        whitespace only, control characters and bidi overrides, and `resumable` (`GET missions/resumable`
        is the route of the resumable missions); a name stored before that rule reads as it was."""
        if is_stored(info):
            return value
        if not value.strip():
            raise _bad_name("a mission name needs a visible character")
        hidden = next((c for c in value if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS), None)
        if hidden is not None:
            raise _bad_name(f"a mission name cannot hold control characters ({hidden!r})")
        if value in _ROUTE_NAMES:
            raise _bad_name(f"{value!r} is the name of a route (GET missions/{value}): choose another")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule_valid(cls, value: str | None, info: ValidationInfo) -> str | None:
        return value if value is None else check_schedule(value, stored=is_stored(info))

    @model_validator(mode="after")
    def _check_graph(self, info: ValidationInfo) -> Mission:
        # a mission stored before its holds' cycles and twin names were refused stays readable (it can be
        # edited or deleted)
        for problem in mission_problems(self, stored=is_stored(info)):
            raise _invalid(*problem)
        # its tasks live as long as it does (the user's mission, the copy a save parses): one set of given
        # fields between them, not a 216-byte set per task for the collector to visit
        share_given_fields(self.tasks)
        return self

    # -- builder ---------------------------------------------------------------------------------------

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        """`Mission("name", prompt=..., quality_threshold=...)`; invalid fields raise SpecError."""
        if name is not None:
            data["name"] = name
        super().__init__(**data)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]  # as WireModel.__init__: see there

    def validate(self) -> Mission:  # type: ignore[override]  # pydantic's deprecated classmethod of v1
        """Check the whole graph (what the builder leaves for the end): unknown tasks and agents,
        duplicate titles, dependency cycles. Raises SpecError naming every problem; returns the mission."""
        problems = mission_problems(self)
        if problems:
            raise SpecError([{"loc": _split_path(path), "msg": msg} for path, msg in problems])
        return self

    def task(
        self,
        title: str,
        description: str = "",
        *,
        assign_to: str = "",
        notebook: str | None = None,
        parameters: dict[str, Any] | None = None,
        depends_on: Sequence[str] = (),
        expectations: Iterable[Any] = (),
        expected_outcomes: Iterable[ExpectedOutcome | dict[str, Any]] = (),
        max_retries: int = DEFAULT_MAX_RETRIES,
        priority: int | float = 0,
        side_effects: bool = False,
        max_duration: float | None = None,
        retry_policy: RetryPolicy | dict[str, Any] | None = None,
    ) -> Mission:
        """Add a task, played by `assign_to` or by a `notebook` run with `parameters`. Its dependencies may
        be added later: the graph is checked when the mission is complete (`validate()`, execute, save,
        dump). A duplicate title is refused at once."""
        task = parse(Task,
            {
                "title": title,
                "description": description,
                "assign_to": assign_to,
                **({"notebook": notebook} if notebook is not None else {}),
                **({"parameters": parameters} if parameters is not None else {}),
                "depends_on": list(depends_on),
                "expectations": list(expectations),
                "expected_outcomes": list(expected_outcomes),
                "max_retries": max_retries,
                "priority": priority,
                "side_effects": side_effects,
                "max_duration": max_duration,
                "retry_policy": retry_policy,
            },
            prefix=("tasks", len(self.tasks)),
        )
        share_given_fields((task,))
        self._extend("tasks", task)
        return self

    def gate(
        self,
        after: Sequence[str],
        blocks: Sequence[str],
        *,
        min_score: float | None = None,
        require_all_passed: bool = False,
        name: str | None = None,
    ) -> Mission:
        gate = parse(QualityGate,
            {"name": name, "after_tasks": list(after), "blocks_tasks": list(blocks), "min_score": min_score,
             "require_all_passed": require_all_passed},
            prefix=("qualityGates", len(self.quality_gates)),
        )
        self._extend("quality_gates", gate)
        return self

    def checkpoint(self, name: str, after: Sequence[str], message: str = "") -> Mission:
        checkpoint = parse(Checkpoint,
            {"name": name, "after_tasks": list(after), "message": message},
            prefix=("checkpoints", len(self.checkpoints)),
        )
        self._extend("checkpoints", checkpoint)
        return self

    def delay(self, name: str, after: Sequence[str], blocks: Sequence[str], duration: str) -> Mission:
        """Hold `blocks` back for `duration` (ISO 8601, e.g. "PT2H") once `after` are done."""
        delay = parse(Delay, {"name": name, "after_tasks": list(after), "blocks_tasks": list(blocks),
                                   "duration": duration}, prefix=("delays", len(self.delays)))
        self._extend("delays", delay)
        return self

    def agent(self, agent: Agent) -> Mission:
        """Add an agent to the mission's team (creating a default team if there is none)."""
        team = self.team or Team(name=f"{self.name}-team")
        candidate = team.model_copy(update={"agents": [*team.agents, agent]})
        self.team = parse(Team, candidate.model_dump(), prefix=("team",))
        return self

    def _extend(self, field: str, item: Any) -> None:
        """Append a piece validated on its own; references are left to `validate()`. A task's title
        is checked at once, since no later addition can make a duplicate right."""
        items = getattr(self, field)
        if field == "tasks" and any(t.title == item.title for t in items):
            raise SpecError([{"loc": ["tasks", len(items), "title"], "msg": f"duplicate task title {item.title!r}"}])
        items.append(item)

    # -- files -----------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Mission:
        """A mission file (YAML or JSON, the API's schema); invalid: SpecError naming each field."""
        data, _source = read_mission_file(path)
        return parse(Mission, data)

    def dump(self, path: str | os.PathLike[str]) -> None:
        """Write the mission as YAML (`.yaml`/`.yml`) or JSON, after `validate()`: a file written here
        always loads."""
        self.validate()
        write_mission_file(path, self.to_wire())

    #: How a notebook draws a mission: plugged in by `polpo_nb` (the notebook face sits above the spec).
    _renderer: ClassVar[Callable[[Mission, Any, Any], dict[str, Any]] | None] = None

    @classmethod
    def plug_renderer(cls, renderer: Callable[[Mission, Any, Any], dict[str, Any]]) -> None:
        cls._renderer = renderer

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        renderer = type(self)._renderer
        if renderer is None:  # the spec used without polpo_nb's faces
            return {"text/plain": repr(self)}
        return renderer(self, include, exclude)

    def _repr_html_(self) -> str:
        html: str = self._repr_mimebundle_(include=["text/html"])["text/html"]
        return html


class MissionRecord(Mission):
    """A mission as stored and served: its definition, its tasks as records, and its run state."""

    user_built: ClassVar[bool] = False

    id: str
    tasks: list[TaskRecord] = Field(default_factory=list)  # type: ignore[assignment]
    status: MissionStatus = MissionStatus.DRAFT
    execution_count: int = 0
    task_count: int = 0
    pause_reason: str | None = None
    pause_message: str | None = None
    error: str | None = None
    next_run_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @model_validator(mode="after")
    def _check_graph(self) -> MissionRecord:
        """Records are checked when written; a summary record (list views) carries no tasks."""
        if self.tasks:
            self.task_count = len(self.tasks)
        return self

    @property
    def spec(self) -> Mission:
        """The mission as stored (`STORED`: read as it was saved, not checked again as new input)."""
        return Mission.model_validate(
            {**self.model_dump(include=set(Mission.model_fields)), "tasks": [t.spec for t in self.tasks]},
            context=STORED)

    def spec_fields(self) -> dict[str, Any]:
        """The wire form of `spec` but its tasks: a whole new task list replaces them (a mission saved
        again), so their specs, a dump and a validation per task, are not built to be dropped."""
        return self.model_dump(include=set(Mission.model_fields) - {"tasks"}, by_alias=True, exclude_none=True)


def mission_problems(mission: Mission, *, stored: bool = False) -> list[tuple[str, str]]:
    """Every structural problem as `(path, message)`: duplicate titles, unknown or cyclic dependencies,
    gates and checkpoints naming tasks that do not exist, and agents missing from a declared team. Two
    checks came later, which a `stored` mission (read as it was saved) skips: cycles through gates and
    delays, and checkpoints or delays sharing a name (a run knows them by name: passing one passed both)."""
    problems: list[tuple[str, str]] = []
    titles: dict[str, int] = {}
    for i, task in enumerate(mission.tasks):
        if task.title in titles:
            problems.append((f"tasks.{i}.title", f"duplicate task title {task.title!r}"))
        titles.setdefault(task.title, i)
    for i, task in enumerate(mission.tasks):
        for j, dep in enumerate(task.depends_on):
            if dep not in titles:
                problems.append((f"tasks.{i}.dependsOn.{j}", f"unknown task {dep!r}"))
    # a list whose tasks depend on earlier ones only is in topological order, so it holds no cycle: the
    # common case costs one pass of lookups instead of the search
    if not problems and not all(titles[d] < i for i, task in enumerate(mission.tasks) for d in task.depends_on):
        cycle = find_cycle({t.title: t.depends_on for t in mission.tasks})
        if cycle:
            problems.append(("tasks", "dependency cycle: " + " -> ".join(cycle)))
    holds: tuple[tuple[str, Sequence[QualityGate | Checkpoint | Delay]], ...] = (
        ("qualityGates", mission.quality_gates), ("checkpoints", mission.checkpoints), ("delays", mission.delays))
    for field, items in holds:
        for i, item in enumerate(items):
            for key, names in (("afterTasks", item.after_tasks), ("blocksTasks", getattr(item, "blocks_tasks", []))):
                for j, name in enumerate(names):
                    if name not in titles:
                        problems.append((f"{field}.{i}.{key}.{j}", f"unknown task {name!r}"))
    if not stored:
        problems.extend(_twin_names(mission))
        if not problems:
            problems.extend(_hold_cycles(mission))
    if mission.team is not None and mission.team.agents:
        names = {a.name for a in mission.team.agents}
        for i, task in enumerate(mission.tasks):
            if task.notebook is None and task.assign_to not in names:  # a notebook task's assignTo is a label
                problems.append((f"tasks.{i}.assignTo", f"unknown agent {task.assign_to!r} (team: {sorted(names)})"))
            fallback = task.retry_policy and task.retry_policy.fallback_agent
            if fallback and fallback not in names:
                problems.append((f"tasks.{i}.retryPolicy.fallbackAgent", f"unknown agent {fallback!r}"))
    return problems


def _twin_names(mission: Mission) -> list[tuple[str, str]]:
    problems = []
    named: tuple[tuple[str, str, Sequence[Checkpoint | Delay]], ...] = (
        ("checkpoints", "checkpoint", mission.checkpoints), ("delays", "delay", mission.delays))
    for field, what, items in named:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.name in seen:
                problems.append((f"{field}.{i}.name", f"duplicate {what} name {item.name!r}"))
            seen.add(item.name)
    return problems


def _hold_cycles(mission: Mission) -> list[tuple[str, str]]:
    """A gate or delay whose blocked tasks must be done before it opens (one of its afterTasks, or a task
    they depend on; or another hold waiting on them): its tasks would wait for ever. Its blocked tasks
    depend on its afterTasks, as far as running goes: the cycle is reported at the first hold it crosses."""
    edges: dict[tuple[str, str], str] = {}  # (held task, task it then waits for) -> the hold's path
    holds: tuple[tuple[str, Sequence[QualityGate | Delay]], ...] = (
        ("qualityGates", mission.quality_gates), ("delays", mission.delays))
    for field, items in holds:
        for i, item in enumerate(items):
            for j, held in enumerate(item.blocks_tasks):
                for after in item.after_tasks:
                    edges.setdefault((held, after), f"{field}.{i}.blocksTasks.{j}")
    if not edges:
        return []
    deps: dict[str, list[str]] = {t.title: list(t.depends_on) for t in mission.tasks}
    for held, after in edges:
        deps[held].append(after)
    cycle = find_cycle(deps)
    if cycle is None:
        return []
    path = next(edges[step] for step in pairwise(cycle) if step in edges)
    return [(path, "dependency cycle through quality gates or delays: " + " -> ".join(cycle))]


def _split_path(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]
