"""Every route of the table, in both dialects, on a real Jupyter server: the seed-000 tour."""

from __future__ import annotations

import asyncio

from tour import every_route

from polpo_nb import AsyncProject


def _agents(project: AsyncProject) -> asyncio.Event:
    """w: writes a file and a log line; boom: raises; gated: waits for the returned event."""
    gate = asyncio.Event()

    @project.agent("w")
    def work(task, ctx):
        ctx.log(f"working on {task.title}")
        ctx.output(f"out:{task.title}")
        (ctx.output_dir / "report.md").write_text(f"# {task.title}\n")
        return {"content": f"did {task.title}", "filesCreated": [".polpo/output/report.md"]}

    @project.agent("boom")
    def boom(task, ctx):
        raise RuntimeError("agent exploded")

    @project.agent("gated")
    async def gated(task, ctx):
        await gate.wait()
        return "released"

    project.judge(lambda expectation, task, result: (4.5, "fine"))
    return gate


async def test_every_route_answers_in_both_dialects(api, project: AsyncProject, ws_url, jp_auth_header):
    gate = _agents(project)
    await every_route(api, ws_url, jp_auth_header, release=gate.set, score=4.5)
