"""Auth: every verb is decorated; nothing answers without credentials (health says `ok` and no more);
the Jupyter token works as `token`, `Bearer` and `?token=`; the extension's own API key works too."""

from __future__ import annotations

import json
import re
import warnings

import httpx
import pytest
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import JupyterServerAuthWarning
from traitlets.config import Config

from polpo_server.handlers import build_handlers

SECRET = "polpo-test-key"


@pytest.fixture
def jp_server_config() -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"polpo_server": True, "jupyter_server_terminals": False},
                      "allow_unauthenticated_access": False},
        "PolpoServerApp": {"api_key": SECRET},
    })


def _concrete(pattern: str) -> str:
    return re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", lambda m: "root_dir" if m.group(1) == "projectId" else "x1", pattern)


def _requests() -> list[tuple[str, str]]:
    """(method, path below the base URL) for every route of both dialects, plus the 404 catch-alls."""
    out = []
    for pattern, _, kwargs in build_handlers("polpo"):
        routes = kwargs.get("routes") or {"GET": None, "POST": None}
        path = _concrete(pattern).replace("(?:/.*)?", "/anything")
        out += [(method, path) for method in routes]
    return out


def test_the_route_list_covers_both_dialects():
    paths = {p for _, p in _requests()}
    assert "polpo/api/v1/projects/root_dir/tasks/x1/execute" in paths and "polpo/v1/tasks/x1/execute" in paths
    assert len(_requests()) > 90


async def test_server_starts_with_no_undecorated_polpo_handler(jp_configurable_serverapp, jp_server_config):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = jp_configurable_serverapp(config=jp_server_config)
    messages = "\n".join(str(w.message) for w in caught if issubclass(w.category, JupyterServerAuthWarning))
    for handler in {h for _, h, _ in build_handlers("polpo")}:
        assert f"of {handler.__name__} registered" not in messages
    assert "without @allow_unauthenticated" not in messages, messages
    checked = 0
    for pattern, handler, _ in build_handlers("polpo"):
        assert app.web_app._check_handler_auth(pattern, handler) == [], handler
        checked += 1
    assert checked > 60


def test_the_decorator_check_would_catch_an_undecorated_verb(jp_serverapp):
    class Careless(APIHandler):
        async def get(self) -> None:  # no @web.authenticated: must be reported
            self.finish("{}")

    assert jp_serverapp.web_app._check_handler_auth("careless", Careless) != []


async def test_every_route_answers_401_or_403_without_credentials(anon: httpx.AsyncClient, jp_base_url, project):
    base = str(anon.base_url).split("/polpo/")[0] + "/"
    checked = 0
    for method, path in _requests():
        response = await anon.request(method, base + path, json={})
        if path.endswith("/health"):
            assert response.status_code == 200
            body = response.json()
            assert body in ({"status": "ok"}, {"ok": True, "data": {"status": "ok"}}), body
            continue
        assert response.status_code in (401, 403), (method, path, response.status_code, response.text)
        assert '"ok":true' not in response.text.replace(" ", "")
        checked += 1
    assert checked > 80


async def test_wrong_credentials_are_invalid_api_key(anon: httpx.AsyncClient):
    response = await anon.get("v1/tasks", headers={"Authorization": "Bearer not-the-token"})
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid API key", "code": "invalid_api_key"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = await anon.get("api/v1/projects/root_dir/tasks")
    assert response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("form", ["token", "Bearer", "query"])
async def test_the_jupyter_token_works_in_every_form(anon: httpx.AsyncClient, jp_serverapp, form: str):
    token = jp_serverapp.identity_provider.token
    kw = {"params": {"token": token}} if form == "query" else {"headers": {"Authorization": f"{form} {token}"}}
    response = await anon.get("v1/tasks", **kw)
    assert response.status_code == 200 and response.json() == []
    created = await anon.post("v1/agents", json={"name": f"by-{form.lower()}"}, **kw)  # no XSRF token needed
    assert created.status_code == 201


async def test_the_extension_api_key_works_on_polpo_routes_only(anon: httpx.AsyncClient):
    headers = {"Authorization": f"Bearer {SECRET}"}
    assert (await anon.get("v1/tasks", headers=headers)).status_code == 200
    assert (await anon.post("v1/agents", json={"name": "keyed"}, headers=headers)).status_code == 201
    jupyter_api = str(anon.base_url).replace("/polpo/", "/api/status")
    assert (await anon.get(jupyter_api, headers=headers)).status_code == 403


async def test_health_says_more_to_authenticated_clients(http: httpx.AsyncClient):
    data = (await http.get("api/v1/health")).json()["data"]
    assert data["status"] == "ok" and data["version"] and "projects" in data


async def test_jp_fetch_reaches_the_api_under_the_base_url(jp_fetch, jp_base_url):
    """pytest-jupyter's own client (token header, odd base URL) sees the same API."""
    response = await jp_fetch("polpo", "api", "v1", "projects")
    body = json.loads(response.body)
    assert body["ok"] is True and body["data"][0]["id"] == "root_dir"
    assert jp_base_url == "/a%40b/"
