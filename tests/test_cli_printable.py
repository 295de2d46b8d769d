"""`printable`: every terminal control in text from tasks and agents is shown as its escape (JSON's own),
line breaks and tabs stay, and text already made printable does not change again."""

from __future__ import annotations

import pytest

from polpo_nb.cli.printable import printable


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b]52;c;cGFzdGU=\x07", "\\u001b]52;c;cGFzdGU=\\u0007"),  # OSC 52: write the clipboard
    ("\x1b[8mhidden", "\\u001b[8mhidden"),
    ("\x9b2J", "\\u009b2J"),  # the C1 form of CSI
    ("abc\rXYZ", "abc\\u000dXYZ"),  # a carriage return that would overwrite the line
    ("\u202egnp.exe", "\\u202egnp.exe"),
    ("back\x08space\x7f", "back\\u0008space\\u007f"),
])
def test_controls_are_shown_as_escapes(raw: str, shown: str):
    assert printable(raw) == shown


def test_line_breaks_tabs_and_ordinary_text_stay():
    text = "line one\tcol\r\nline two: ünïcödé, 世界, emoji 🚀, [brackets]"
    assert printable(text) == text.replace("\r\n", "\n")
    assert printable(printable("\x1b[2J")) == printable("\x1b[2J")
