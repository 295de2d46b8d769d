"""The `polpo` command group: global options, error handling, exit codes.

Every command's mistakes end the same way: one line on stderr in the user's terms and an exit code
from `exits.TABLE`; a traceback only with `--debug`.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import click

from .. import __version__
from ..errors import ConflictError, NotFoundError, PolpoError, SpecError
from . import exits, logs
from .printable import printable

EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in exits.TABLE)


class _Settings:
    debug = False


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "--version", "-V", prog_name="polpo", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
def cli(debug: bool) -> None:
    """polpo: run missions (DAGs of tasks played by teams of agents) and look at a project.

    Every command works on the project in --project DIR (default: the current directory).
    `polpo init` makes a runnable example; `polpo run mission.yaml` runs it.
    """
    _Settings.debug = debug


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: run a command, map what it raises to one line and an exit code."""
    CLOSED_AT_START.update(open_standard_streams())
    logs.install()
    args = list(sys.argv[1:] if argv is None else argv)
    _Settings.debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="polpo", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("polpo: interrupted", err=True)
        return exits.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exits.BAD_INPUT if isinstance(exc, click.UsageError) else exc.exit_code
    except (SpecError, NotFoundError) as exc:
        return _fail(exc, exc.message, exits.BAD_INPUT)
    except ConflictError as exc:
        return _fail(exc, exc.message, exits.REFUSED)
    except PolpoError as exc:
        return _fail(exc, exc.message, exits.FAILED)
    except OSError as exc:
        return _fail(exc, f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), exits.BAD_INPUT)
    except Exception as exc:  # noqa: BLE001 - an unexpected failure is still one line (or a traceback with --debug)
        return _fail(exc, f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)", exits.FAILED)
    return code if isinstance(code, int) else exits.OK


#: The standard streams this process was started without (`polpo mcp` refuses to run so: they are its protocol).
CLOSED_AT_START: set[str] = set()

_STANDARD = ((0, "stdin", os.O_RDONLY, "r"), (1, "stdout", os.O_WRONLY, "w"), (2, "stderr", os.O_WRONLY, "w"))


def open_standard_streams() -> list[str]:
    """Give a standard descriptor closed at start-up (a supervisor's `<&-` or `>&-`) the null device, as
    if the command had been given /dev/null; returns the names of those that were closed. Else the next
    file opened (the project's database) would be given its number, and what a child process writes to
    its stdout would land in that file; and Python leaves `sys.stdout` None, which ended every command
    that prints in an AttributeError. Output sent nowhere is what `>&-` asks for; the exit code still
    says how the command went."""
    closed = []
    for fd, name, flags, mode in _STANDARD:
        try:
            os.fstat(fd)
        except OSError:
            closed.append(name)
            null = os.open(os.devnull, flags)  # the lowest free number: `fd` itself, unless a lower one is free too
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115 - the process's own stream, for its life
    return closed


def _fail(exc: BaseException, message: str, code: int) -> int:
    if _Settings.debug:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"polpo: {printable(message)}", err=True)
    return code
