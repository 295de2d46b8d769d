"""Project API keys and per-key rate limits, as the API, the CLI and the config speak of them.

A key is shown once, when it is made (`CreatedApiKey.key`); afterwards only its `prefix` (enough to
tell keys apart in a list) and its metadata exist anywhere. `live` keys have full access to their
project; `test` keys start dry runs (LLM agents and judges on the offline `test` model).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import WireModel

KeyKind = Literal["live", "test"]


class ApiKey(WireModel):
    """A key as it is listed: never the key itself."""

    id: str
    name: str
    kind: KeyKind
    prefix: str = Field(description="The key's first characters, to recognise it (`sk_live_AbCd`).")
    created_at: str
    last_used_at: str | None = Field(default=None, description="Within a minute: uses are recorded at most once a minute.")
    revoked_at: str | None = None


class CreatedApiKey(ApiKey):
    """A new key: the only time its text is ever shown."""

    key: str = Field(description="The key (`sk_live_...` / `sk_test_...`): store it now, it is not kept.")


class NewApiKey(WireModel):
    """The body of `POST keys`."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\s].*$")
    kind: KeyKind = "live"


class RateLimits(WireModel):
    """Per-key limits of the HTTP API (`rateLimits` in the project config); unset: the server's defaults
    (generous on `polpo serve`, none on Jupyter), 0: no limit."""

    requests_per_minute: int | None = Field(default=None, ge=0, le=1_000_000,
                                            description="Requests per minute and key (a stream counts as one).")
    concurrent_streams: int | None = Field(default=None, ge=0, le=100_000,
                                           description="SSE and WebSocket streams a key may hold open at once.")
