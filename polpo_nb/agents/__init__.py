"""Agent runtimes: Python function agents (here) and LLM agents."""

from .context import AgentContext
from .function import AgentUnavailableError, FunctionAgent, load_handler, to_task_result
from .steps import StepError, StepInterrupted

__all__ = ["AgentContext", "AgentUnavailableError", "FunctionAgent", "StepError", "StepInterrupted", "load_handler",
           "to_task_result"]
