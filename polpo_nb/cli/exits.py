"""What `polpo` exits with, and the one error type its commands raise for a user's mistake.

The codes are part of the command's interface (scripts test them), so they live in one table that
`polpo --help` and the README print.
"""

from __future__ import annotations

import click

from .printable import printable

OK = 0
FAILED = 1  # the mission (or task) ended failed or cancelled; or something unexpected went wrong
BAD_INPUT = 2  # usage, a missing or invalid file, an unknown or ambiguous name, not a polpo project
WAITING = 3  # the mission waits for a human: `polpo resume NAME` / `polpo approve TASK` continues it
REFUSED = 4  # the project's state refuses the command (approving a task that is not awaiting approval)
INTERRUPTED = 130  # Ctrl-C or SIGTERM: the mission is paused, `polpo resume NAME` continues it

TABLE = (
    (OK, "success (the mission completed)"),
    (FAILED, "the mission failed or was cancelled, or an unexpected error"),
    (BAD_INPUT, "bad input: usage, missing or invalid file, unknown or ambiguous name, not a polpo project"),
    (WAITING, "the mission waits for a human (a checkpoint, a blocked gate, an approval)"),
    (REFUSED, "the project's state refuses the command (e.g. approving a task that is not awaiting approval)"),
    (INTERRUPTED, "interrupted (Ctrl-C, SIGTERM): the mission is paused, `polpo resume NAME` continues it"),
)


class UserError(click.ClickException):
    """A mistake in the user's terms: one line on stderr, exit 2 (or the code given), no traceback."""

    exit_code = BAD_INPUT

    def __init__(self, message: str, code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click declares it on the class

    def show(self, file: object = None) -> None:
        click.echo(f"polpo: {printable(self.format_message())}", err=True)
