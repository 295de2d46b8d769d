"""The two faces of one API (ARCHITECTURE.md §4): where each route is mounted and how answers look.

- `PROJECT` (seed 000): `api/v1/projects/{projectId}/...`, answers in an envelope `{ok, data}`,
  errors `{ok: false, error, code: "NOT_FOUND"}`, SSE events unnamed with `{event, data}` as data.
- `FLAT` (seeds 001-004): `v1/...` on the default project, raw resources, errors
  `{error, code: "not_found"}`, SSE events named (`event: task:transition`).

Nothing else differs: both call the same route table with the same library calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: Contract code -> (HTTP status, flat dialect spelling).
CODES: dict[str, tuple[int, str]] = {
    "BAD_REQUEST": (400, "bad_request"),
    "UNAUTHORIZED": (401, "unauthorized"),
    "INVALID_API_KEY": (401, "invalid_api_key"),
    "FORBIDDEN": (403, "forbidden"),
    "NOT_FOUND": (404, "not_found"),
    "METHOD_NOT_ALLOWED": (405, "method_not_allowed"),
    "CONFLICT": (409, "conflict"),
    "PAYLOAD_TOO_LARGE": (413, "payload_too_large"),
    "RATE_LIMITED": (429, "rate_limited"),
    "INTERNAL": (500, "internal_error"),
    "INSUFFICIENT_STORAGE": (507, "insufficient_storage"),  # the project's store refuses writes (a full disk)
}
_BY_STATUS = {status: code for code, (status, _) in CODES.items() if code != "INVALID_API_KEY"}


def status_of(code: str) -> int:
    return CODES.get(code, CODES["INTERNAL"])[0]


def code_of(status: int) -> str:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return "INTERNAL" if status >= 500 else "BAD_REQUEST"



def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Dialect:
    name: str
    api_root: str
    project_root: str
    envelope: bool
    named_events: bool

    def mount(self, scope: str, path: str) -> str:
        """The route's path in this dialect, relative to the extension's prefix, with `{params}`."""
        return f"{self.api_root if scope == 'server' else self.project_root}/{path}"

    @property
    def scoped(self) -> bool:
        return "{projectId}" in self.project_root

    def success(self, data: Any) -> Any:
        return {"ok": True, "data": data} if self.envelope else data

    def success_json(self, data: bytes) -> bytes:
        """`success` of data that is JSON already (a list put together from cached records)."""
        return b"".join((b'{"ok":true,"data":', data, b"}")) if self.envelope else data  # one copy of a big body

    def code(self, code: str) -> str:
        if self.envelope:
            return code
        return CODES.get(code, CODES["INTERNAL"])[1]

    def error(self, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False} if self.envelope else {}
        body.update(error=message, code=self.code(code))
        if errors:
            body["errors"] = errors
        return body

    def sse(self, name: str, data: Any, event_id: str | None = None) -> str:
        """One SSE event, terminated by the blank line."""
        lines = []
        if self.named_events:
            lines += [f"event: {name}", f"data: {dumps(data)}"]
        else:
            lines.append(f"data: {dumps({'event': name, 'data': data})}")
        if event_id:
            lines.append(f"id: {event_id}")
        return "\n".join(lines) + "\n\n"


PROJECT = Dialect("project", api_root="api/v1", project_root="api/v1/projects/{projectId}", envelope=True,
                  named_events=False)
FLAT = Dialect("flat", api_root="v1", project_root="v1", envelope=False, named_events=True)
DIALECTS = (PROJECT, FLAT)
