"""Text from tasks and agents made safe to print on a terminal.

A title, an agent's output or result, a log line: they come from people, models, tools and web pages.
Printed raw, their control characters drive the terminal: an OSC sets the window title or writes the
clipboard, a CSI clears the screen or hides text, a bidirectional override prints a line backwards
(`\\u202e`). So every such character is shown as its escape instead (`\\u001b`, `\\u202e`), visibly;
line breaks and tabs stay. The escapes are JSON's own, so `--json` output stays JSON and parses back to
the exact text. (Piping through `click.echo` strips only colour CSIs, and Rich only a few C0 codes.)
"""

from __future__ import annotations

_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]  # embeddings, overrides, isolates
_ESCAPES = {c: f"\\u{c:04x}" for c in [*_CONTROLS, *_BIDI] if chr(c) not in "\n\t"}


def printable(text: str) -> str:
    """`text` with its terminal controls shown as escapes (`\\r\\n` line ends kept as line ends)."""
    return text.replace("\r\n", "\n").translate(_ESCAPES)
