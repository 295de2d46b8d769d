"""The bad-input corpus (issue 11): what an attacker or a careless client sends, against a real
`polpo serve` subprocess and against the Jupyter extension.

For each case: the status, an error message naming the problem, the server still answering, the store
intact (`PRAGMA integrity_check`), and no row written by the refused request. WebSocket cases check
the `{"type": "error"}` reply and that the socket is still usable; the log is checked for secrets.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import WAIT, free_port, start_serve, stop_serve
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from polpo_nb.events.filters import EventFilter
from polpo_nb.spec.jsonbody import MAX_DEPTH
from polpo_server.limits import MAX_PATTERN_LENGTH, MAX_PATTERNS

KEY = "sk_corpus_5ecret_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
JSON = {"Content-Type": "application/json"}
TABLES = ("tasks", "missions", "agents", "chat_sessions", "chat_messages", "kv")
PROJECT = "corpus"

DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
TOO_DEEP = '{"title":"p","assignTo":"dev","metadata":' + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "}"
LONG_NAME = "a" * 256
TASK = "t-existing"  # replaced by the real id of the task the fixture creates


@dataclass
class Case:
    """One bad request: `path` relative to the dialect's project root (`server=True`: to the API root)."""

    id: str
    method: str
    path: str
    status: int
    needle: str  # what the error message must name (case-insensitive)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    auth: bool = True


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


