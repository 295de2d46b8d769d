"""`polpo keys create|list|revoke`: the project's API keys, beside a running server or without one.

The registry is the project's `state.db` (polpo_nb.project.keys): no engine is opened, and a server
serving the project refuses a revoked key from its very next request.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..project.keys import ApiKeys
from .app import cli
from .exits import OK, UserError
from .options import json_option, print_json, print_table, project_option, say
from .workspace import is_project


def _keys(project_dir: str) -> ApiKeys:
    root = Path(project_dir).expanduser()
    if not root.is_dir():
        raise UserError(f"no such directory: {project_dir}")
    if not is_project(root):
        raise UserError(f"not a polpo project: {project_dir} (no .polpo/ here; `polpo init` makes one)")
    return ApiKeys(root)


@cli.group(short_help="Create, list and revoke the project's API keys.")
def keys() -> None:
    """The project's API keys for `polpo serve` and the Jupyter extension: `sk_live_...` keys open the
    project, `sk_test_...` keys open it for dry runs (LLM agents and judges on the offline `test` model)."""


@keys.command(short_help="Create a key (printed once).")
@click.argument("name")
@click.option("--test", "test_key", is_flag=True, help="A sk_test_ key: the runs it starts are dry runs.")
@json_option
@project_option
def create(name: str, test_key: bool, as_json: bool, project_dir: str) -> int:
    """Create a key named NAME; its text is printed this once and kept nowhere."""
    made = _keys(project_dir).create(name, kind="test" if test_key else "live")
    if as_json:
        print_json(made)
    else:
        say(made.key)
        click.echo(f"polpo: API key {made.name!r} ({made.id}, {made.kind}) created; it is shown only now", err=True)
    return OK


@keys.command(name="list", short_help="List the keys (never their text).")
@click.option("--all", "with_revoked", is_flag=True, help="Revoked keys too.")
@json_option
@project_option
def list_keys(with_revoked: bool, as_json: bool, project_dir: str) -> int:
    found = _keys(project_dir).list(revoked=with_revoked)
    if as_json:
        print_json(found)
        return OK
    print_table(["ID", "NAME", "KIND", "PREFIX", "CREATED", "LAST USED", "REVOKED"],
                [(k.id, k.name, k.kind, k.prefix + "…", k.created_at, k.last_used_at or "never", k.revoked_at or "")
                 for k in found], empty="no API keys")
    return OK


@keys.command(short_help="Revoke a key, by id or name.")
@click.argument("ref")
@json_option
@project_option
def revoke(ref: str, as_json: bool, project_dir: str) -> int:
    """Revoke the active key with id or name REF: every server refuses it from its next request on."""
    revoked = _keys(project_dir).revoke(ref)
    if as_json:
        print_json(revoked)
    else:
        say(f"revoked {revoked.name} ({revoked.id})")
    return OK
