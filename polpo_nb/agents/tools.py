"""The built-in tools of LLM agents, one function each, all acting through one `Workspace`.

Every path goes through `Workspace.path`: inside the project (`sandbox.resolve_in_project`), outside the
store (`.polpo/` is off limits except `.polpo/output/` and reading `.polpo/memory.md`), and inside the
agent's `allowedPaths` when it has any. A refused or failed call is answered to the model as text
(`refused: ...` / `error: ...`) so it can change course; it never ends the attempt. Every call becomes
a `task:tool_use` event and a transcript line.

`http_fetch` reaches public hosts only, unless the project config names others (`fetch.py`).
`run_shell` is opt-in (the agent's `allowedTools` must name it), runs in the project directory with a
timeout and the filtered environment of `sandbox.filtered_env`. `allowedPaths` cannot fence a shell:
an agent given `run_shell` can reach whatever the server's user can.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import inspect
import json
import os
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import regex
from pydantic_ai import RunContext, Tool

from ..assess.commands import run_shell as _run_command
from ..assess.commands import tail
from ..errors import NotFoundError, PolpoError
from ..sandbox import SandboxError, resolve_in_project
from ..spec import ProjectConfig
from .context import AgentContext
from .fetch import FetchPolicy, FetchRefused, fetch

__all__ = ["ALL_TOOLS", "DEFAULT_TOOLS", "IDEMPOTENT_TOOLS", "OPT_IN_TOOLS", "ToolRefused", "Workspace", "build_tools",
           "idempotent", "tool_names"]

_MAX_READ_CHARS = 100_000
_MAX_LIST_ENTRIES = 1000
_MAX_GREP_MATCHES = 200
_MAX_GREP_FILE_BYTES = 2 * 1024 * 1024
_MAX_FETCH_BYTES = 1024 * 1024
_FETCH_SHOWN_CHARS = 20_000
_SHELL_SHOWN_CHARS = 10_000
_SUMMARY_CHARS = 200
_SKIPPED_DIRS = frozenset({".git", ".polpo", "__pycache__", "node_modules", ".venv", ".mypy_cache", ".pytest_cache"})
_POLPO = ".polpo"
_OUTPUT = PurePosixPath(".polpo/output")
_MEMORY = PurePosixPath(".polpo/memory.md")
#: A project's config at its root (the other, `.polpo/config.json`, is under `.polpo/`): re-read at the next
#: use, its `mcpServers` start commands and its `httpFetchAllowHosts` open hosts, so no agent writes one.
_CONFIG_NAME = "polpo.json"
#: The wall time one `grep` call may take (its pattern runs under `regex`'s timeout, off the GIL).
_GREP_SECONDS = 10.0


class ToolRefused(PolpoError):
    """A tool call the agent is not allowed to make (a path outside its reach)."""

    code = "BAD_REQUEST"


@dataclass
class Workspace:
    """One attempt's view of the project, and what its tool calls produced."""

    root: Path
    ctx: AgentContext
    allowed_paths: list[str] | None = None
    shell_timeout: float = 300.0
    #: where http_fetch may go beyond public hosts (the project's httpFetchAllowHosts); none by default
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)
    files: list[str] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()

    @classmethod
    def for_agent(cls, root: Path, ctx: AgentContext, config: ProjectConfig, allowed_paths: list[str] | None) -> Workspace:
        """An agent's workspace under the project's limits (command timeout, fetch destinations)."""
        return cls(root, ctx, allowed_paths=allowed_paths, shell_timeout=config.command_timeout,
                   fetch_policy=FetchPolicy.from_config(config.http_fetch_allow_hosts))

    def path(self, path: str, *, write: bool = False) -> Path:
        """The resolved path of `path`, or ToolRefused/SandboxError saying why the agent may not use it."""
        resolved = resolve_in_project(self.root, path or ".")
        rel = PurePosixPath(resolved.relative_to(self.root).as_posix())
        if rel.parts and rel.parts[0] == _POLPO and not (rel.is_relative_to(_OUTPUT) or (rel == _MEMORY and not write)):
            raise ToolRefused(f"path {path!r} is not allowed: .polpo/ holds the project's state; "
                              "write deliverables to the project or to .polpo/output/")
        if _POLPO in rel.parts[1:]:
            nested = PurePosixPath(*rel.parts[:rel.parts.index(_POLPO, 1)])
            raise ToolRefused(f"path {path!r} is not allowed: {nested}/.polpo/ holds another project's state")
        if write and rel.name == _CONFIG_NAME:
            raise ToolRefused(f"path {path!r} is not allowed: {_CONFIG_NAME} is a project's config, which agents "
                              "do not write")
        browse = not write and resolved.is_dir()
        if self.allowed_paths is not None and not _allowed(rel, self.allowed_paths, browse=browse):
            raise ToolRefused(f"path {path!r} is not allowed: this agent may only use {', '.join(self.allowed_paths)}")
        return resolved

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() or "."

    def produced(self, rel: str) -> None:
        if rel not in self.files:
            self.files.append(rel)

    def record_call(self, name: str, args: dict[str, Any], answer: str, ok: bool) -> str:
        """One tool call (built-in or MCP) in the result's `toolCalls`, a `task:tool_use` event and a
        transcript line; long arguments and answers shortened. Returns `answer`."""
        shown = _short_args(args)
        summary = _summary(answer)
        self.calls.append({"tool": name, "args": shown, "ok": ok, "result": summary})
        self.ctx.tool_use(name, shown, summary)
        self.ctx.log(f"[tool] {name}({json.dumps(shown, default=str)}) -> {answer if len(answer) < 2000 else summary}",
                     "info" if ok else "warning")
        return answer

    def for_call(self) -> Workspace:
        """A view for one tool call: the same project and limits, its own record of what the call did
        (stored with the call's result, for exact resume: `agents/durable_llm.py`)."""
        return replace(self, files=[], outcomes=[], calls=[])

    def effects(self) -> dict[str, list[Any]]:
        return {"files": list(self.files), "outcomes": list(self.outcomes), "calls": list(self.calls)}

    def merge(self, effects: dict[str, list[Any]]) -> None:
        """Add what one call did (`effects()` of its view) to the attempt's record."""
        for rel in effects["files"]:
            self.produced(rel)
        self.outcomes.extend(effects["outcomes"])
        self.calls.extend(effects["calls"])