CASES = [
    # -- non-finite numbers (item 1) --
    Case("nan-priority", "POST", "tasks", 400, "priority", _raw('{"title":"p","assignTo":"dev","priority":NaN}')),
    Case("infinity-priority", "POST", "tasks", 400, "priority",
         _raw('{"title":"p","assignTo":"dev","priority":Infinity}')),
    Case("1e999-priority", "POST", "tasks", 400, "priority", _raw('{"title":"p","assignTo":"dev","priority":1e999}')),
    Case("nan-patch", "PATCH", "tasks/{task}", 400, "priority", _raw('{"priority":-Infinity}')),
    Case("nan-mission", "POST", "missions", 400, "priority",
         _raw('{"name":"m-nan","tasks":[{"title":"a","assignTo":"dev","priority":NaN}]}')),
    Case("nan-chat", "POST", "chat/completions", 400, "temperature",
         _raw('{"messages":[{"role":"user","content":"hi"}],"temperature":NaN}')),
    # -- nesting (item 4) --
    Case("deep-task", "POST", "tasks", 400, "nested", _raw(DEEP_OBJECT)),
    Case("deep-mission", "POST", "missions", 400, "nested", _raw(DEEP)),
    Case("deep-patch", "PATCH", "tasks/{task}", 400, "nested", _raw(DEEP_OBJECT)),
    Case("deep-chat", "POST", "chat/completions", 400, "nested", _raw(DEEP_OBJECT)),
    Case("deeper-than-limit", "POST", "tasks", 400, "nested", _raw(TOO_DEEP)),
    # -- other former 500s (item 5) --
    Case("surrogate-memory", "PUT", "memory", 400, "surrogate", _raw('{"content":"\\ud800"}')),
    Case("surrogate-title", "POST", "tasks", 400, "surrogate", _raw('{"title":"\\udfff","assignTo":"dev"}')),
    Case("chat-part-not-text", "POST", "chat/completions", 400, "text",
         _raw('{"messages":[{"role":"user","content":[{"type":"text","text":5}]}]}')),
    Case("files-list-long-name", "GET", "files/list", 400, "too long", params={"path": LONG_NAME}),
    Case("files-read-long-name", "GET", "files/read", 400, "too long", params={"path": LONG_NAME}),
    Case("files-preview-long-name", "GET", "files/preview", 400, "too long", params={"path": LONG_NAME}),
    Case("last-event-id-4301-digits", "GET", "events", 400, "event id", headers={"Last-Event-ID": "9" * 4301}),
    Case("query-last-event-id-4301-digits", "GET", "events", 400, "event id", params={"lastEventId": "9" * 4301}),
    # an empty filter listed everything, where an empty status is refused
    Case("query-empty-group", "GET", "tasks", 400, "group", params={"group": ""}),
    Case("query-empty-assign-to", "GET", "tasks", 400, "assignTo", params={"assignTo": ""}),
    Case("query-arabic-indic-event-id", "GET", "events", 400, "event id", params={"lastEventId": "\u0663"}),
    # -- the document's truth (item 6) --
    Case("patch-empty", "PATCH", "tasks/{task}", 400, "at least one field", b""),
    Case("patch-empty-object", "PATCH", "tasks/{task}", 400, "at least one field", b"{}"),
    Case("volatile-0", "POST", "agents", 400, "volatile", _raw('{"name":"v0","volatile":0}')),
    Case("side-effects-yes", "POST", "tasks", 400, "sideEffects", _raw('{"title":"p","assignTo":"dev","sideEffects":"yes"}')),
    Case("priority-true", "POST", "tasks", 400, "priority", _raw('{"title":"p","assignTo":"dev","priority":true}')),
    Case("max-retries-string", "POST", "tasks", 400, "maxRetries", _raw('{"title":"p","assignTo":"dev","maxRetries":"3"}')),
    Case("method-not-allowed", "PUT", "tasks", 405, "allowed", b"{}"),
    Case("ws-without-upgrade", "GET", "ws", 400, "websocket"),
    # -- a key given twice (the last one used to win, silently) --
    Case("duplicate-key-task", "POST", "tasks", 400, "duplicate key 'title'",
         _raw('{"title":"first","assignTo":"dev","title":"second"}')),
    Case("duplicate-key-mission", "POST", "missions", 400, "duplicate key 'tasks'",
         _raw('{"name":"m-dup","tasks":[{"title":"a","assignTo":"dev"}],"tasks":[]}')),
    # -- a schedule that never occurs (a 500: croniter raised at the save) --
    Case("cron-never-occurs", "POST", "missions", 400, "never occurs",
         _raw('{"name":"m-feb30","schedule":"0 0 30 2 *","tasks":[{"title":"a","assignTo":"dev"}]}')),
    # -- what already held --
    Case("invalid-json", "POST", "tasks", 400, "invalid json", b'{"title": '),
    Case("not-an-object", "POST", "tasks", 400, "object", b"[1, 2]"),
    Case("wrong-type", "POST", "tasks", 400, "title", _raw('{"title":5,"assignTo":"dev"}')),
    Case("unknown-field", "POST", "tasks", 400, "hacker", _raw('{"title":"p","assignTo":"dev","hacker":1}')),
    Case("unknown-patch-field", "PATCH", "tasks/{task}", 400, "status", _raw('{"status":"done"}')),
    Case("ten-megabytes", "POST", "tasks", 413, "bytes",
         _raw(json.dumps({"title": "x" * 10_000_000, "assignTo": "dev"}))),
    Case("not-utf8", "POST", "tasks", 400, "invalid json", b'{"title":"\xff\xfe","assignTo":"dev"}'),
    Case("chat-no-messages", "POST", "chat/completions", 400, "messages", _raw('{"messages":[]}')),
    Case("chat-bad-role", "POST", "chat/completions", 400, "role", _raw('{"messages":[{"role":"wizard","content":"x"}]}')),
    Case("garbage-last-event-id", "GET", "events", 400, "event id", headers={"Last-Event-ID": "evt_abc"}),
    Case("garbage-filter", "GET", "events", 400, "filter", params={"filter": "*a" * MAX_PATTERN_LENGTH}),
    Case("nul-in-path", "GET", "files/read?path=a%00b", 404, "not exist"),  # tornado makes NUL a space
    Case("unknown-task", "GET", "tasks/t-nope", 404, "t-nope"),
    Case("unknown-route", "GET", "nope/nope", 404, "no route"),
    Case("no-credentials", "GET", "tasks", 401, "credentials", auth=False),
    Case("no-credentials-unknown-path", "GET", "nope", 401, "credentials", auth=False),
]

TRAVERSALS = ["../outside.txt", "..%2foutside.txt", "%2e%2e/outside.txt", "..\\..\\outside.txt", "/etc/passwd",
              "sub/../../outside.txt", "%252e%252e%252foutside.txt", "....//outside.txt", "link-out/secret.txt",
              "link-out"]
