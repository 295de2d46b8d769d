"""The `polpo` command group: global options, error handling, exit codes.

Every command's mistakes end the same way: one line on stderr in the user's terms and an exit code
from `exits.TABLE`; a traceback only with `--debug`.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from .. import __version__
from ..errors import ConflictError, NotFoundError, PolpoError, SpecError
from . import exits
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


def _fail(exc: BaseException, message: str, code: int) -> int:
    if _Settings.debug:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"polpo: {printable(message)}", err=True)
    return code
