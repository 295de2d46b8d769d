"""Where task bodies run: in-process (default)."""

from .inprocess import Executor, InProcessExecutor

__all__ = ["Executor", "InProcessExecutor"]