for i, target in enumerate(TRAVERSALS):
    for route in ("files/read", "files/list", "files/preview"):
        CASES.append(Case(f"traversal-{i}-{route.split('/')[1]}", "GET", route, 0, "", params={"path": target}))


def _prefix(dialect: str, server: bool = False, project: str = PROJECT) -> str:
    return ("api/v1/" if server else f"api/v1/projects/{project}/") if dialect == "project" else "v1/"


def _message(body: Any) -> str:
    """The error text in either dialect, or in OpenAI's shape (chat completions), with field paths."""
    error = body.get("error")
    if isinstance(error, dict):  # OpenAI: {error: {message, param, code}}
        return f"{error.get('message')} {error.get('param')}"
    return f"{error} {json.dumps(body.get('errors', []))}"


def store_snapshot(root: Path) -> tuple[str, dict[str, int], str]:
    """(integrity check, rows per table, memory) of a project."""
    with sqlite3.connect(f"file:{root / '.polpo' / 'state.db'}?mode=ro", uri=True) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
        doc = conn.execute("SELECT doc FROM tasks ORDER BY seq LIMIT 1").fetchone()
    memory = root / ".polpo" / "memory.md"
    return integrity, counts, (memory.read_text() if memory.exists() else "") + (doc[0] if doc else "")


async def check_case(client: httpx.AsyncClient, case: Case, dialect: str, task_id: str, root: Path,
                     auth: dict[str, str], project: str = PROJECT) -> None:
    before = store_snapshot(root)
    url = _prefix(dialect, project=project) + case.path.replace("{task}", task_id)
    headers = {**(auth if case.auth else {}), **(JSON if case.body is not None else {}), **case.headers}
    response = await client.request(case.method, url, content=case.body, headers=headers, params=case.params or None,
                                    follow_redirects=False)
    if case.status:
        assert response.status_code == case.status, (case.id, response.status_code, response.text[:300])
    else:  # traversal: refused (400), hidden (404) or absent, never the bytes of the file outside
        assert response.status_code in (400, 404), (case.id, response.status_code, response.text[:300])
        assert "outside-secret" not in response.text
    assert response.headers["content-type"].startswith("application/json"), (case.id, response.headers)
    body = response.json()
    if dialect == "project" and case.path != "chat/completions":
        assert body["ok"] is False, body
    assert case.needle.lower() in _message(body).lower(), (case.id, body)
    if response.status_code == 405:
        assert set(response.headers["Allow"].split(", ")) == {"GET", "POST"}
    health = await client.get(_prefix(dialect, server=True) + "health")
    assert health.status_code == 200
    assert store_snapshot(root) == before, case.id  # integrity ok, nothing written


def make_project(root: Path) -> None:
    """A project with a symlink out of it and a file outside it that must never be served."""
    root.mkdir(parents=True, exist_ok=True)
    (root.parent / "outside.txt").write_text("outside-secret")
    (root.parent / "secret-dir").mkdir()
    (root.parent / "secret-dir" / "secret.txt").write_text("outside-secret")
    (root / "link-out").symlink_to(root.parent / "secret-dir")
    (root / "sub").mkdir()


@dataclass
class Served:
    url: str
    root: Path
    log: Path
    task_id: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("corpus") / PROJECT
    make_project(root)
    log = root.parent / "serve.log"
    port = free_port()
    proc = start_serve(root, port=port, key=KEY, log=log, cli=False)
    url = f"http://127.0.0.1:{port}/"
    try:
        assert httpx.post(url + "v1/agents", json={"name": "dev"}, headers=AUTH).status_code == 201
        created = httpx.post(url + "v1/tasks", json={"title": "existing", "assignTo": "dev"}, headers=AUTH)
        assert created.status_code == 201, created.text
        yield Served(url, root, log, created.json()["id"])
    finally:
        code = stop_serve(proc)
    assert code == 0, log.read_text()


