"""`polpo usage`: what the project (or one mission) spent, by agent, task, model, mission or kind; and
the one-line spend summary `polpo show` prints under a mission."""

from __future__ import annotations

import click

from ..usage.rollup import GROUPINGS, MissionUsage, UsageTotals
from .app import cli
from .options import json_option, print_json, print_table, project_option
from .workspace import find_mission, opened


def money(totals: UsageTotals) -> str:
    """USD of the priced calls, and the unpriced ones said apart (never shown as $0)."""
    cost = f"${totals.cost_usd:.4f}" if totals.cost_usd is not None else ""
    if not totals.unpriced_requests:
        return cost or "$0.0000"
    unpriced = f"{totals.unpriced_requests} unpriced call{'s' if totals.unpriced_requests != 1 else ''}"
    return f"{cost} + {unpriced}" if cost else unpriced


def spend_line(totals: UsageTotals) -> str:
    """`12,345 tokens (in 10,000, out 2,345, cached 1,000), 7 requests, 3 tool calls, $0.0123, 12.3 s`."""
    return (f"{totals.total_tokens:,} tokens (in {totals.input_tokens:,}, out {totals.output_tokens:,}, cached "
            f"{totals.cached_tokens:,}), {totals.requests} requests, {totals.tool_calls} tool calls, {money(totals)}, "
            f"{totals.duration_ms / 1000:.1f} s")


def budget_line(usage: MissionUsage) -> str | None:
    if not usage.budget_used:
        return None
    return ", ".join(f"{u['limit']} {float(u['used']):g} of {float(u['max']):g}" for u in usage.budget_used)


@cli.command(short_help="What was spent: tokens, requests, USD, time.")
@click.argument("mission_ref", metavar="[MISSION]", required=False)
@click.option("--by", type=click.Choice(GROUPINGS), default="agent", show_default=True,
              help="One row per agent (the judge's and chat's apart), task, model, mission or kind.")
@json_option
@project_option
def usage(mission_ref: str | None, by: str, as_json: bool, project_dir: str) -> None:
    """What the project, or MISSION, spent on models: tokens (in, out, cached), requests, tool calls, USD
    and wall time, by agent, task, model, mission or kind. Calls no price is known for are counted
    apart (`unpriced`), never as free: set `prices` in the project config for custom endpoints."""
    with opened(project_dir) as project:
        mission = find_mission(project, mission_ref).id if mission_ref else None
        lines = project.usage(by, mission=mission)
    if as_json:
        print_json(lines)
        return
    print_table([by, "tokens", "in", "out", "cached", "requests", "tool calls", "USD", "unpriced calls", "time (s)"],
                [(line.label or line.key, f"{line.total_tokens:,}", f"{line.input_tokens:,}", f"{line.output_tokens:,}",
                  f"{line.cached_tokens:,}", line.requests, line.tool_calls,
                  "" if line.cost_usd is None else f"{line.cost_usd:.4f}", line.unpriced_requests or "",
                  f"{line.duration_ms / 1000:.1f}") for line in lines], empty="nothing spent yet")
