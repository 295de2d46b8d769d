"""Where task bodies run: in-process (default) or on a Dask cluster (`executor: "dask"`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecError
from .inprocess import Executor, InProcessExecutor

if TYPE_CHECKING:
    from ..spec import ProjectConfig

__all__ = ["Executor", "InProcessExecutor", "build_executor"]


def build_executor(config: ProjectConfig) -> Executor:
    """The executor the project config asks for; `distributed` is imported only for `executor: dask`."""
    if config.executor == "dask":
        if not config.dask_scheduler:
            raise SpecError([{"loc": ["daskScheduler"], "msg": "executor 'dask' needs the scheduler's address in "
                              "daskScheduler (e.g. 'tcp://10.0.0.5:8786')"}])
        from .dask import DaskExecutor

        return DaskExecutor(address=config.dask_scheduler)
    return InProcessExecutor(config.max_concurrency)
