"""Scripted orchestrator models for the chat tests: `llm_script.Script` that also streams (each text part
word by word, each tool call as one delta), so a streamed turn runs the same script as a plain one."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from llm_script import Script, Step, call, say, tool_returns
from pydantic_ai.messages import ModelMessage, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

__all__ = ["StreamScript", "call", "last_tool_return", "say"]


class StreamScript(Script):
    def __init__(self, *steps: Step, name: str = "scripted") -> None:
        super().__init__(*steps, name=name)
        self.streamed = 0
        self.settings: list[Any] = []  # the model settings of each request (temperature, max_tokens)
        self.model = FunctionModel(self._answer, stream_function=self._stream, model_name=name)

    def _answer(self, messages: list[ModelMessage], info: AgentInfo) -> Any:
        self.settings.append(info.model_settings)
        return super()._answer(messages, info)

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        self.streamed += 1
        response = self._answer(messages, info)
        for index, part in enumerate(response.parts):
            if isinstance(part, TextPart):
                for word in re.findall(r"\s*\S+\s*", part.content):
                    yield word
            elif isinstance(part, ToolCallPart):
                args = part.args if isinstance(part.args, str) else json.dumps(part.args)
                yield {index: DeltaToolCall(name=part.tool_name, json_args=args, tool_call_id=part.tool_call_id)}


def last_tool_return(messages: list[ModelMessage]) -> Any:
    """The JSON the last tool answered, as the model read it."""
    content = tool_returns(messages)[-1].content
    return json.loads(content) if isinstance(content, str) else content
