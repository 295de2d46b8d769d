"""Fixtures of the server tests: a real Jupyter server (pytest-jupyter) with polpo_server enabled.

pytest-jupyter's fixtures are imported here rather than with a root `pytest_plugins`, so its autouse
fixtures and hooks apply to this directory only. The server runs on the test's own event loop (the
one pytest-asyncio gives each test), so handlers, the engine and the test share one loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403 - fixtures of a real server, scoped to tests/server
from server_helpers import Api
from traitlets.config import Config

from polpo_nb import AsyncProject
from polpo_server import PolpoServerApp, get_app

KEEPALIVE = 0.2  # seconds: keep-alive comments show up quickly in tests


@pytest.fixture
async def jp_asyncio_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    """The server's loop is the test's loop."""
    yield asyncio.get_running_loop()


@pytest.fixture
def jp_base_url() -> str:
    return "/a%40b/"  # an escaped character in the base URL catches prefix bugs


@pytest.fixture
def jp_server_config() -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"polpo_server": True}},
        "PolpoServerApp": {"sse_keepalive": KEEPALIVE},
    })


@pytest.fixture
def polpo_app(jp_serverapp) -> PolpoServerApp:  # noqa: F811
    return get_app(jp_serverapp)


@pytest.fixture
async def project(polpo_app: PolpoServerApp) -> AsyncProject:
    """The default project (the server's root directory), as the server opened it."""
    return await polpo_app.registry.default()


@pytest.fixture
def root_dir(jp_root_dir: Path) -> Path:  # noqa: F811
    return Path(jp_root_dir)


@pytest.fixture
async def http(http_server, jp_http_port, jp_base_url, jp_auth_header) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    """An httpx client at `{base_url}polpo/`, authenticated with the server's token."""
    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}polpo/"
    async with httpx.AsyncClient(base_url=base, headers=jp_auth_header, timeout=30) as client:
        yield client


@pytest.fixture
async def anon(http_server, jp_http_port, jp_base_url) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}polpo/"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield client


@pytest.fixture(params=["project", "flat"])
def api(request: pytest.FixtureRequest, http: httpx.AsyncClient) -> Api:
    """The API in one dialect (each test runs in both)."""
    return Api(http, request.param)


@pytest.fixture
def papi(http: httpx.AsyncClient) -> Api:
    return Api(http, "project")


@pytest.fixture
def fapi(http: httpx.AsyncClient) -> Api:
    return Api(http, "flat")


@pytest.fixture
def ws_url(jp_http_port, jp_base_url) -> str:  # noqa: F811
    return f"ws://127.0.0.1:{jp_http_port}{jp_base_url}polpo/"
