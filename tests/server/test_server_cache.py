"""Cached reads: the same answer while the state is unchanged, an ETag that `If-None-Match` turns into a
304, and a fresh answer as soon as anything commits (in this process or another one)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from server_helpers import Api


async def test_if_none_match_gets_a_304_until_the_state_changes(api: Api):
    await api.call("POST", "agents", 201, json={"name": "w"})
    first = await api.request("GET", "agents")
    etag = first.headers["ETag"]
    again = await api.request("GET", "agents", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert (await api.request("GET", "agents")).headers["ETag"] == etag  # unchanged state, same tag

    await api.call("POST", "agents", 201, json={"name": "w2"})
    changed = await api.request("GET", "agents", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert [a["name"] for a in api.data(changed)] == ["w", "w2"]


async def test_the_etag_depends_on_the_query(api: Api):
    await api.call("POST", "agents", 201, json={"name": "w"})
    await api.call("POST", "tasks", 201, json={"title": "t", "assignTo": "w"})
    every = await api.request("GET", "tasks")
    drafts = await api.request("GET", "tasks", params={"status": "done"})
    assert every.headers["ETag"] != drafts.headers["ETag"]
    assert len(api.data(every)) == 1 and api.data(drafts) == []
    response = await api.request("GET", "tasks", params={"status": "done"}, headers={"If-None-Match": every.headers["ETag"]})
    assert response.status_code == 200


async def test_a_commit_by_another_process_invalidates_the_cache(api: Api, root_dir: Path):
    await api.call("POST", "agents", 201, json={"name": "w"})
    before = await api.request("GET", "agents")
    script = ("import sys, polpo_nb as polpo\n"
              "with polpo.Project(sys.argv[1]) as p:\n"
              "    p.add_agent({'name': 'from-elsewhere'})\n")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(root_dir))
    assert await proc.wait() == 0
    after = await api.request("GET", "agents", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert [a["name"] for a in api.data(after)] == ["w", "from-elsewhere"]