def _allowed(rel: PurePosixPath, allowed: list[str], *, browse: bool) -> bool:
    """`rel` is an allowed path, below one, or matches one's glob. With `browse` (listing a folder), a
    folder above an allowed path counts too, so the agent can find its way down to it.

    Globs match path segments, as shells and `.gitignore` do: `*` stays within one folder, `**` spans
    any number of folders (none included). `fnmatch` alone would let `*.md` reach `docs/deep/b.md`
    through `read_file` while the listing, which walks folder by folder, hid it."""
    parts = rel.parts if rel.as_posix() != "." else ()
    for entry in allowed:
        entry = entry.strip().strip("/") or "."
        if entry == "." or _glob_match(tuple(entry.split("/")), parts, above=browse):
            return True
    return False


def _glob_match(pattern: tuple[str, ...], parts: tuple[str, ...], *, above: bool) -> bool:
    """`parts` matches `pattern`, lies below a match, or (with `above`) is a folder a match may lie in."""
    if not parts:
        return above or all(p == "**" for p in pattern)
    if not pattern:
        return True  # below a matched folder
    if pattern[0] == "**":
        return _glob_match(pattern[1:], parts, above=above) or _glob_match(pattern, parts[1:], above=above)
    return fnmatch.fnmatchcase(parts[0], pattern[0]) and _glob_match(pattern[1:], parts[1:], above=above)


# == the tools =========================================================================================

def read_file(ctx: RunContext[Workspace], path: str, offset: int = 0, limit: int = 2000) -> str:
    """Read a text file of the project.

    Args:
        path: Path relative to the project root.
        offset: First line to return (0-based).
        limit: Number of lines to return.
    """
    ws = ctx.deps
    target = ws.path(path)
    if not target.is_file():
        raise NotFoundError(f"{path} is not a file" if target.exists() else f"{path} does not exist")
    lines = target.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    chunk = "".join(lines[max(0, offset): max(0, offset) + max(1, limit)])
    if len(chunk) > _MAX_READ_CHARS:
        chunk = chunk[:_MAX_READ_CHARS] + "\n...[truncated]"
    shown_end = min(len(lines), max(0, offset) + max(1, limit))
    if offset > 0 or shown_end < len(lines):
        return f"[lines {offset + 1}-{shown_end} of {len(lines)}]\n{chunk}"
    return chunk


