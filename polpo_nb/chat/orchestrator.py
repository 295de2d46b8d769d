"""One chat turn: the orchestrator's tool loop (or an agent answering directly), stored as it happens.

`ChatService.prepare` does everything that can fail on the request itself — no orchestrator model, an
unknown agent or session, messages without a user message — *before* anything is stored or streamed,
so the HTTP layer can still answer 400/404. It then creates (or continues) the session and stores the
new messages. `ChatTurn.run` runs the loop: every model turn becomes an assistant message (with its
tool calls), every tool result a tool message, each stored and announced (`message:added`) at once.

The loop is bounded: at most `maxTurns` model requests (the project's `orchestratorMaxTurns`, an
agent's `maxTurns`, or the call's `max_turns`). Running out is not an error: the turn ends with
`finish_reason: "length"`, saying so, and everything done so far stays done and stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_ai import Agent, RunContext, Tool
from pydantic_ai.exceptions import UsageLimitExceeded
from pydantic_ai.messages import (
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ToolReturnPart,
)
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import UsageLimits

from .. import dryrun
from ..agents.context import AgentContext
from ..agents.function import AgentUnavailableError, to_task_result
from ..errors import NotFoundError, PolpoError, SpecError
from ..spec import Agent as AgentSpec
from ..spec import Phase, TaskRecord, utcnow
from ..usage.ledger import meter_rows
from ..usage.meter import Meter, metered, metering
from .history import assistant_message, to_history, tool_call_of
from .messages import ChatChunk, ChatMessage, ChatReply, ChatSession, ChatUsage, parse_messages, title_of
from .sessions import Sessions
from .stream import ChatStream, ChatTurnError
from .tools import TOOLS, ToolSpec, render, run_tool

if TYPE_CHECKING:
    from ..project.aproject import AsyncProject

__all__ = ["ChatService", "ChatTurn", "NoOrchestratorModel", "UnknownAgent"]

log = logging.getLogger(__name__)
Push = Callable[[ChatChunk], None]
NEW_SESSION = "new"
LATEST_SESSION = "last"


class NoOrchestratorModel(SpecError):
    """Chat without `agent` needs the project's `orchestratorModel`."""

    def __init__(self) -> None:
        super().__init__([{"loc": ["orchestratorModel"], "msg": (
            "no orchestrator model is configured: set `orchestratorModel` in .polpo/config.json or polpo.json "
            "(e.g. \"anthropic:claude-sonnet-4-5\", \"openai:gpt-4o\", \"ollama:qwen2.5\", or \"test\" to try it "
            "offline), or talk to an agent directly with `agent`")}])


class UnknownAgent(NotFoundError):
    """`agent` names no agent of the project."""


INSTRUCTIONS = """You are Polpo, the orchestrator of the project {project!r}: a team of AI agents and Python \
function agents that carry out missions (groups of tasks with dependencies, quality expectations, gates, \
checkpoints and approvals). You act on the project through your tools, which are its API; you never pretend \
an action happened without calling the tool that does it.

How to work:
- Look before you act: get_status, list_agents, list_missions. A task must be assigned to an existing agent \
(or to one in the mission's own `team`); add an agent first if none fits.
- To get work done, create a mission (create_mission) and start it (execute_mission). Runs go on in the \
background: use wait_for_mission to report how it ended, or say it is running.
- A tool that fails answers {{"ok": false, "error": ...}}: read the error, fix the call, or explain it.
- Never delete or abort anything the user did not ask you to.
- Answer briefly: what you did, with ids and names, and what happened.

Agents now: {agents}."""


@dataclass
class ChatTurn:
    """A prepared turn: the session exists and holds the new messages; `run` answers them."""

    service: ChatService
    session: ChatSession
    history: list[ChatMessage]
    prompt: str
    agent: str | None
    max_turns: int | None
    settings: ModelSettings | None
    model: str | None
    added: list[ChatMessage] = field(default_factory=list)
    #: the model that will answer (None for a function agent)
    answering_model: str | None = None

    @property
    def session_id(self) -> str:
        return self.session.id

    async def run(self, push: Push | None = None) -> ChatReply:
        """Answer; `push` receives the chunks as they happen (streaming). Raises ChatTurnError when the
        model or the agent fails (the messages stored so far stay)."""
        runner = self.service.runner_for(self)
        return await runner(self, push or _silent)

    def start_stream(self, keep: set[asyncio.Task[Any]]) -> ChatStream:
        """Run in the background on the current (engine) loop, the chunks into a ChatStream."""
        return start_stream(self, keep)


