"""LLM agents: a pydantic-ai tool loop behind the same `(task, ctx) -> TaskResult` call as a function agent.

The engine knows nothing of models: `AsyncProject` wraps one `LLMRuntime` in a `FunctionAgent` for each
LLM agent, and the runtime runs on `ctx.model`, the model the engine chose for this attempt (so
`retryPolicy.escalateModel` really changes the model called). Each model turn's text is streamed as
`task:output`, each tool call is a `task:tool_use` event, and the whole session (instructions, prompt,
answers, tool calls) is the attempt's transcript in the logs store (`GET logs/<taskId>-<attempt>`).
The agent's MCP servers (`agents/mcp.py`) run for the attempt: their tools sit beside the built-in ones.

In the fix phase the agent continues its own conversation when this process still holds it (the model
then sees what it did and the assessment's feedback); otherwise, after a restart or for another agent,
it gets the whole task again with the feedback appended.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_ai import Agent
from pydantic_ai.exceptions import AgentRunError, UsageLimitExceeded
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.usage import UsageLimits

from ..spec import ProjectConfig, TaskRecord, TaskResult
from ..spec.mcp import McpServer
from ..spec.results import Usage
from ..usage.meter import metered
from .context import AgentContext
from .durable_llm import DurableConversation
from .function import AgentUnavailableError
from .mcp import McpServerError, McpTools, agent_servers, check_references, mcp_tools
from .models import ModelRegistry
from .prompts import fix_prompt, instructions, task_prompt
from .tools import Workspace, build_tools, tool_names

__all__ = ["DEFAULT_MAX_TURNS", "LLMAgentError", "LLMRuntime"]

#: Model turns per attempt when the agent sets no `maxTurns`.
DEFAULT_MAX_TURNS = 50
#: Conversations kept for fix phases; older ones fall back to the self-contained fix prompt.
_KEPT_CONVERSATIONS = 64
_LOG_CHARS = 20_000


class LLMAgentError(RuntimeError):
    """The model run failed (provider error, turn budget spent, unusable answer): the attempt's error."""


