"""The default project as an MCP server over streamable HTTP, behind the server's authentication:
`/mcp` on `polpo serve` (Bearer key) and `{base_url}polpo/mcp` on Jupyter (its token), driven by the
official `mcp` client (tests/mcp_scenario.py); 401 without credentials."""

from __future__ import annotations

from pathlib import Path

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_scenario import drive, write_agents
from server_helpers import free_port, start_serve, stop_serve

KEY = "mcp-test-key"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "anonymous", "version": "0"}}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


async def _drive(url: str, headers: dict[str, str]) -> None:
    async with httpx2.AsyncClient(headers=headers, timeout=90) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        await drive(client)


async def test_mcp_on_polpo_serve_behind_the_api_key(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    write_agents(root)
    port = free_port()
    proc = start_serve(root, port=port, key=KEY, log=tmp_path / "serve.log")
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx.AsyncClient() as anon:
            refused = await anon.post(url, json=INITIALIZE, headers=ACCEPT)
            wrong = await anon.post(url, json=INITIALIZE, headers={**ACCEPT, "Authorization": "Bearer nope"})
        assert refused.status_code == 401 and wrong.status_code == 401
        assert refused.json()["code"] == "unauthorized"
        await _drive(url, {"Authorization": f"Bearer {KEY}"})
    finally:
        assert stop_serve(proc) is not None


async def test_mcp_on_jupyter_behind_its_token(http_server, jp_http_port, jp_base_url, jp_auth_header,
                                               root_dir: Path):
    write_agents(root_dir)
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}polpo/mcp"
    async with httpx.AsyncClient() as anon:
        refused = await anon.post(url, json=INITIALIZE, headers=ACCEPT)
    assert refused.status_code == 401
    await _drive(url, dict(jp_auth_header))