class ChatService:
    """One per project: chat turns and the sessions they live in."""

    def __init__(self, project: AsyncProject, sessions: Sessions) -> None:
        self.project = project
        self.sessions = sessions

    # -- preparing a turn -----------------------------------------------------------------------------

    async def prepare(self, messages: Any, *, session_id: str | None = None, agent: str | None = None,
                      max_turns: int | None = None, settings: ModelSettings | None = None,
                      model: str | None = None) -> ChatTurn:
        incoming = parse_messages(messages)
        if max_turns is not None and max_turns < 1:
            raise SpecError([{"loc": ["maxTurns"], "msg": "at least 1 model turn"}])
        spec, answering = self._check_answerer(agent, model)
        session: ChatSession | None = None
        stored: list[ChatMessage] = []
        if session_id == LATEST_SESSION:
            session = self.sessions.latest()
        elif session_id and session_id != NEW_SESSION:
            session = self.sessions.get(session_id)  # NotFoundError: an unknown session is a 404
        if session is not None:
            stored = self.sessions.messages(session.id)
            incoming = _new_part(incoming)
        if incoming[-1].role != "user" or not (incoming[-1].content or "").strip():
            raise SpecError([{"loc": ["messages", len(incoming) - 1],
                              "msg": "the last message must be the user's, with some text"}])
        if session is None:
            session = await self.sessions.create(title_of(incoming), spec.name if spec else None)
        added = await self.sessions.add(session.id, incoming)
        return ChatTurn(self, session, stored + added[:-1], incoming[-1].content or "", agent, max_turns, settings,
                        model, added=list(added), answering_model=answering)

    def _check_answerer(self, agent: str | None, model: str | None) -> tuple[AgentSpec | None, str | None]:
        """(the agent's spec or None for the orchestrator, the model that will answer), after checking
        that it can answer here. In a dry run (a test key's turn) the offline `test` model answers whatever
        is configured: no provider is called, so none needs its key, and the answer and its spend say `test`."""
        project = self.project
        if agent is None:
            model = model or project.config.orchestrator_model
            if not model:
                raise NoOrchestratorModel()
            if dryrun.active():
                return None, dryrun.TEST_MODEL
            project.models.check(model)  # an unknown provider or a missing key: 400 before anything is stored
            return None, model
        spec = project.agents.find(agent)
        if spec is None:
            known = sorted(project.agents.names())
            raise UnknownAgent(f"Agent not found: {agent}" + (f" (agents: {', '.join(known)})" if known else ""))
        if not project.agents.plays_function(spec):
            chosen = model or spec.model or project.config.default_model
            if not chosen:
                raise AgentUnavailableError(f"agent {agent!r} has neither a model nor a handler, and the project "
                                            "sets no defaultModel")
            if dryrun.active():
                return spec, dryrun.TEST_MODEL
            project.models.check(chosen)
            return spec, chosen
        return spec, None

    def runner_for(self, turn: ChatTurn) -> Callable[[ChatTurn, Push], Any]:
        if turn.agent is None:
            return self._orchestrate
        spec = self.project.agents.find(turn.agent)
        return self._function_agent if spec is not None and self.project.agents.plays_function(spec) else self._llm_agent

    # -- the orchestrator --------------------------------------------------------------------------------

    async def _orchestrate(self, turn: ChatTurn, push: Push) -> ChatReply:
        project = self.project
        model_name = turn.answering_model
        assert model_name is not None
        outcomes: dict[str, bool] = {}
        stored = await project.list_agents()
        names = [a.name + (f" ({a.role})" if a.role else "") for a in stored]
        names += [n for n in sorted(project.agents.functions) if n not in {a.name for a in stored}]
        instructions = INSTRUCTIONS.format(project=project.id, agents=", ".join(names) or "none")
        agent: Agent[None, str] = Agent(metered(project.models.resolve(model_name), model_name), instructions=instructions,
                                        tools=[_api_tool(project, spec, outcomes) for spec in TOOLS],
                                        name="polpo", defer_model_check=True)
        limit = turn.max_turns or project.config.orchestrator_max_turns
        return await self._counted(turn, self._loop(turn, push, agent, None, model_name, limit, outcomes))

    # -- an LLM agent, directly ---------------------------------------------------------------------------

    async def _llm_agent(self, turn: ChatTurn, push: Push) -> ChatReply:
        from ..agents.mcp import McpServerError, agent_servers, mcp_tools
        from ..agents.prompts import instructions
        from ..agents.tools import Workspace, build_tools

        project = self.project
        spec = project.agents.stored(turn.agent or "")
        assert spec is not None
        model_name = turn.answering_model
        assert model_name is not None
        ctx = _context(project, spec, model_name, turn)
        try:  # the agent's MCP servers run for the turn, as they do for an attempt
            async with mcp_tools(ctx, agent_servers(project.config, spec.mcp_servers), project.root,
                                 project.config.allowed_tools) as mcp:
                standing = (instructions(ctx, mcp.builtin + mcp.names)
                            + "\n\nYou are in a conversation with the user, not on a task: answer them.")
                agent: Agent[Workspace, str] = Agent(metered(project.models.resolve(model_name), model_name),
                                                     instructions=standing,
                                                     tools=build_tools(mcp.builtin), toolsets=mcp.toolsets,
                                                     deps_type=Workspace, name=spec.name, defer_model_check=True)
                deps = Workspace.for_agent(project.root, ctx, project.config, spec.allowed_paths)
                limit = turn.max_turns or spec.max_turns or project.config.orchestrator_max_turns
                return await self._counted(turn, self._loop(turn, push, agent, deps, model_name, limit, None))
        except McpServerError as exc:
            raise ChatTurnError(exc.message) from None

    async def _counted(self, turn: ChatTurn, answer: Awaitable[ChatReply]) -> ChatReply:
        """The turn's model calls metered, their spend stored once it ends (failed turns spent too): the
        orchestrator's as `chat`'s, a direct conversation's as its agent's."""
        meter = Meter(self.project.config.prices)
        try:
            with metering(meter):
                return await answer
        finally:
            if meter.by_model:
                await self.sessions.record_spend(meter_rows("chat", meter, agent=turn.agent, session_id=turn.session_id))

    async def _loop(self, turn: ChatTurn, push: Push, agent: Agent[Any, str], deps: Any, model_name: str, limit: int,
                    outcomes: dict[str, bool] | None) -> ChatReply:
        stream = push is not _silent and _wants_tokens(agent)
        added: list[ChatMessage] = []
        calls: dict[str, str] = {}
        finish = "stop"
        text = ""
        spoken = False  # some text was pushed already
        usage = ChatUsage()
        who = turn.agent

        async def store(*messages: ChatMessage) -> None:
            try:
                added.extend(await self.sessions.add(turn.session_id, list(messages)))
            except PolpoError:
                raise
            except Exception as exc:  # a bug of ours, in the model's loop: not to be taken for the model's failure
                raise _NotTheModels("the turn's messages could not be stored") from exc

        try:
            async with agent.iter(turn.prompt, deps=deps, message_history=to_history(turn.history),
                                  usage_limits=UsageLimits(request_limit=limit), model_settings=turn.settings) as run:
                async for node in run:
                    if Agent.is_model_request_node(node) and stream:
                        first = True
                        async with node.stream(run.ctx) as events:
                            async for event in events:
                                delta = _text_delta(event)
                                if delta:
                                    # each model turn's text is a paragraph of the streamed answer
                                    push(ChatChunk(kind="text", text=("\n\n" if first and spoken else "") + delta))
                                    first, spoken = False, True
                    elif Agent.is_call_tools_node(node):
                        response: ModelResponse = node.model_response
                        said = "".join(p.content for p in response.parts if isinstance(p, TextPart))
                        if said and not stream:
                            push(ChatChunk(kind="text", text=("\n\n" if spoken else "") + said))
                            spoken = True
                        if said:
                            text = said
                        await store(assistant_message(response, who))
                        async with node.stream(run.ctx) as tool_events:
                            async for event in tool_events:
                                if isinstance(event, FunctionToolCallEvent):
                                    call = tool_call_of(event.part)
                                    calls[call.id] = call.name
                                    push(ChatChunk(kind="tool_call", tool_call=call))
                                elif isinstance(event, FunctionToolResultEvent):
                                    part = event.part  # a ToolReturnPart, or a RetryPromptPart for bad JSON
                                    content = part.content if isinstance(part.content, str) else render(part.content)
                                    call_id = part.tool_call_id
                                    ok = isinstance(part, ToolReturnPart) and (
                                        outcomes.pop(call_id, True) if outcomes is not None else not _failed(content))
                                    message = ChatMessage(role="tool", content=content, tool_call_id=call_id,
                                                          name=calls.get(call_id, part.tool_name),
                                                          is_error=None if ok else True)
                                    await store(message)
                                    push(ChatChunk(kind="tool_result", text=content,
                                                   tool_call=_call_stub(call_id, message.name), is_error=message.is_error))
            assert run.result is not None
            text = run.result.output if isinstance(run.result.output, str) else json.dumps(run.result.output)
            usage = _usage(run.usage)
        except UsageLimitExceeded:
            finish = "length"
            note = (f"I stopped after {limit} model turns (the limit of one message) before finishing. What I did "
                    "so far is above; say \"continue\" to go on.")
            push(ChatChunk(kind="text", text=("\n\n" if spoken else "") + note))
            text = (text + "\n\n" + note) if text else note
            await store(ChatMessage(role="assistant", content=note, name=who))
            usage = _usage(run.usage)
        except (asyncio.CancelledError, PolpoError, _NotTheModels):
            raise  # cancelled, or the store failed: not the model's fault
        except Exception as exc:  # noqa: BLE001 - the provider failed: say so, never a traceback
            raise ChatTurnError(f"model {model_name!r} failed: {type(exc).__name__}: {_first_line(exc)}") from None
        return ChatReply(session_id=turn.session_id, content=text, finish_reason=finish, model=model_name, agent=who,
                         usage=usage, messages=[*turn.added, *added])

    # -- a function agent, directly ------------------------------------------------------------------------

    async def _function_agent(self, turn: ChatTurn, push: Push) -> ChatReply:
        project = self.project
        name = turn.agent or ""
        spec = project.agents.stored(name) or AgentSpec(name=name)
        runtime = project.agents.function_runtime(spec)
        assert runtime is not None
        ctx = _context(project, spec, None, turn, output=lambda text: push(ChatChunk(kind="output", text=text)))
        try:
            if runtime.is_async:
                value = await runtime.fn(ctx.task, ctx)
            else:
                value = await asyncio.to_thread(runtime.fn, ctx.task, ctx)
        except Exception as exc:  # noqa: BLE001
            raise ChatTurnError(f"agent {name!r} failed: {type(exc).__name__}: {exc}") from None
        result = to_task_result(value)
        content = result.content or (result.error or "")
        push(ChatChunk(kind="text", text=content))
        stored = await self.sessions.add(turn.session_id, [ChatMessage(role="assistant", content=content, name=name)])
        return ChatReply(session_id=turn.session_id, content=content, model=spec.model, agent=name,
                         messages=[*turn.added, *stored])


