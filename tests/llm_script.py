"""Scripted pydantic-ai models for the LLM tests: FunctionModels that answer from a list of steps and
record what they were asked, so a test can assert on the prompts, tools and models really used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

Step = ModelResponse | Callable[[list[ModelMessage], AgentInfo], ModelResponse]


def say(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(text)])


def call(tool: str, **args: Any) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(tool, args)])


def verdict(score: float, feedback: str = "") -> Step:
    """A judge's structured answer, through whatever output tool the judge agent offers."""
    return lambda messages, info: ModelResponse(parts=[ToolCallPart(info.output_tools[0].name,
                                                                    {"score": score, "feedback": feedback})])


def user_prompts(messages: list[ModelMessage]) -> list[str]:
    return [p.content for m in messages if isinstance(m, ModelRequest) for p in m.parts
            if isinstance(p, UserPromptPart) and isinstance(p.content, str)]


def tool_returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]


class Script:
    """A FunctionModel answering `steps` in order (the last one repeats). `calls` records, per model
    request, the messages, the tool names offered and the instructions."""

    def __init__(self, *steps: Step, name: str = "scripted") -> None:
        assert steps
        self.steps = list(steps)
        self.calls: list[dict[str, Any]] = []
        self.model = FunctionModel(self._answer, model_name=name)

    def _answer(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.calls.append({"messages": list(messages), "tools": [t.name for t in info.function_tools],
                           "instructions": info.instructions, "output_tools": [t.name for t in info.output_tools]})
        step = self.steps[min(len(self.calls) - 1, len(self.steps) - 1)]
        return step if isinstance(step, ModelResponse) else step(messages, info)

    def last_prompt(self, index: int = -1) -> str:
        return user_prompts(self.calls[index]["messages"])[-1]
