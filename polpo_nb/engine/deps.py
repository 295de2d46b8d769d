"""What the engine needs from its project, passed in so the engine knows nothing of `Project`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..agents.function import FunctionAgent
from ..assess import Judge
from ..executors import Executor
from ..spec import Agent, ProjectConfig, Task, TaskRecord
from ..store.journal import Journal
from ..store.sqlite import Store
from .run import Run


@dataclass
class EngineDeps:
    store: Store
    journal: Journal
    project_dir: Path
    config: ProjectConfig
    owner: str
    executor: Executor
    #: What plays a task (given the task: its notebook or its agent) or an agent (given a name).
    resolve_agent: Callable[[str | Task, Run], tuple[Agent, FunctionAgent]]
    judge: Callable[[TaskRecord], Judge | None]
    #: raises when the judge the tasks' criteria need cannot run here (Judging.check)
    check_judge: Callable[[Sequence[Task]], None]
    memory: Callable[[], str]
