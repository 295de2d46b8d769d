"""The default project as an MCP server over streamable HTTP, behind the server's authentication:
`/mcp` on `polpo serve` (Bearer key) and `{base_url}polpo/mcp` on Jupyter (its token), driven by the
official `mcp` client (tests/mcp_scenario.py); 401 without credentials."""

from __future__ import annotations

import json
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


async def test_agents_take_mcp_servers_over_http_and_literal_secrets_are_never_answered(api, project, root_dir):
    refused = await api.request("POST", "agents", json={"name": "dev", "mcpServers": {"gh": {"command": "npx"}}})
    assert "which the project config does not list in mcpCommands" in api.error(refused, 400)["error"]
    (root_dir / "polpo.json").write_text(json.dumps({  # read at the next use
        "mcpCommands": ["npx"],
        "mcpServers": {"shared": {"type": "sse", "url": "https://x.example/sse", "headers": {"K": "literal"}}}}))
    assert (await api.get("config"))["mcpServers"]["shared"]["headers"] == {"K": "[redacted]"}
    servers = {"gh": {"command": "npx", "args": ["-y", "server-github"],
                      "env": {"TOKEN": "${GITHUB_TOKEN}", "PLAIN": "literal-secret"}},
               "web": {"type": "http", "url": "https://mcp.example/mcp", "headers": {"Authorization": "Bearer lit"}}}
    created = await api.call("POST", "agents", 201, json={"name": "dev", "model": "test", "mcpServers": servers})
    listed = await api.get("agents")
    mission = await api.call("POST", "missions", 201, json={
        "name": "m", "tasks": [{"title": "T", "assignTo": "helper"}],
        "team": {"agents": [{"name": "helper", "model": "test", "mcpServers": servers}]}})
    for shown in (created["mcpServers"], listed[0]["mcpServers"], mission["team"]["agents"][0]["mcpServers"]):
        assert shown["gh"]["env"] == {"TOKEN": "${GITHUB_TOKEN}", "PLAIN": "[redacted]"}
        assert shown["web"]["headers"] == {"Authorization": "[redacted]"} and shown["gh"]["args"][1] == "server-github"
    stored = next(a for a in await project.list_agents() if a.name == "dev")
    assert stored.mcp_servers["gh"].env["PLAIN"] == "literal-secret"  # the store keeps what was written
    refused = await api.request("POST", "agents", json={"name": "x", "mcpServers": {"s": {"type": "ws", "url": "x"}}})
    assert "type must be 'stdio'" in api.error(refused, 400)["error"]


async def test_the_execute_streams_final_mission_hides_its_teams_literal_secrets(fapi, root_dir: Path):
    write_agents(root_dir)
    servers = {"web": {"type": "http", "url": "https://x.example/mcp", "headers": {"Authorization": "Bearer lit"}}}
    mission = await fapi.call("POST", "missions", 201, json={
        "name": "streamed", "tasks": [{"title": "T", "assignTo": "greeter"}],
        "team": {"agents": [{"name": "greeter", "handler": "mcp_agents:greet", "mcpServers": servers}]}})
    events = await fapi.stream("POST", f"missions/{mission['id']}/execute", until=lambda n, d: n == "mission:done")
    name, done, _ = events[-1]
    assert name == "mission:done" and done["status"] == "completed"
    assert done["team"]["agents"][0]["mcpServers"]["web"]["headers"] == {"Authorization": "[redacted]"}


async def test_mcp_refuses_json_the_rest_api_refuses(http_server, jp_http_port, jp_base_url, jp_auth_header,
                                                     root_dir: Path):
    """One JSON for every body: a key given twice (which would be read as its last value), NaN, a lone
    surrogate are refused with a JSON-RPC parse error naming the problem, as the REST API refuses them
    (400), never handed to the SDK, which took the last of two keys."""
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}polpo/mcp"
    headers = {**ACCEPT, **dict(jp_auth_header), "Content-Type": "application/json"}
    initialize = json.dumps(INITIALIZE)
    bodies = {
        "duplicate": (initialize[:-1] + ', "id": 2}', "duplicate key 'id'"),
        "NaN": (initialize.replace('"capabilities": {}', '"capabilities": {"x": NaN}'), "params.capabilities.x: nan is not a number JSON has"),
        "surrogate": (initialize.replace('"anonymous"', '"\\ud800"'), "surrogate"),
    }
    async with httpx.AsyncClient(timeout=30) as http:
        sane = await http.post(url, content=initialize, headers=headers)
        answers = {name: await http.post(url, content=body, headers=headers) for name, (body, _) in bodies.items()}
    assert sane.status_code == 200, sane.text
    for name, (_, says) in bodies.items():
        answer = answers[name]
        assert answer.status_code == 400, (name, answer.text)
        error = answer.json()
        assert error["jsonrpc"] == "2.0" and error["id"] is None and error["error"]["code"] == -32700, (name, error)
        assert says in error["error"]["message"], (name, error)
