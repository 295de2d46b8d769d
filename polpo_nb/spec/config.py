"""The project's orchestrator config: `.polpo/config.json` or `polpo.json` at the project root."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from ._base import WireModel
from .keys import RateLimits
from .mcp import McpServers


class ProviderConfig(WireModel):
    """An OpenAI-compatible endpoint (Ollama, vLLM, ...): `model: "<name>:<model>"` then uses it."""

    base_url: str
    api_key_env: str | None = Field(default=None, description="Name of the env var holding the key; never the key.")


class ModelPrice(WireModel):
    """A model's price in USD per million tokens, for models genai-prices does not know (a local or custom
    endpoint) or to override it. `cachedInputPerMtok` prices the input tokens read from a prompt cache
    (default: `inputPerMtok`)."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)


class ProjectConfig(WireModel):
    project: str | None = Field(default=None, description="Project id; defaults to the directory name.")
    default_model: str | None = None
    judge_model: str | None = None
    judge_reviewers: int = Field(default=1, ge=1, le=15, description="LLM judge calls per criterion; their median "
                                 "counts, outliers (> 1.5 from it) dropped from 3 on.")
    orchestrator_model: str | None = Field(default=None, description="The chat orchestrator's model "
                                           "(`POST v1/chat/completions`, `project.chat`); chat needs one.")
    orchestrator_max_turns: int = Field(default=20, ge=1, le=500, description="Model turns the chat "
                                        "orchestrator may take per message before it stops (finish_reason "
                                        "`length`).")
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    executor: Literal["inprocess", "dask"] = Field(default="inprocess", description="Where task bodies run.")
    dask_scheduler: str | None = Field(default=None, description="Scheduler address for executor 'dask', "
                                       "e.g. 'tcp://10.0.0.5:8786'.")
    dask_connect_timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds to wait for the Dask "
                                        "scheduler before the attempt fails.")
    quality_threshold: float = Field(default=3.0, ge=1, le=5, description="For standalone tasks.")
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="Per-model prices by model string as agents name it (`local:qwen2.5`), "
        "over genai-prices' data; a call neither prices is flagged unpriced, never counted as free.")
    allowed_tools: list[str] | None = None
    mcp_servers: McpServers = Field(default_factory=dict, description="MCP servers every LLM agent gets, by name "
                                    "(an agent's own `mcpServers` add to them and win on a name).")
    mcp_commands: list[str] = Field(
        default_factory=list, description="Commands the stdio MCP servers of an agent given as data (HTTP, chat, "
        "a mission file, a mission's team) may run, as written (`npx`, `uvx`); none by default.")
    command_timeout: float = Field(default=300.0, gt=0, description="Seconds for expectation commands.")
    event_retention: int = Field(default=100_000, ge=1000, description="Events kept in state.db.")
    synchronous: str = Field(default="FULL", pattern="^(FULL|NORMAL)$", description="SQLite durability.")
    change_detection: Literal["auto", "notify", "poll"] = Field(
        default="auto", description="How an open project learns of other processes' commits: `auto` sleeps on a "
        "change notification (inotify, FSEvents) and polls on network filesystems; `notify` insists on "
        "notifications; `poll` always polls (for a shared filesystem not recognized as remote).")
    poll_interval: float = Field(default=1.0, gt=0, le=60, description="Seconds between looks when polling.")
    http_fetch_allow_hosts: list[str] = Field(
        default_factory=list, description="Destinations `http_fetch` may reach although they are not public "
        "(loopback, link-local, private, cloud metadata are refused otherwise): host names (`localhost`), "
        "addresses (`127.0.0.1`) or networks (`10.0.0.0/8`).")
    rate_limits: RateLimits = Field(default_factory=RateLimits, description="Per-key limits of the HTTP API "
                                    "(requests per minute, concurrent streams); unset values: the server's defaults.")
    agent_handler_modules: list[str] = Field(
        default_factory=list, description="Modules outside the project directory that an agent given as data "
        "(HTTP, chat, a mission file) may name in `handler`; a package allows its submodules. "
        "`@project.agent` registration is not limited.")

    @field_validator("http_fetch_allow_hosts")
    @classmethod
    def _fetch_hosts(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            parse_allow_entry(entry)
        return entries

    @field_validator("agent_handler_modules")
    @classmethod
    def _handler_modules(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if not all(part.isidentifier() for part in entry.split(".")):
                raise ValueError(f"{entry!r} is not a module name")
        return entries


def parse_allow_entry(entry: str) -> tuple[str, str]:
    """('name', host) or ('network', cidr) for one `httpFetchAllowHosts` entry; ValueError if neither."""
    text = entry.strip().lower().rstrip(".")
    try:
        return "network", str(ipaddress.ip_network(text.strip("[]"), strict=False))
    except ValueError:
        pass
    labels = text.split(".")
    if not text or len(text) > 253 or not all(label and len(label) <= 63 and label.replace("-", "").isalnum()
                                              for label in labels):
        raise ValueError(f"{entry!r} is neither a host name nor an IP address or network")
    return "name", text
