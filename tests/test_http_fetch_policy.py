"""`http_fetch` reaches public hosts only, unless the project config names others; every hop is checked
on the address DNS gave, and the connection goes to that address."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from llm_script import Script, call, say, tool_returns

import polpo_nb as polpo
from polpo_nb.agents.fetch import FetchPolicy, FetchRefused, fetch
from polpo_nb.errors import SpecError

WAIT = 30


class Web:
    """A loopback server that records each request (path, Host) and redirects `/start` to `redirect_to`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.redirect_to = ""
        web = self

        class Page(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                web.seen.append((self.path, self.headers.get("host", "")))
                if self.path == "/start":
                    self.send_response(302)
                    self.send_header("location", web.redirect_to)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                body = b"secret page"
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"


@pytest.fixture
def web() -> Iterator[Web]:
    site = Web()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    yield site
    site.server.shutdown()
    site.server.server_close()


def fetch_with_agent(project: polpo.Project, url: str) -> str:
    """What an LLM agent's http_fetch call of `url` answers the model."""
    script = Script(call("http_fetch", url=url), say("done"))
    project.models.register("scripted", script.model)
    mission = polpo.Mission.model_validate({"name": "m", "tasks": [{"title": "t", "assignTo": "a"}],
                                            "team": {"agents": [{"name": "a", "model": "scripted"}]}})
    project.execute(mission).wait(WAIT)
    [answer] = tool_returns(script.calls[-1]["messages"])
    return str(answer.content)


def stub_resolver(table: dict[str, list[str]], calls: list[str]):
    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return table[host]
    return resolve


# == through an agent ==================================================================================

def test_an_agent_reaching_for_a_loopback_server_is_refused(project, web):
    answer = fetch_with_agent(project, f"{web.url}/page")
    assert answer.startswith("refused:") and "loopback" in answer and "httpFetchAllowHosts" in answer
    assert web.seen == []  # refused before connecting


def test_a_loopback_server_is_reached_when_the_config_allows_it(project_dir: Path, web):
    project = polpo.Project(project_dir, config={"httpFetchAllowHosts": ["127.0.0.1"]})
    try:
        answer = fetch_with_agent(project, f"{web.url}/page")
    finally:
        project.close()
    assert answer == "HTTP 200 text/plain\nsecret page"
    assert web.seen == [("/page", f"127.0.0.1:{web.port}")]


def test_an_agent_following_a_redirect_to_a_refused_host_is_refused(project_dir: Path, web):
    project = polpo.Project(project_dir, config={"httpFetchAllowHosts": ["127.0.0.1"]})
    web.redirect_to = "http://169.254.169.254/latest/meta-data/"
    try:
        answer = fetch_with_agent(project, f"{web.url}/start")
    finally:
        project.close()
    assert answer.startswith("refused:") and "169.254.169.254 is a cloud metadata address" in answer
    assert web.seen == [("/start", f"127.0.0.1:{web.port}")]


# == the policy, hop by hop ============================================================================

def test_a_redirect_from_an_allowed_host_to_a_refused_one_is_refused(web):
    calls: list[str] = []
    web.redirect_to = f"http://127.0.0.1:{web.port}/secret"  # an address no entry allows
    policy = FetchPolicy.from_config(["allowed.test"])
    with pytest.raises(FetchRefused, match="127.0.0.1 is a loopback address"):
        asyncio.run(fetch(f"http://allowed.test:{web.port}/start", policy=policy, max_bytes=1000,
                          resolve=stub_resolver({"allowed.test": ["127.0.0.1"]}, calls)))
    assert web.seen == [("/start", f"allowed.test:{web.port}")]


def test_the_connection_goes_to_the_address_that_was_checked(web):
    """The name is resolved once per hop, by the policy; the client never looks it up again (a rebinding
    DNS answer cannot switch the address), and the server still sees the name as Host."""
    calls: list[str] = []
    policy = FetchPolicy.from_config(["127.0.0.1"])
    got = asyncio.run(fetch(f"http://rebind.test:{web.port}/page", policy=policy, max_bytes=1000,
                            resolve=stub_resolver({"rebind.test": ["127.0.0.1"]}, calls)))
    assert (got.status, got.body) == (200, b"secret page")
    assert calls == ["rebind.test"]  # rebind.test exists only in the stub: the connection used its answer
    assert web.seen == [("/page", f"rebind.test:{web.port}")]


def test_a_name_with_any_internal_address_is_refused(web):
    calls: list[str] = []
    resolve = stub_resolver({"mixed.test": ["93.184.216.34", "127.0.0.1"]}, calls)
    with pytest.raises(FetchRefused, match=r"mixed.test \(127.0.0.1\) is a loopback address"):
        asyncio.run(fetch(f"http://mixed.test:{web.port}/page", policy=FetchPolicy(), max_bytes=1000, resolve=resolve))
    assert web.seen == []


def test_a_metadata_service_name_is_refused_without_a_lookup():
    async def never(host: str, port: int) -> list[str]:
        raise AssertionError("looked up")
    with pytest.raises(FetchRefused, match="cloud metadata service"):
        asyncio.run(fetch("http://metadata.google.internal/computeMetadata/v1/", policy=FetchPolicy(),
                          max_bytes=1000, resolve=never))


@pytest.mark.parametrize(("address", "kind"), [
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"), ("100.100.100.200", "cloud metadata"),
    ("127.0.0.1", "loopback"), ("127.1.2.3", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fc00::1", "private"),
    ("0.0.0.0", "private"), ("100.64.0.1", "non-public"),
])
def test_internal_addresses_are_refused_by_kind(address, kind):
    reason = FetchPolicy().refusal("h.test", address)
    assert reason is not None and f"is a {kind} address" in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert FetchPolicy().refusal("h.test", address) is None


def test_allow_entries_name_hosts_addresses_and_networks():
    policy = FetchPolicy.from_config(["Intranet.Example", "127.0.0.1", "10.0.0.0/8"])
    assert policy.refusal("intranet.example", "192.168.1.1") is None  # a named host, whatever it resolves to
    assert policy.refusal("other.test", "127.0.0.1") is None
    assert policy.refusal("other.test", "10.20.30.40") is None
    assert policy.refusal("other.test", "127.0.0.2") is not None
    assert ipaddress.ip_network("10.0.0.0/8") in policy.networks


def test_an_invalid_allow_entry_is_refused_by_the_config(project_dir: Path):
    with pytest.raises(SpecError, match="httpFetchAllowHosts"):
        polpo.Project(project_dir, config={"httpFetchAllowHosts": ["not a host!"]})
