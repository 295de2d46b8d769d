"""`polpo serve`: the project's REST, SSE and WebSocket API without a notebook (polpo_server)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .app import cli
from .exits import OK, UserError
from .options import project_option


@cli.command(short_help="Serve the project's HTTP API.")
@click.option("--port", type=int, default=3000, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (others need --api-key).")
@click.option("--api-key", default=lambda: os.environ.get("POLPO_API_KEY"), show_default="$POLPO_API_KEY",
              help="Every request must send Authorization: Bearer KEY.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="URL",
              help="An origin whose web pages may read the answers (repeat it; `*` for any). None by default.")
@project_option
def serve(port: int, host: str, api_key: str | None, cors_origins: tuple[str, ...], project_dir: str) -> int:
    """Serve the project's REST, SSE and WebSocket API (and the OpenAI-compatible chat) until Ctrl-C."""
    from polpo_server.serve import serve as run_server

    if not Path(project_dir).expanduser().is_dir():  # as every command says it (the server's own error is a trait's)
        raise UserError(f"no such directory: {project_dir}")
    run_server(port=port, host=host, project=project_dir, api_key=api_key, cors_origins=cors_origins)
    return OK
