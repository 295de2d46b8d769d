"""The HTTP-only shapes: request bodies, query strings and responses that are not library models.

Everything a resource *is* (Task, Mission, Agent, ...) comes from `polpo_nb.spec`; this module only
holds what exists because of HTTP: the query strings, the small action bodies, file listings, and
the partial views PATCH accepts. They are WireModels too, so the OpenAPI document and the validation
come from the same definitions.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from polpo_nb.errors import SpecError
from polpo_nb.spec import Mission, Task, TaskStatus, WireModel
from polpo_nb.spec.partial import partial_model
from polpo_nb.spec.status import MissionStatus

from .limits import check_patterns
from .pages import MAX_LIMIT, NEXT_CURSOR, decode_cursor


class PatchModel(WireModel):
    """A PATCH body names at least one field (an empty one is refused: there is nothing to change)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})


def partial(model: type[WireModel], name: str, *, exclude: frozenset[str] = frozenset()) -> type[WireModel]:
    """The body of a PATCH: any subset of `model`'s fields, at least one."""
    return partial_model(model, name, base=PatchModel, exclude=exclude)


TaskPatch = partial(Task, "TaskPatch")
MissionPatch = partial(Mission, "MissionPatch")


# == query strings =====================================================================================

class QueryModel(WireModel):
    """Query strings ignore parameters they do not name (`token`, cache busters, ...)."""

    model_config = ConfigDict(extra="ignore")
    strict_scalars: ClassVar[bool] = False  # every value arrives as a string


class PageQuery(QueryModel):
    """A list's optional page (pages.py): without `limit` and `cursor`, the whole list."""

    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT, description=f"At most this many records (1-{MAX_LIMIT}); "
                              f"the `{NEXT_CURSOR}` response header is then the cursor of the next page, if any.")
    cursor: str | None = Field(default=None, description=f"Start after the previous page: its `{NEXT_CURSOR}` header.")

    @field_validator("cursor")
    @classmethod
    def _decodes(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value

    @property
    def after(self) -> int | None:
        """The position the page starts after (None: from the first record)."""
        return None if self.cursor is None else decode_cursor(self.cursor)


class TaskQuery(PageQuery):
    status: TaskStatus | None = Field(default=None, description="Only tasks in this status.")
    group: str | None = Field(default=None, min_length=1, description="Only tasks of this mission (id or name).")
    assign_to: str | None = Field(default=None, min_length=1, description="Only tasks assigned to this agent.")


class MissionQuery(QueryModel):
    status: MissionStatus | None = None


class FilesQuery(QueryModel):
    path: str = Field(default=".", description="A directory, relative to the project root or absolute inside it.")


class ReadQuery(QueryModel):
    path: str = Field(description="A file, relative to the project root or absolute inside it.")
    download: bool = Field(default=False, description="`1`: send `Content-Disposition: attachment`.")


class PreviewQuery(QueryModel):
    path: str
    max_lines: int = Field(default=500, ge=1, le=100_000, description="Lines of text returned at most.")


class EventsQuery(QueryModel):
    filter: str | None = Field(default=None, description="Comma-separated globs on event names: `task:*,mission:*`.")

    @field_validator("filter")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            try:
                check_patterns([p for p in value.split(",") if p.strip()] or ["*"], "filter")
            except SpecError as exc:
                raise ValueError(exc.message) from None
        return value
    last_event_id: str | None = Field(
        default=None, description="Replay events after this id (`42` or `evt_00042`); the `Last-Event-ID` header wins.")


class ExecuteQuery(QueryModel):
    """No parameters: the stream is chosen by `Accept` (SSE unless only `application/json` is accepted)."""


# == bodies ============================================================================================

class ResumeBody(WireModel):
    retry_failed: bool = Field(default=False, description="Retry failed tasks before resuming.")


class RerunBody(WireModel):
    from_task: str = Field(min_length=1, description="The task (title or id) to re-run from: it and everything "
                                                     "downstream of it re-execute.")


class DecisionBody(WireModel):
    note: str | None = Field(default=None, description="Why; recorded with the approval event.")


class MemoryBody(WireModel):
    content: str


class TeamRename(WireModel):
    name: str = Field(min_length=1)


# == responses =========================================================================================

class Health(WireModel):
    status: str = "ok"
    version: str | None = None
    projects: int | None = Field(default=None, description="Projects open in this server (with the server's own "
                                 "credentials only).")


class Memory(WireModel):
    content: str


class Deleted(WireModel):
    id: str
    deleted: bool = True




class ErrorBody(WireModel):
    """The flat dialect's error (seed 001)."""

    error: str
    code: str
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field-level problems: `{loc, msg}`.")


class EnvelopeErrorBody(ErrorBody):
    """The envelope dialect's error (seed 000): the flat one with `ok: false`."""

    ok: Literal[False]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None
    param: str | None


class OpenAIErrorBody(BaseModel):
    """Chat completions' errors, in OpenAI's shape so its SDKs raise their usual exceptions."""

    error: OpenAIErrorDetail


class StreamEvent(WireModel):
    """One SSE event of the envelope dialect's `data:` line (seed 000)."""

    event: str
    data: dict[str, Any]
