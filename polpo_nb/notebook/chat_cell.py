"""What `%%polpo chat` does with its cell: `{name}` interpolation from the notebook, and the reply
streamed into the cell's output as it is written.

Interpolation replaces `{name}` (or `{name.attr}`) only when `name` is a variable of the notebook, so a
cell can paste JSON or code with braces and have them left alone; `--raw` turns it off entirely.
Streaming prints text deltas as they come (a kernel forwards each print to the front-end at once),
tool calls on their own lines; a failed turn fails the cell with its message (IPython's UsageError, shown
without a traceback).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from IPython.core.error import UsageError

from ..chat import ChatReply, ChatStream

_FIELD = re.compile(r"\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}")
ARGS_CHARS = 120


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """`{name}` and `{name.attr}` replaced by their values' `str()`; anything else left as written."""
    def value_of(match: re.Match[str]) -> str:
        head, *attrs = match.group(1).split(".")
        if head not in namespace:
            return match.group(0)
        value = namespace[head]
        for attr in attrs:
            if attr.startswith("_") or not hasattr(value, attr):
                return match.group(0)
            value = getattr(value, attr)
        return str(value)

    return _FIELD.sub(value_of, text)


def _arguments(arguments: dict[str, Any]) -> str:
    text = json.dumps(arguments, ensure_ascii=False, default=str)
    return text if len(text) <= ARGS_CHARS else text[: ARGS_CHARS - 1] + "…"


class _Printer:
    """Prints deltas, remembering whether the output ends mid-line (tool calls go on lines of their own)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.mid_line = False

    def text(self, text: str) -> None:
        if text:
            print(text, end="", file=self.out, flush=True)
            self.mid_line = not text.endswith("\n")

    def end_line(self) -> None:
        if self.mid_line:
            print(file=self.out, flush=True)
            self.mid_line = False

    def line(self, text: str) -> None:
        self.end_line()
        print(text, file=self.out, flush=True)


def stream_reply(stream: ChatStream, out: TextIO | None = None) -> ChatReply:
    """Print the turn as it happens; the reply. A turn that failed or was interrupted raises UsageError
    (what was said so far is kept in the session), so the cell fails and "Run All" stops there."""
    printer = _Printer(sys.stdout if out is None else out)
    try:
        for chunk in stream:
            if chunk.kind == "text":
                printer.text(chunk.text or "")
            elif chunk.kind == "tool_call" and chunk.tool_call is not None:
                printer.line(f"→ {chunk.tool_call.name}({_arguments(chunk.tool_call.arguments)})")
            elif chunk.kind == "tool_result" and chunk.is_error:
                printer.line(f"  ✗ {chunk.text or 'the tool failed'}")
            elif chunk.kind == "output" and chunk.text:
                printer.line(f"  {chunk.text}")
            elif chunk.kind == "error":
                printer.end_line()
                raise UsageError(chunk.error or "the chat turn failed")
    except KeyboardInterrupt:
        stream.cancel()
        printer.end_line()
        raise UsageError("interrupted (what was said so far is kept in the session)") from None
    printer.end_line()
    if stream.reply is None:  # the stream ended without its last chunk: the turn did not finish
        raise UsageError("the chat turn ended without a reply")
    return stream.reply
