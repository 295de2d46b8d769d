"""Expected outcomes: deterministic pass/fail checks of a task's deliverables (seed 002 outcome types).

Every check answers with a CheckResult whose message is written for the agent that has to fix it:
what was looked for, where, and why it did not count. Nothing here raises on bad input or a
failing network; a check that cannot be made is a failed check.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from ..sandbox import SandboxError, resolve_in_project
from ..spec import CheckResult, ExpectedOutcome, TaskResult

__all__ = ["OUTPUT_DIR", "check_outcome", "deliverable_problem", "locate_deliverable", "sniff_media_type"]

#: Where agents write files by default (ARCHITECTURE.md §2); a bare name is also looked up there.
OUTPUT_DIR = Path(".polpo") / "output"
_URL_TIMEOUT = 10.0
_USER_AGENT = "polpo-nb outcome check"


def locate_deliverable(project_dir: Path, path: str) -> tuple[Path | None, str]:
    """Find `path` in the project, then in `.polpo/output/`. Returns (found path, "") or (None, why not).

    A path that escapes the sandbox is reported as such and never looked up in the output folder.
    """
    try:
        primary = resolve_in_project(project_dir, path)
    except SandboxError as exc:
        return None, exc.message
    if primary.exists():
        return primary, ""
    if not Path(path).is_absolute():
        try:
            fallback = resolve_in_project(project_dir, str(OUTPUT_DIR / path))
        except SandboxError:
            fallback = None
        if fallback is not None and fallback.exists():
            return fallback, ""
        return None, f"{path} does not exist (looked in {path} and {(OUTPUT_DIR / path).as_posix()})"
    return None, f"{path} does not exist"


def _regular_file(project_dir: Path, path: str) -> tuple[Path | None, str]:
    """`locate_deliverable` for checks that read the file's content: a directory or device will not do."""
    found, problem = locate_deliverable(project_dir, path)
    if found is not None and not found.is_file():
        return None, f"{path} is not a regular file"
    return found, problem


def _non_empty_problem(found: Path, path: str) -> str:
    """Why an existing path does not count as a deliverable, or "" when it does."""
    if found.is_dir():
        return "" if any(found.iterdir()) else f"{path} is an empty directory"
    if not found.is_file():
        return f"{path} is not a regular file"
    return "" if found.stat().st_size > 0 else f"{path} is empty (0 bytes)"


def deliverable_problem(project_dir: Path, path: str) -> str:
    """Why `path` is not a delivered file (missing, empty, outside the project), or "" when it is one.
    A non-empty directory counts: some deliverables are folders (a site, a dataset)."""
    found, problem = locate_deliverable(project_dir, path)
    return problem if found is None else _non_empty_problem(found, path)


def _check_file(outcome: ExpectedOutcome, result: TaskResult, project_dir: Path) -> CheckResult:
    if not outcome.path:
        return _fail(outcome, "", "file outcome has no `path`: declare which file the task must produce")
    if problem := deliverable_problem(project_dir, outcome.path):
        return _fail(outcome, outcome.path, problem)
    return _pass(outcome, outcome.path, f"{outcome.path} exists and is not empty")


def _has_text(found: Path) -> bool:
    """Scan in chunks so a huge log does not have to fit in memory to prove it is not blank."""
    with found.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if chunk.decode("utf-8", errors="replace").strip():
                return True
    return False


def _check_text(outcome: ExpectedOutcome, result: TaskResult, project_dir: Path) -> CheckResult:
    if outcome.path:
        found, problem = _regular_file(project_dir, outcome.path)
        if found is None:
            return _fail(outcome, outcome.path, problem)
        if not _has_text(found):
            return _fail(outcome, outcome.path, f"{outcome.path} contains no text (empty or only whitespace)")
        return _pass(outcome, outcome.path, f"{outcome.path} contains text")
    if not result.content.strip():
        return _fail(outcome, "content", "the result's content is empty: the task must answer with text")
    return _pass(outcome, "content", f"the result's content has {len(result.content.strip())} characters")


def _strip_code_fence(text: str) -> str:
    """LLMs like to wrap JSON in ```json fences; the JSON inside is what was asked for."""
    text = text.strip()
    if text.startswith("```") and text.endswith("```") and "\n" in text:
        return text[text.index("\n") + 1 : -3].strip()
    return text


def _json_error(exc: json.JSONDecodeError) -> str:
    return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"