class _NotTheModels(Exception):
    """A failure of ours inside the model's loop (storing a message): `start_stream` logs its traceback
    and ends the turn as INTERNAL, where the loop would have reported it as the model's (UPSTREAM)."""


def _silent(chunk: ChatChunk) -> None:
    return None


def _new_part(incoming: list[ChatMessage]) -> list[ChatMessage]:
    """Continuing a stored session, only what follows the client's last assistant message is new: OpenAI
    clients resend the whole conversation, others send the new message alone; both work."""
    last = max((i for i, m in enumerate(incoming) if m.role == "assistant"), default=-1)
    return incoming[last + 1:] or incoming[-1:]


def _api_tool(project: AsyncProject, spec: ToolSpec, outcomes: dict[str, bool]) -> Tool[Any]:
    async def call(ctx: RunContext[Any], **arguments: Any) -> str:
        value, ok = await run_tool(project, spec, arguments)
        if ctx.tool_call_id:
            outcomes[ctx.tool_call_id] = ok
        return render(value)

    return Tool.from_schema(call, name=spec.name, description=spec.description, json_schema=spec.schema,
                            takes_ctx=True)


def _context(project: AsyncProject, spec: AgentSpec, model: str | None, turn: ChatTurn,
             output: Callable[[str], None] | None = None) -> AgentContext:
    """What an agent sees when it is talked to: a task made of the conversation (title: the session's,
    description: the user's message), so function agents written for tasks answer chats unchanged."""
    now = utcnow()
    transcript = "\n".join(f"{m.role}: {m.content}" for m in turn.history if m.role in ("user", "assistant") and m.content)
    description = turn.prompt if not transcript else f"{transcript}\nuser: {turn.prompt}"
    task = TaskRecord(id=f"{turn.session_id}-chat", title=turn.session.title[:200] or "chat", description=description,
                      assign_to=spec.name, created_at=now, updated_at=now)
    return AgentContext(task=task, agent=spec, model=model, attempt=1, phase=Phase.EXECUTION,
                        project_dir=project.root, _memory=project.memory_file.read,
                        _output=output or (lambda text: None))


