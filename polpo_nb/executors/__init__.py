"""Where task bodies run: in-process (default) or on a Dask cluster (`executor: "dask"`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from .inprocess import Executor, InProcessExecutor

if TYPE_CHECKING:
    from ..spec import ProjectConfig

__all__ = ["Executor", "InProcessExecutor", "as_executor", "build_executor"]


def build_executor(config: ProjectConfig) -> Executor:
    """The executor the project config asks for; `distributed` is imported only for `executor: dask`."""
    if config.executor == "dask":
        if not config.dask_scheduler:
            raise SpecError([{"loc": ["daskScheduler"], "msg": "executor 'dask' needs the scheduler's address in "
                              "daskScheduler (e.g. 'tcp://10.0.0.5:8786')"}])
        from .dask import DaskExecutor

        return DaskExecutor(address=config.dask_scheduler, connect_timeout=config.dask_connect_timeout)
    return InProcessExecutor(config.max_concurrency)


def as_executor(executor: Any, config: ProjectConfig) -> Executor:
    """What `Project(path, executor=...)` accepts: None (the config decides), an Executor, or a
    `distributed.Client` (its cluster runs the task bodies; the client stays the caller's to close)."""
    if executor is None:
        return build_executor(config)
    distributed = sys.modules.get("distributed")  # a Client exists only if distributed was imported
    if distributed is not None and isinstance(executor, distributed.Client):
        from .dask import DaskExecutor

        return DaskExecutor(executor)
    if not callable(getattr(executor, "run", None)) or not callable(getattr(executor, "close", None)):
        raise TypeError(f"executor must be an Executor (async run(agent, ctx), close()) or a distributed.Client, "
                        f"not {type(executor).__name__}")
    return executor