def _check_json(outcome: ExpectedOutcome, result: TaskResult, project_dir: Path) -> CheckResult:
    if outcome.path:
        found, problem = _regular_file(project_dir, outcome.path)
        if found is None:
            return _fail(outcome, outcome.path, problem)
        try:
            json.loads(found.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError:
            return _fail(outcome, outcome.path, f"{outcome.path} is not valid JSON: it is not UTF-8 text")
        except json.JSONDecodeError as exc:
            return _fail(outcome, outcome.path, f"{outcome.path} is not valid JSON: {_json_error(exc)}")
        return _pass(outcome, outcome.path, f"{outcome.path} is valid JSON")
    if result.data is not None:
        return _pass(outcome, "data", "the result carries structured data")
    text = _strip_code_fence(result.content)
    if not text:
        return _fail(outcome, "content", "the result has no data and its content is empty: answer with JSON")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return _fail(outcome, "content", f"the result's content is not valid JSON: {_json_error(exc)}")
    return _pass(outcome, "content", "the result's content is valid JSON")


def _url_problem(url: str) -> str:
    if not url:
        return "no URL: set the outcome's `url` or answer with the URL as the result's content"
    if any(ch.isspace() for ch in url):
        return f"{url!r} is not a well-formed URL: it contains whitespace"
    parts = urlparse(url)
    if parts.scheme not in ("http", "https"):
        return f"{url!r} is not a well-formed URL: the scheme must be http or https"
    if not parts.netloc or not parts.hostname:
        return f"{url!r} is not a well-formed URL: it has no host"
    try:
        _ = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError as exc:
        return f"{url!r} is not a well-formed URL: {exc}"
    return ""


def _probe(url: str) -> str:
    """Blocking reachability probe (HEAD, then GET for servers that refuse HEAD); "" when it answers."""
    problem = ""
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(url, method=method, headers={"User-Agent": _USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=_URL_TIMEOUT) as response:
                if response.status < 400:
                    return ""
                problem = f"{url} answered {method} with HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"{url} answered {method} with HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError, ValueError) as exc:  # nobody answered: GET would not either
            return f"{url} is not reachable: {getattr(exc, 'reason', exc)}"
    return problem


async def _check_url(outcome: ExpectedOutcome, result: TaskResult, project_dir: Path) -> CheckResult:
    url = (outcome.url or result.content).strip()
    if problem := _url_problem(url):
        return _fail(outcome, url, problem)
    if outcome.reachable:
        if problem := await asyncio.to_thread(_probe, url):
            return _fail(outcome, url, problem)
        return _pass(outcome, url, f"{url} is well-formed and reachable")
    return _pass(outcome, url, f"{url} is a well-formed URL")


def _svg(head: bytes) -> bool:
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff").lstrip()
    if text.startswith("<?xml"):
        text = text.partition("?>")[2].lstrip()
    while text.startswith(("<!--", "<!DOCTYPE", "<!doctype")):  # comments and doctype may precede <svg
        text = text.partition("-->" if text.startswith("<!--") else ">")[2].lstrip()
    return text.startswith("<svg")


def sniff_media_type(head: bytes) -> str | None:
    """The MIME type the first bytes of a file announce, or None; extensions can lie, magic bytes less so."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] == b"M4A " else "video/mp4"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if _svg(head):
        return "image/svg+xml"
    return None


#: Common spellings of the same type, so `image/jpg` in a mission file means what its author meant.
_ALIASES = {"image/jpg": "image/jpeg", "audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav",
            "audio/wave": "audio/wav", "image/svg": "image/svg+xml"}


def _media_matches(expected: str, actual: str) -> bool:
    expected = _ALIASES.get(expected.strip().lower(), expected.strip().lower())
    if expected.endswith("/*"):
        return actual.startswith(expected[:-1])
    return expected == actual


def _check_media(outcome: ExpectedOutcome, result: TaskResult, project_dir: Path) -> CheckResult:
    if not outcome.path:
        return _fail(outcome, "", "media outcome has no `path`: declare which file the task must produce")
    found, problem = _regular_file(project_dir, outcome.path)
    if found is None:
        return _fail(outcome, outcome.path, problem)
    with found.open("rb") as fh:
        head = fh.read(4096)
    actual = sniff_media_type(head)
    if actual is None:
        return _fail(outcome, outcome.path, f"{outcome.path} is not a recognised media file "
                     "(PNG, JPEG, GIF, WEBP, SVG, PDF, MP3, WAV, MP4 or OGG by its content)")
    if outcome.media_type and not _media_matches(outcome.media_type, actual):
        return _fail(outcome, outcome.path, f"{outcome.path} is {actual}, expected {outcome.media_type}")
    return _pass(outcome, outcome.path, f"{outcome.path} is {actual}")


def _pass(outcome: ExpectedOutcome, target: str, message: str) -> CheckResult:
    return CheckResult(type=outcome.type, target=target, passed=True, message=message)


def _fail(outcome: ExpectedOutcome, target: str, message: str) -> CheckResult:
    return CheckResult(type=outcome.type, target=target, passed=False, message=message)


_SYNC_CHECKS: dict[str, Callable[[ExpectedOutcome, TaskResult, Path], CheckResult]] = {
    "file": _check_file,
    "text": _check_text,
    "json": _check_json,
    "media": _check_media,
}


async def check_outcome(outcome: ExpectedOutcome, result: TaskResult, project_dir: Path) -> CheckResult:
    """One outcome's check. Filesystem checks run in a thread: a slow disk must not stall the engine."""
    if outcome.type == "url":
        return await _check_url(outcome, result, project_dir)
    try:
        return await asyncio.to_thread(_SYNC_CHECKS[outcome.type], outcome, result, project_dir)
    except OSError as exc:  # permission denied, a file vanishing mid-check, ...
        target = outcome.path or ""
        return _fail(outcome, target, f"{target} could not be read: {exc.strerror or exc}")
