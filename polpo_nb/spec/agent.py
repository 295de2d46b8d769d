"""Agents and teams (seed 001, seed 004 `team`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from ._base import WireModel
from .budget import Budget
from .mcp import McpServers

AGENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Agent(WireModel):
    """An agent: an LLM (`model`) or a Python callable (`handler` or `@project.agent`).

    A function registered under an agent's name plays that agent even when the agent also names a
    model, so seed missions written for LLM agents run offline with function stand-ins.
    """

    id: str | None = Field(default=None, description="Read-only; assigned by the store.")
    name: str = Field(pattern=AGENT_NAME_PATTERN)
    role: str = ""
    model: str | None = None
    system_prompt: str | None = None
    allowed_tools: list[str] | None = None
    allowed_paths: list[str] | None = None
    max_turns: int | None = Field(default=None, ge=1)
    reports_to: str | None = None
    volatile: bool = False
    handler: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description="`package.module:function`, a function agent addressable from JSON/YAML/HTTP.",
    )
    mcp_servers: McpServers | None = Field(
        default=None, description="MCP servers whose tools this LLM agent gets beside the built-in ones, by name: "
        "`{\"command\", \"args\", \"env\"}` (stdio), `{\"type\": \"http\"|\"sse\", \"url\", \"headers\"}`; "
        "they add to (and by name override) the project's `mcpServers`.")
    budget: Budget | None = Field(default=None, description="What each attempt of this agent may spend; an "
                                  "attempt over it fails (the task's retry policy applies).")


class Team(WireModel):
    name: str = Field(default="default", min_length=1)
    volatile: bool = Field(default=False, description="Agents exist only while the mission runs.")
    agents: list[Agent] = Field(default_factory=list)

    @field_validator("agents")
    @classmethod
    def _unique_names(cls, agents: list[Agent]) -> list[Agent]:
        seen: set[str] = set()
        for i, agent in enumerate(agents):
            if agent.name in seen:
                raise ValueError(f"agents[{i}].name: duplicate agent name {agent.name!r}")
            seen.add(agent.name)
        return agents

    def agent(self, name: str) -> Agent | None:
        return next((a for a in self.agents if a.name == name), None)