def write_file(ctx: RunContext[Workspace], path: str, content: str) -> str:
    """Create or overwrite a file (parent folders are created). Use it for every deliverable.

    Args:
        path: Path relative to the project root.
        content: The whole new content of the file.
    """
    ws = ctx.deps
    target = ws.path(path, write=True)
    if target.is_dir():
        raise ToolRefused(f"{path} is a directory")
    _atomic_write(target, content)
    rel = ws.rel(target)
    ws.produced(rel)
    return f"wrote {rel} ({len(content.encode('utf-8'))} bytes)"


def edit_file(ctx: RunContext[Workspace], path: str, old_text: str, new_text: str, replace_all: bool = False) -> str:
    """Replace exact text in a file. `old_text` must occur exactly once unless `replace_all` is true.

    Args:
        path: Path relative to the project root.
        old_text: The exact text to replace (include enough context to make it unique).
        new_text: The replacement text.
        replace_all: Replace every occurrence instead of exactly one.
    """
    ws = ctx.deps
    target = ws.path(path, write=True)
    if not target.is_file():
        raise NotFoundError(f"{path} does not exist")
    if not old_text:
        raise ToolRefused("old_text is empty: use write_file to create or overwrite a file")
    text = target.read_text(encoding="utf-8")
    count = text.count(old_text)
    if count == 0:
        raise NotFoundError(f"old_text was not found in {path}")
    if count > 1 and not replace_all:
        raise ToolRefused(f"old_text occurs {count} times in {path}: add context to make it unique, or set replace_all")
    _atomic_write(target, text.replace(old_text, new_text) if replace_all else text.replace(old_text, new_text, 1))
    rel = ws.rel(target)
    ws.produced(rel)
    return f"edited {rel} ({count if replace_all else 1} replacement{'s' if replace_all and count > 1 else ''})"


def list_files(ctx: RunContext[Workspace], path: str = ".", recursive: bool = False) -> str:
    """List a folder of the project (folders end with `/`).

    Args:
        path: Folder relative to the project root.
        recursive: List the whole tree below the folder.
    """
    ws = ctx.deps
    target = ws.path(path)
    if not target.is_dir():
        raise NotFoundError(f"{path} is not a folder" if target.exists() else f"{path} does not exist")
    entries: list[str] = []
    for item in _walk(ws, target, recursive=recursive, files_only=False):
        entries.append(ws.rel(item) + ("/" if item.is_dir() else ""))
        if len(entries) >= _MAX_LIST_ENTRIES:
            entries.append(f"...[stopped at {_MAX_LIST_ENTRIES} entries]")
            break
    return "\n".join(entries) if entries else "(empty)"