def _wants_tokens(agent: Agent[Any, str]) -> bool:
    """Stream tokens unless the model cannot (a FunctionModel scripted without a stream function):
    such a model still streams, one whole model turn at a time."""
    from pydantic_ai.models.function import FunctionModel

    model = agent.model
    return not (isinstance(model, FunctionModel) and model.stream_function is None)


def _text_delta(event: Any) -> str:
    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
        return event.part.content
    if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
        return event.delta.content_delta
    return ""


def _failed(content: str) -> bool:
    return content.startswith(("error:", "refused:"))


def _call_stub(call_id: str, name: str | None) -> Any:
    from .messages import ToolCall

    return ToolCall(id=call_id, name=name or "")


def _usage(usage: Any) -> ChatUsage:
    return ChatUsage(requests=usage.requests, input_tokens=usage.input_tokens or 0,
                     output_tokens=usage.output_tokens or 0, tool_calls=getattr(usage, "tool_calls", 0) or 0)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).split("\n")[0][:500]


def start_stream(turn: ChatTurn, keep: set[asyncio.Task[Any]]) -> ChatStream:
    """Run `turn` in the background on the current (engine) loop, its chunks into a ChatStream."""
    stream = ChatStream(turn.session_id, model=turn.answering_model, agent=turn.agent)

    async def main() -> None:
        try:
            reply = await turn.run(stream.push)
        except ChatTurnError as exc:
            stream.push(ChatChunk(kind="error", error=exc.message, code=exc.code))
        except asyncio.CancelledError:
            stream.push(ChatChunk(kind="error", error="the chat turn was cancelled", code="CANCELLED"))
            raise
        except PolpoError as exc:  # (a full disk refused to store its answer): what a client may read, the rest logged
            log.error("polpo: chat turn of session %s failed: %s", turn.session_id, exc.message)
            stream.push(ChatChunk(kind="error", error=exc.public_message, code=exc.code))
        except Exception:  # a reader must always see the end; the traceback is for the operator
            log.exception("polpo: chat turn of session %s failed", turn.session_id)
            stream.push(ChatChunk(kind="error", error="the chat turn failed on an internal error (the log says which)",
                                  code="INTERNAL"))
        else:
            stream.push(ChatChunk(kind="done", reply=reply))

    def ended(task: asyncio.Task[None]) -> None:
        keep.discard(task)
        # a turn cancelled before it started never ran main(): its readers must still see the end
        stream.push(ChatChunk(kind="error", error="the chat turn was cancelled", code="CANCELLED"))

    stream.task = asyncio.get_running_loop().create_task(main())
    keep.add(stream.task)
    stream.task.add_done_callback(ended)
    return stream
