"""The project's orchestrator config: `.polpo/config.json` or `polpo.json` at the project root."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import WireModel


class ProviderConfig(WireModel):
    """An OpenAI-compatible endpoint (Ollama, vLLM, ...): `model: "<name>:<model>"` then uses it."""

    base_url: str
    api_key_env: str | None = Field(default=None, description="Name of the env var holding the key; never the key.")


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
    allowed_tools: list[str] | None = None
    command_timeout: float = Field(default=300.0, gt=0, description="Seconds for expectation commands.")
    event_retention: int = Field(default=100_000, ge=1000, description="Events kept in state.db.")
    synchronous: str = Field(default="FULL", pattern="^(FULL|NORMAL)$", description="SQLite durability.")