class LLMRuntime:
    """One per project; callable as an async function agent."""

    def __init__(self, models: ModelRegistry, config: ProjectConfig, root: Path) -> None:
        self.models = models
        self.config = config
        self.root = Path(root)
        self._conversations: OrderedDict[tuple[str, str], list[ModelMessage]] = OrderedDict()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (for a remote executor's workers) as a fresh runtime: conversations stay here."""
        return LLMRuntime, (self.models, self.config, self.root)

    def check(self, agent_name: str, model: str | None, allowed_tools: list[str] | None,
              mcp_servers: dict[str, McpServer] | None = None) -> None:
        """Everything that can be known before a run starts: a model, its key, known tool names (an MCP
        server's tools are known once it runs: with servers, other names wait for the attempt), the
        variables its MCP servers reference."""
        if not model:
            raise AgentUnavailableError(f"agent {agent_name!r} has no model and the project sets no defaultModel")
        self.models.check(model)
        servers = agent_servers(self.config, mcp_servers)
        try:
            tool_names(allowed_tools, self.config.allowed_tools, None if servers else ())
        except ValueError as exc:
            raise AgentUnavailableError(f"agent {agent_name!r}: {exc}") from None
        try:
            check_references(servers)
        except McpServerError as exc:
            raise AgentUnavailableError(exc.message, **exc.details) from None

    async def __call__(self, task: TaskRecord, ctx: AgentContext) -> TaskResult:
        if not ctx.model:
            raise LLMAgentError(f"agent {ctx.agent.name!r} has no model and the project sets no defaultModel")
        model = metered(self.models.resolve(ctx.model), ctx.model)  # budgets checked where each call starts
        servers = agent_servers(self.config, ctx.agent.mcp_servers)
        ctx.log(f"[session] agent {ctx.agent.name} on model {ctx.model}, attempt {ctx.attempt} ({ctx.phase.value})")
        try:
            async with mcp_tools(ctx, servers, self.root, self.config.allowed_tools) as mcp:
                return await self._run(task, ctx, model, mcp)
        except McpServerError as exc:
            ctx.log(f"[error] {exc.message}", "error")
            raise LLMAgentError(exc.message) from None

    async def _run(self, task: TaskRecord, ctx: AgentContext, model: Any, mcp: McpTools) -> TaskResult:
        workspace = Workspace.for_agent(self.root, ctx, self.config, ctx.agent.allowed_paths)
        standing = instructions(ctx, mcp.builtin + mcp.names)
        durable = DurableConversation(ctx.steps, workspace)  # what a crash interrupted, when it did
        agent: Agent[Workspace, str] = Agent(  # (no instructions to send when only a stored answer is left)
            model, instructions=None if durable.answered else standing,
            toolsets=durable.toolsets(build_tools(mcp.builtin), mcp.toolsets),
            deps_type=Workspace, name=ctx.agent.name, defer_model_check=True,
        )
        key = (task.id, ctx.agent.name)
        history = self._conversations.get(key) if ctx.feedback else None
        prompt: str | None = fix_prompt(ctx) if history else task_prompt(ctx)
        turns = ctx.agent.max_turns or DEFAULT_MAX_TURNS

        if durable.resumed:  # the same attempt goes on after its last stored step
            history, prompt = durable.history, None
            durable.count_stored(ctx.model or "")
            ctx.log(f"[session] resumed after a crash: {len(history)} stored messages, no completed model call "
                    "or tool call is repeated")
        else:
            if history:
                ctx.log("[session] continuing its conversation")
            ctx.log(f"[instructions] {standing}")
            ctx.log(f"[user] {_cut(prompt or '')}")
        try:
            async with agent.iter(prompt, deps=workspace, message_history=history, usage=durable.usage(),
                                  usage_limits=UsageLimits(request_limit=turns)) as run:
                async for node in run:
                    if Agent.is_call_tools_node(node) and await durable.responded(run.all_messages()):
                        self._answered(ctx, node.model_response)
            result = run.result
            assert result is not None
        except UsageLimitExceeded as exc:
            ctx.log(f"[error] {exc}", "error")
            raise LLMAgentError(f"agent {ctx.agent.name!r} did not finish within {turns} model turns "
                                f"(maxTurns): {exc}") from None
        except AgentRunError as exc:
            ctx.log(f"[error] {type(exc).__name__}: {exc}", "error")
            raise LLMAgentError(f"model {ctx.model!r} failed: {type(exc).__name__}: {exc}") from None
        except (IndexError, ValidationError) as exc:  # a 200 pydantic-ai cannot read: no choice, no message
            ctx.log(f"[error] {type(exc).__name__}: {exc}", "error")
            raise LLMAgentError(f"model {ctx.model!r} answered no usable chat completion "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
        self._remember(key, result.all_messages())

        usage = run.usage
        cost = usage.cost
        ctx.log(f"[usage] {usage.requests} requests, {usage.input_tokens} input tokens, {usage.output_tokens} output "
                f"tokens, {usage.tool_calls} tool calls" + (f", ${float(cost):.6f}" if cost is not None else ""))
        data: dict[str, Any] = {"toolCalls": workspace.calls, "requests": usage.requests}
        if workspace.outcomes:
            data["outcomes"] = workspace.outcomes
        return TaskResult(
            content=result.output if isinstance(result.output, str) else json.dumps(result.output, default=str),
            files_created=list(workspace.files), data=data, model=ctx.model, agent=ctx.agent.name,
            usage=_usage(usage),
        )

    def _answered(self, ctx: AgentContext, response: ModelResponse) -> None:
        text = "".join(p.content for p in response.parts if isinstance(p, TextPart))
        if text.strip():
            ctx.output(text)
            ctx.log(f"[assistant] {_cut(text)}")

    def _remember(self, key: tuple[str, str], messages: list[ModelMessage]) -> None:
        self._conversations[key] = messages
        self._conversations.move_to_end(key)
        while len(self._conversations) > _KEPT_CONVERSATIONS:
            self._conversations.popitem(last=False)


def _cut(text: str) -> str:
    return text if len(text) <= _LOG_CHARS else text[:_LOG_CHARS] + f"...[{len(text)} chars]"


def _usage(usage: Any) -> Usage:
    """pydantic-ai's run usage as the attempt's (the engine replaces it with its meter's when the calls
    were metered in this process; this one travels back from a remote worker). A run it could not price
    is flagged unpriced, never counted as free."""
    cost = usage.cost
    priced = isinstance(cost, Decimal | float | int)
    return Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                 cached_tokens=usage.cache_read_tokens, requests=usage.requests, tool_calls=usage.tool_calls,
                 cost_usd=float(cost) if priced else None, unpriced_requests=0 if priced else usage.requests,
                 unpriced_tokens=0 if priced else usage.input_tokens + usage.output_tokens)