@pytest.mark.parametrize("dialect", ["project", "flat"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_bad_input_on_polpo_serve(served: Served, case: Case, dialect: str):
    async with httpx.AsyncClient(base_url=served.url, timeout=WAIT) as client:
        await check_case(client, case, dialect, served.task_id, served.root, AUTH)


async def test_bad_input_on_jupyter(http: httpx.AsyncClient, jp_auth_header, project, root_dir: Path):
    """The same corpus against the extension in a real Jupyter server (one server, every case)."""
    await project.add_agent({"name": "dev"})
    task = await project.create_task({"title": "existing", "assignTo": "dev"})
    make_project(root_dir)
    failures = []
    for dialect in ("project", "flat"):
        for case in CASES:
            if not case.auth:
                continue  # the Jupyter server's own auth answers these (test_server_auth.py)
            try:
                await check_case(http, case, dialect, task.id, root_dir, jp_auth_header, project="root_dir")
            except AssertionError as exc:
                failures.append((dialect, case.id, str(exc)[:300]))
    assert not failures, failures


# -- WebSocket -------------------------------------------------------------------------------------------

WS_CASES = [
    ("huge-pattern", json.dumps({"type": "subscribe", "pattern": "*a" * 1_000_000}), "characters"),
    ("too-many-patterns", json.dumps({"type": "subscribe", "patterns": [f"p{i}:*" for i in range(MAX_PATTERNS + 1)]}),
     "patterns"),
    ("lone-surrogate", '{"type": "subscribe", "pattern": "\\ud800"}', "surrogate"),
    ("deep", '{"type": "subscribe", "pattern": ' + "[" * 1000 + "]" * 1000 + "}", "nested"),
    ("nan", '{"type": "subscribe", "pattern": NaN}', "nan"),
    ("invalid-json", "{nope", "invalid json"),
    ("not-an-object", "[1]", "objects"),
    ("unknown-type", '{"type": "rm -rf"}', "unknown message type"),
    ("no-pattern", '{"type": "subscribe"}', "glob"),
    ("binary", b"\xff\xfe\x00garbage", "invalid json"),
]


async def _ws_case(ws: Any, message: str | bytes, needle: str) -> None:
    await ws.send(message)
    reply = json.loads(await ws.recv())
    assert reply["type"] == "error", reply
    assert needle.lower() in reply["error"].lower(), reply
    await ws.send(json.dumps({"type": "ping"}))  # the socket is kept
    assert json.loads(await ws.recv()) == {"type": "pong"}


@pytest.mark.parametrize("dialect", ["project", "flat"])
async def test_bad_websocket_messages_on_polpo_serve(served: Served, dialect: str):
    url = served.url.replace("http", "ws") + _prefix(dialect) + f"ws?token={KEY}"
    async with asyncio.timeout(WAIT), connect(url, max_size=None) as ws:
        for _, message, needle in WS_CASES:
            await _ws_case(ws, message, needle)
        # the patterns of one socket add up: the bound is on the socket, not on one message
        for i in range(MAX_PATTERNS):
            await ws.send(json.dumps({"type": "subscribe", "pattern": f"x{i}:*"}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
        await _ws_case(ws, json.dumps({"type": "subscribe", "pattern": "one:more"}), "patterns")
    # an oversized frame (over tornado's 10 MiB) closes that socket (1009), and the server goes on
    async with asyncio.timeout(WAIT), connect(url, max_size=None) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.send("x" * (11 * 1024 * 1024))
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with asyncio.timeout(WAIT), connect(url) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}


async def test_bad_websocket_handshakes_on_polpo_serve(served: Served):
    base = served.url.replace("http", "ws") + "v1/ws"
    for query, headers in ((f"?token={KEY}&lastEventId={'9' * 4301}", {}), (f"?token={KEY}", {"Last-Event-ID": "9" * 4301}),
                           (f"?token={KEY}&filter={'*a' * 200}", {})):
        with pytest.raises(Exception) as refused:
            async with asyncio.timeout(WAIT), connect(base + query, additional_headers=headers):
                pass
        assert getattr(getattr(refused.value, "response", None), "status_code", None) == 400, refused.value


async def test_bad_websocket_messages_on_jupyter(http: httpx.AsyncClient, ws_url: str, jp_auth_header, project):
    async with asyncio.timeout(WAIT), connect(ws_url + "v1/ws", additional_headers=jp_auth_header) as ws:
        for _, message, needle in WS_CASES:
            await _ws_case(ws, message, needle)


def test_no_secret_in_the_log_of_polpo_serve(served: Served):
    """Runs after the corpus (same module fixture): failing requests with `?token=` were logged."""
    with httpx.Client(base_url=served.url, timeout=WAIT) as client:
        assert client.get("v1/tasks/t-nope", params={"token": KEY}).status_code == 404
        assert client.get("v1/ws", params={"token": KEY}).status_code == 400
        assert client.post("v1/tasks", params={"token": KEY}, content=b"[[[").status_code == 400
    text = served.log.read_text()
    assert "v1/ws" in text or "tasks" in text, text[-2000:]  # the requests were logged at all
    assert KEY not in text, [line for line in text.splitlines() if KEY in line][:5]


async def test_no_secret_in_the_jupyter_log(http: httpx.AsyncClient, jp_serverapp, caplog):
    token = jp_serverapp.identity_provider.token
    caplog.set_level("DEBUG")
    http.headers.pop("Authorization", None)
    await http.get("v1/tasks/t-nope", params={"token": token})
    await http.get("v1/ws", params={"token": token})
    await http.get("v1/nope", params={"token": "wrong-" + token})
    # the server's records (the test's own httpx client logs the URLs it requests, token and all)
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "v1/" in logged
    assert token not in logged


# -- the store -------------------------------------------------------------------------------------------

async def test_an_unreadable_row_does_not_take_the_list_down(served: Served):
    """A row no model can read (written by hand, as an old bug did) is left out of lists, logged,
    and answered 409 by id; everything else stays readable."""
    db = served.root / ".polpo" / "state.db"
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO tasks (id, mission_id, seq, status, assign_to, doc) VALUES (?, NULL, ?, ?, ?, ?)",
                     ("t-poison", 10_000, "draft", "dev", '{"id":"t-poison","title":"p","assignTo":"dev","priority":NaN}'))
        conn.execute("INSERT INTO missions (id, name, status, doc) VALUES ('m-poison', 'm-poison', 'draft', '{\"nope\":1}')")
        conn.execute("INSERT INTO agents (name, mission_id, doc) VALUES ('a-poison', NULL, '{\"name\":\"a-poison\",\"volatile\":0}')")
    try:
        async with httpx.AsyncClient(base_url=served.url, headers=AUTH, timeout=WAIT) as client:
            listed = await client.get("v1/tasks")
            assert listed.status_code == 200, listed.text
            ids = [t["id"] for t in listed.json()]
            assert served.task_id in ids and "t-poison" not in ids
            state = await client.get(f"api/v1/projects/{PROJECT}/state")
            assert state.status_code == 200, state.text
            for path, poison in (("v1/missions", "m-poison"), ("v1/agents", "a-poison")):
                listed = await client.get(path)
                assert listed.status_code == 200 and poison not in listed.text, listed.text
            assert (await client.get("v1/agents/team")).status_code == 200
            one = await client.get("v1/tasks/t-poison")
            assert one.status_code == 409 and "t-poison" in one.json()["error"], one.text
        assert "t-poison" in served.log.read_text()  # the skipped row is logged
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM tasks WHERE id = 't-poison'")
            conn.execute("DELETE FROM missions WHERE id = 'm-poison'")
            conn.execute("DELETE FROM agents WHERE name = 'a-poison'")


# -- the glob matcher ------------------------------------------------------------------------------------

def test_globs_match_as_fnmatch_does():
    """The backtracking-free compilation of `*` globs means what fnmatch means (`?` and `[` are literal)."""
    rng = random.Random(11)
    for _ in range(3000):
        pattern = "".join(rng.choice("ab*:") for _ in range(rng.randint(0, 8)))
        name = "".join(rng.choice("ab:") for _ in range(rng.randint(0, 8)))
        if not pattern.strip():
            continue
        assert EventFilter([pattern]).matches(name) == fnmatch.fnmatchcase(name, pattern), (pattern, name)


# -- polpo serve: no redirect, no CORS unless configured --------------------------------------------------

@pytest.mark.parametrize("path", ["", "login", "tree", "api/kernels", "api", "nope/deeper", "v2/tasks", "api/v2"])
def test_polpo_serve_never_redirects(served: Served, path: str):
    envelope = path.startswith("api")
    with httpx.Client(base_url=served.url, timeout=WAIT, follow_redirects=False) as client:
        for headers, status in (({}, 401), (AUTH, 404)):
            response = client.get(path, headers=headers)
            assert response.status_code == status, (path, response.status_code, response.headers.get("location"))
            assert response.headers["content-type"].startswith("application/json")
            body = response.json()
            assert ("ok" in body) is envelope and body["error"], body
            assert body["code"] == ({401: "UNAUTHORIZED", 404: "NOT_FOUND"}[status] if envelope
                                    else {401: "unauthorized", 404: "not_found"}[status])


def test_polpo_serve_sends_no_cors_header_unless_configured(served: Served, tmp_path: Path):
    with httpx.Client(base_url=served.url, headers=AUTH, timeout=WAIT) as client:
        for origin in ("null", "https://evil.example"):
            response = client.get("v1/tasks", headers={"Origin": origin})
            assert response.status_code == 200
            assert "access-control-allow-origin" not in response.headers, response.headers
    root = tmp_path / "cors"
    root.mkdir()
    port = free_port()
    proc = start_serve(root, port=port, key=KEY, log=tmp_path / "cors.log", cli=False,
                       cors_origins=["https://app.example", "http://localhost:5173"])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/", headers=AUTH, timeout=WAIT) as client:
            for origin in ("https://app.example", "http://localhost:5173"):
                response = client.get("v1/tasks", headers={"Origin": origin})
                assert response.headers.get("access-control-allow-origin") == origin
            for origin in ("null", "https://evil.example", "https://app.example.evil"):
                response = client.get("v1/tasks", headers={"Origin": origin})
                assert "access-control-allow-origin" not in response.headers, (origin, response.headers)
    finally:
        assert stop_serve(proc) == 0


# -- the models and the store ------------------------------------------------------------------------------

def test_python_builders_accept_what_users_naturally_pass():
    from polpo_nb.spec import Agent, Task

    task = Task(title="t", assign_to="dev", priority=2, max_duration=60_000, max_retries=0, side_effects=True)
    assert task.priority == 2 and task.max_duration == 60_000.0 and task.side_effects is True
    assert Task.model_validate({"title": "t", "assignTo": "dev", "priority": 1.5}).priority == 1.5
    assert Agent(name="a", volatile=True, max_turns=3).volatile is True
    for bad in ({"priority": float("nan")}, {"maxDuration": float("inf")}, {"sideEffects": 1}, {"maxRetries": True},
                {"maxRetries": "3"}, {"maxRetries": 2.0}):
        with pytest.raises(ValueError) as refused:
            Task.model_validate({"title": "t", "assignTo": "dev", **bad})
        assert next(iter(bad)) in str(refused.value)


def test_the_store_refuses_a_record_it_could_not_read_back(tmp_path: Path):
    """A non-finite float that bypasses validation (`model_copy`) is refused at the write, and the
    transaction writes nothing."""
    from polpo_nb.errors import SpecError
    from polpo_nb.spec import TaskRecord
    from polpo_nb.store.sqlite import Store

    store = Store(tmp_path / "state.db")
    record = TaskRecord.model_validate({"id": "t1", "title": "t", "assignTo": "dev"})
    with store.write() as tx:
        tx.put_task(record)
    with pytest.raises(SpecError) as refused, store.write() as tx:
        tx.put_task(record.model_copy(update={"priority": float("nan"), "title": "changed"}))
    assert "priority" in refused.value.message
    with store.read() as tx:
        assert tx.task("t1").title == "t" and [t.id for t in tx.tasks()] == ["t1"]
    store.close()
