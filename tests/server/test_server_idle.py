"""A server keeps open only the projects in use: one no request has named for `idle_close` seconds,
with no run, no event subscriber and no schedule, is closed (its tail and engine stop) and reopens on
the next request with its state intact."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from server_helpers import Api

from polpo_server import PolpoServerApp


async def _opened(polpo_app: PolpoServerApp) -> set[str]:
    return {p.id for p in polpo_app.registry.open_projects}


async def test_an_unused_project_is_closed_and_reopens_on_the_next_request(papi: Api, polpo_app: PolpoServerApp,
                                                                          root_dir: Path):
    (root_dir / "side" / ".polpo").mkdir(parents=True)
    side = Api(papi.client, "project", project_id="side")
    await side.call("POST", "agents", 201, json={"name": "kept"})
    assert "side" in await _opened(polpo_app)
    assert await polpo_app.registry.close_idle(3600) == []  # used a moment ago: stays open
    closed = await polpo_app.registry.close_idle(0)
    assert "side" in closed
    assert "side" not in await _opened(polpo_app)
    assert [a["name"] for a in await side.get("agents")] == ["kept"]  # reopened, nothing lost
    assert "side" in await _opened(polpo_app)


async def test_a_project_with_a_listener_or_a_schedule_stays_open(papi: Api, polpo_app: PolpoServerApp,
                                                                 root_dir: Path):
    (root_dir / "watched" / ".polpo").mkdir(parents=True)
    (root_dir / "timed" / ".polpo").mkdir(parents=True)
    watched = await polpo_app.registry.get("watched")
    timed = Api(papi.client, "project", project_id="timed")
    await timed.call("POST", "agents", 201, json={"name": "w"})
    await timed.call("POST", "missions", 201, json={"name": "nightly", "schedule": "0 3 * * *",
                                                    "tasks": [{"title": "t", "assignTo": "w"}]})

    async def listen() -> None:
        async for _ in watched.events("*"):
            pass

    listener = asyncio.create_task(listen())
    try:
        while not watched.bus.subscriber_count:
            await asyncio.sleep(0.01)
        closed = await polpo_app.registry.close_idle(0)
        assert "watched" not in closed and "timed" not in closed
        assert {"watched", "timed"} <= await _opened(polpo_app)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    assert watched.bus.subscriber_count == 0
    assert "watched" in await polpo_app.registry.close_idle(0)  # the listener left: nothing keeps it open