def grep(ctx: RunContext[Workspace], pattern: str, path: str = ".", glob: str = "*") -> str:
    """Search the project's text files for a regular expression; answers `path:line: text`.

    Args:
        pattern: A Python regular expression.
        path: File or folder to search, relative to the project root.
        glob: Only files whose name matches this pattern (e.g. `*.py`).
    """
    ws = ctx.deps
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise ToolRefused(f"invalid regular expression: {exc}") from None
    target = ws.path(path)
    files = [target] if target.is_file() else _walk(ws, target, recursive=True, files_only=True)
    matches: list[str] = []
    deadline = time.monotonic() + _GREP_SECONDS
    for file in files:
        # a regular file only (`is_file`): a named pipe would be read for ever
        if not fnmatch.fnmatch(file.name, glob) or not file.is_file() or file.stat().st_size > _MAX_GREP_FILE_BYTES:
            continue
        data = file.read_bytes()
        if b"\x00" in data[:8192]:
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            try:  # a pattern that backtracks without end stops at the deadline, and holds no other thread meanwhile
                found = compiled.search(line, concurrent=True, timeout=max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise ToolRefused(f"the search took longer than {_GREP_SECONDS:g} s (its pattern backtracks too "
                                  "much on these lines): use a simpler pattern, or a narrower path or glob") from None
            if found:
                matches.append(f"{ws.rel(file)}:{number}: {line[:300]}")
                if len(matches) >= _MAX_GREP_MATCHES:
                    return "\n".join([*matches, f"...[stopped at {_MAX_GREP_MATCHES} matches]"])
    return "\n".join(matches) if matches else "no matches"


async def http_fetch(ctx: RunContext[Workspace], url: str, method: str = "GET", body: str | None = None,
                     headers: dict[str, str] | None = None) -> str:
    """Make an HTTP request; answers the status, the content type and the start of the body.

    Args:
        url: An http:// or https:// URL.
        method: HTTP method.
        body: Request body, for POST or PUT.
        headers: Extra request headers.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise ToolRefused(f"only http:// and https:// URLs can be fetched, not {url!r}")
    got = await fetch(url, method=method, body=body, headers=headers, policy=ctx.deps.fetch_policy,
                      max_bytes=_MAX_FETCH_BYTES)
    text = got.body.decode(got.encoding or "utf-8", errors="replace")
    shown = text[:_FETCH_SHOWN_CHARS] + ("\n...[truncated]" if len(text) > _FETCH_SHOWN_CHARS else "")
    return f"HTTP {got.status} {got.content_type}\n{shown}"


async def run_shell(ctx: RunContext[Workspace], command: str, timeout: float | None = None) -> str:
    """Run a shell command in the project directory; answers the exit code and the end of the output.

    Args:
        command: The command line (bash syntax).
        timeout: Seconds before the command is killed (capped by the project's commandTimeout).
    """
    ws = ctx.deps
    limit = min(timeout, ws.shell_timeout) if timeout and timeout > 0 else ws.shell_timeout
    run = await _run_command(command, cwd=ws.root, timeout=limit)
    if run.start_error:
        raise ToolRefused(f"the command could not start: {run.start_error}")
    head = f"timed out after {limit:g} s (killed)" if run.timed_out else f"exit code {run.exit_code}"
    output = tail(run.output, _SHELL_SHOWN_CHARS)
    return f"{head}\n{output}" if output else head


def register_outcome(ctx: RunContext[Workspace], type: Literal["file", "text", "url", "json", "media"],
                     path: str | None = None, url: str | None = None, label: str | None = None) -> str:
    """Declare a deliverable you produced (a file, a URL, ...) so the assessment finds it.

    Args:
        type: The kind of deliverable.
        path: Project-relative path of a file deliverable.
        url: The URL of a url deliverable.
        label: A short name for it.
    """
    ws = ctx.deps
    outcome: dict[str, Any] = {"type": type}
    if path:
        target = ws.path(path)
        if not target.exists():
            raise NotFoundError(f"{path} does not exist: write it before registering it")
        outcome["path"] = ws.rel(target)
        ws.produced(outcome["path"])
    if url:
        outcome["url"] = url
    if label:
        outcome["label"] = label
    if len(outcome) == 1:
        raise ToolRefused("an outcome needs a path or a url")
    ws.outcomes.append(outcome)
    return f"registered {type} outcome {outcome.get('path') or outcome.get('url')}"


# == plumbing ==========================================================================================

def _atomic_write(target: Path, content: str) -> None:
    """Temp file in the same folder, then os.replace: a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _walk(ws: Workspace, top: Path, *, recursive: bool, files_only: bool) -> Iterator[Path]:
    """Entries under `top` the agent may see, sorted, skipping VCS/store/cache folders and symlinks
    that leave the project."""
    stack = [top]
    seen = {top.resolve()}  # folders walked, by real path: a symlink back up is walked once, not for ever
    while stack:
        folder = stack.pop()
        try:
            children = sorted(folder.iterdir(), key=lambda p: p.name)
        except OSError:
            continue
        subfolders = []
        for child in children:
            if child.is_symlink() and not child.resolve().is_relative_to(ws.root):
                continue
            if child.is_dir():
                real = child.resolve()
                if real in seen:
                    continue
                seen.add(real)
                if child.name in _SKIPPED_DIRS and not _is_output(ws, child):
                    continue
                if not _visible(ws, child):
                    continue
                if not files_only:
                    yield child
                subfolders.append(child)
            elif _visible(ws, child):
                yield child
        if recursive:
            stack.extend(reversed(subfolders))


def _is_output(ws: Workspace, path: Path) -> bool:
    return PurePosixPath(ws.rel(path)).is_relative_to(_OUTPUT)


def _visible(ws: Workspace, path: Path) -> bool:
    try:
        ws.path(ws.rel(path))
    except (ToolRefused, SandboxError):
        return False
    return True


def _summary(value: Any, limit: int = _SUMMARY_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"...[{len(text)} chars]"


def _short_args(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments for events and transcripts: long strings (a file's content) shortened."""
    return {k: (_summary(v) if isinstance(v, str) else v) for k, v in args.items()}


def _reported(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a tool: failures become an answer to the model, and every call is an event and a log line.
    Sync tools stay sync so pydantic-ai runs them on a worker thread (AgentContext is thread-safe)."""
    signature = inspect.signature(fn)
    name = fn.__name__

    def report(ws: Workspace, args: tuple[Any, ...], kwargs: dict[str, Any], answer: str, ok: bool) -> str:
        bound = signature.bind_partial(None, *args, **kwargs).arguments
        bound.pop(next(iter(signature.parameters)), None)  # the RunContext
        return ws.record_call(name, bound, answer, ok)

    def failure(exc: Exception) -> str:
        if isinstance(exc, ToolRefused | SandboxError | FetchRefused):
            return f"refused: {exc.message}"
        if isinstance(exc, PolpoError):
            return f"error: {exc.message}"
        return f"error: {type(exc).__name__}: {exc}"

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_tool(ctx: RunContext[Workspace], *args: Any, **kwargs: Any) -> str:
            try:
                answer, ok = await fn(ctx, *args, **kwargs), True
            except Exception as exc:  # noqa: BLE001 - the model reads the failure and adapts
                answer, ok = failure(exc), False
            return report(ctx.deps, args, kwargs, answer, ok)
        return async_tool

    @functools.wraps(fn)
    def sync_tool(ctx: RunContext[Workspace], *args: Any, **kwargs: Any) -> str:
        try:
            answer, ok = fn(ctx, *args, **kwargs), True
        except Exception as exc:  # noqa: BLE001
            answer, ok = failure(exc), False
        return report(ctx.deps, args, kwargs, answer, ok)
    return sync_tool


#: The built-in tools by name: one line each.
ALL_TOOLS: dict[str, Callable[..., Any]] = {
    fn.__name__: fn
    for fn in (read_file, write_file, edit_file, list_files, grep, http_fetch, run_shell, register_outcome)
}
#: Built-in tools a crash may interrupt and the resumed attempt simply runs again: they read, or only
#: record in memory. The others (write_file, edit_file, run_shell; http_fetch other than GET/HEAD) change
#: the world: interrupted, they are reported to the model, not re-run (`agents/durable_llm.py`).
IDEMPOTENT_TOOLS = frozenset({"read_file", "list_files", "grep", "register_outcome"})
#: Tools an agent gets only when its `allowedTools` names them.
OPT_IN_TOOLS = frozenset({"run_shell"})
DEFAULT_TOOLS = tuple(name for name in ALL_TOOLS if name not in OPT_IN_TOOLS)


def idempotent(name: str, args: dict[str, Any]) -> bool:
    """Whether a built-in tool call may run again after a crash interrupted it."""
    if name == "http_fetch":
        return str(args.get("method") or "GET").upper() in ("GET", "HEAD")
    return name in IDEMPOTENT_TOOLS


def tool_names(agent_tools: list[str] | None, project_tools: list[str] | None = None,
               mcp_tools: Collection[str] | None = ()) -> list[str]:
    """The tools an agent gets: its `allowedTools` (default: all but the opt-in ones, and every tool of
    its MCP servers), within the project's `allowedTools` when the config sets one. Unknown names raise
    ValueError. `mcp_tools` are the names its MCP servers offer, or None while they are not known (before
    the servers start): then a name that is not built-in may be an MCP tool and is let through. The
    project's list is not checked against them: it may name the MCP tools of any of its agents."""
    offered = list(mcp_tools or ())
    requested = [*DEFAULT_TOOLS, *offered] if agent_tools is None else list(dict.fromkeys(agent_tools))
    unknown = [n for n in requested if n not in {*ALL_TOOLS, *offered}]
    if unknown and mcp_tools is not None:
        raise ValueError(f"unknown tool{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                         f"(built-in tools: {', '.join(ALL_TOOLS)}"
                         + (f"; MCP tools: {', '.join(offered)})" if offered else ")"))
    if project_tools is not None:
        requested = [n for n in requested if n in project_tools]
    return requested


def build_tools(names: list[str]) -> list[Tool[Workspace]]:
    return [_tool(name) for name in names]


@functools.cache
def _tool(name: str) -> Tool[Workspace]:
    """Built once per process: a tool's schema costs ~1 ms to generate, and its state lives in the deps."""
    return Tool(_reported(ALL_TOOLS[name]), takes_ctx=True, name=name)
