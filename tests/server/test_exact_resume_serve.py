"""Exact resume (issue 22) on a real `polpo serve`: SIGKILLed at each point of an LLM attempt, started
again on the same project and port, `resume` repeats no completed model call and no completed tool call.

The scenario and its checks are tests/exact_resume_scenario.py's, shared with the notebook-style
`Project` process test (tests/test_exact_resume.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from exact_resume_scenario import (
    MISSION,
    POINTS,
    Page,
    Scripted,
    check_one_attempt,
    check_requests,
    make_project,
    normalized,
    reference,
    serve_page,
)
from server_helpers import WAIT, free_port, start_serve, stop_serve, until

import polpo_nb as polpo

KEY = "sk_exact"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def page() -> Iterator[Page]:
    with serve_page(Page()) as p:
        yield p


async def _wait(check) -> None:  # noqa: ANN001 - a condition on the test's threads
    async def ready() -> bool:
        return bool(check())
    await until(ready)


@pytest.mark.parametrize("point", list(POINTS))
async def test_sigkill_of_polpo_serve_then_resume_repeats_nothing_completed(tmp_path: Path, page: Page, point: str):
    blocker, in_flight = POINTS[point]
    expected, uninterrupted = await asyncio.to_thread(reference, tmp_path, page, WAIT)
    port, log = free_port(), tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}/"
    with Scripted(page, block_at=in_flight if blocker == "model" else None) as model:
        root = make_project(tmp_path / "run" / "proj", model.server.base_url, shell_blocks=blocker == "shell")
        page.block = blocker == "page"
        first = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log)
        try:
            async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=WAIT) as client:
                created = await client.post("v1/missions", json=MISSION)
                assert created.status_code == 201, created.text
                mid = created.json()["id"]
                started = await client.post(f"v1/missions/{mid}/execute", headers={"Accept": "application/json"})
                assert started.status_code == 200, started.text
            if blocker == "model":
                await _wait(lambda: model.arrived.is_set() or first.poll() is not None)
            elif blocker == "page":
                await _wait(lambda: page.arrived.is_set() or first.poll() is not None)
            else:
                await _wait(lambda: (root / "tally.txt").exists() or first.poll() is not None)
            assert first.poll() is None, "the server ended before the kill point"
            os.kill(first.pid, signal.SIGKILL)
            assert await asyncio.to_thread(first.wait, WAIT) == -signal.SIGKILL
        finally:
            if first.poll() is None:
                first.kill()
        page.block = False
        page.release.set()
        (root / "release").write_text("")  # a shell command still waiting (orphaned) ends

        second = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log)
        try:
            async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=WAIT) as client:
                resumed = await client.post(f"v1/missions/{mid}/resume", json={})
                assert resumed.status_code == 200, resumed.text

                async def settled() -> dict | None:
                    mission = (await client.get(f"v1/missions/{mid}")).json()
                    return mission if mission["status"] != "active" else None
                mission = await until(settled)
                task = mission["tasks"][0]
                attempts_done = task["status"]
        finally:
            assert await asyncio.to_thread(stop_serve, second) == 0
        received = normalized(model.requests, root)

    with polpo.Project(root) as project:  # the attempts and the transcript, as the store keeps them
        attempts = project.attempts(task["id"])
        transcript = [e.message for e in project.log(f"{task['id']}-{attempts[-1].number}")]

    assert mission["status"] == "completed" and attempts_done == "done", log.read_text()[-3000:]
    assert task["result"]["content"] == "all done"
    check_requests(received, expected, model.requests, point)
    assert (root / "tally.txt").read_text().count("ran") == 1
    assert page.hits == (2 if blocker == "page" else 1)
    check_one_attempt(point, [a.status for a in attempts], transcript)
    if blocker != "shell":
        assert task["result"]["usage"] == uninterrupted["usage"]
