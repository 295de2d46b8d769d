"""What the engine needs from its project, passed in so the engine knows nothing of `Project`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..agents.function import FunctionAgent
from ..assess import Judge
from ..executors import Executor
from ..spec import Agent, ProjectConfig, TaskRecord
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
    resolve_agent: Callable[[str, Run], tuple[Agent, FunctionAgent]]
    judge: Callable[[TaskRecord], Judge | None]
    memory: Callable[[], str]
