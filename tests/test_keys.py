"""Project API keys (issue 20): made, listed, revoked; stored as a hash only; checked in constant time;
seen by every process at once; managed by `polpo keys`. And the per-key rate limiter, on a fake clock."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest
from cli_project import as_json, polpo

from polpo_nb.errors import ConflictError, NotFoundError, SpecError
from polpo_nb.project.keys import ApiKeys
from polpo_server.failures import Failure
from polpo_server.openapi import build_openapi
from polpo_server.ratelimit import RateLimiter


def _stored_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (root / ".polpo").glob("state.db*"))


def test_a_key_is_shown_once_and_stored_as_a_hash_only(tmp_path: Path):
    keys = ApiKeys(tmp_path)
    live = keys.create("ci")
    test = keys.create("sandbox", kind="test")
    assert live.key.startswith("sk_live_") and test.key.startswith("sk_test_") and len(live.key) > 40
    assert live.prefix == live.key[:12] and live.kind == "live" and test.kind == "test"
    listed = keys.list()
    assert [(k.name, k.kind, k.prefix) for k in listed] == [("ci", "live", live.prefix), ("sandbox", "test", test.prefix)]
    assert all(k.created_at and k.last_used_at is None for k in listed)
    assert "key" not in listed[0].to_wire()
    stored = _stored_bytes(tmp_path)
    assert live.key.encode() not in stored and test.key.encode() not in stored
    assert live.prefix.encode() in stored  # what is kept: the prefix, to recognise it
    assert keys.verify(live.key) == listed[0] and keys.verify(test.key) == listed[1]
    assert keys.verify(live.key[:-1]) is None and keys.verify("sk_live_nope") is None


def test_every_active_key_is_compared_in_constant_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    keys = ApiKeys(tmp_path)
    made = [keys.create(f"k{i}") for i in range(4)]
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert keys.verify(made[0].key) is not None  # found first, and still compared with every key
    assert len(compared) == 4
    compared.clear()
    assert keys.verify("sk_live_unknown") is None
    assert len(compared) == 4


def test_revoking_by_id_revokes_that_key_even_when_another_is_named_like_it(tmp_path: Path):
    """The dashboard revokes by id: a key named like that id (sorting before it in the name index) was
    revoked instead, and the leaked one kept working."""
    keys = ApiKeys(tmp_path)
    leaked = keys.create("prod-ci")
    other = keys.create(leaked.id)
    assert keys.revoke(leaked.id).id == leaked.id
    assert keys.verify(leaked.key) is None and keys.verify(other.key) is not None
    assert keys.revoke(leaked.id).id == other.id  # no active key has that id now: the name is the one


def test_revocation_is_seen_at_once_by_another_connection(tmp_path: Path):
    server, cli = ApiKeys(tmp_path), ApiKeys(tmp_path)
    made = cli.create("ci")
    assert server.verify(made.key) is not None and server.any_active()
    revoked = cli.revoke("ci")
    assert revoked.revoked_at
    assert server.verify(made.key) is None and not server.any_active()
    assert [k.name for k in server.list(revoked=True)] == ["ci"] and server.list() == []
    again = cli.create("ci")  # the name is free again
    assert cli.revoke(again.id).id == again.id  # by id
    with pytest.raises(NotFoundError, match="No active API key"):
        cli.revoke("ci")


def test_names_are_unique_among_active_keys_and_checked(tmp_path: Path):
    keys = ApiKeys(tmp_path)
    keys.create("ci")
    with pytest.raises(ConflictError, match="already exists"):
        keys.create("ci")
    with pytest.raises(SpecError):
        keys.create("")
    with pytest.raises(SpecError):
        keys.create("x", kind="prod")  # type: ignore[arg-type]
    assert [k.name for k in keys.list()] == ["ci"]


def test_a_use_is_recorded_at_most_once_a_minute(tmp_path: Path):
    keys = ApiKeys(tmp_path)
    made = keys.create("ci")
    keys.touch(made.id)
    first = keys.list()[0].last_used_at
    assert first is not None
    keys.touch(made.id)
    assert keys.list()[0].last_used_at == first


def test_a_project_without_state_has_no_keys_and_gets_no_state(tmp_path: Path):
    keys = ApiKeys(tmp_path)
    assert keys.list() == [] and keys.verify("sk_live_x") is None and not keys.any_active()
    assert not (tmp_path / ".polpo").exists()


def test_the_python_api_is_the_projects(tmp_path: Path):
    import polpo_nb as polpo

    project = polpo.Project(tmp_path, schedules=False)
    try:
        made = project.keys.create("notebook", kind="test")
        assert ApiKeys(tmp_path).verify(made.key).name == "notebook"
        assert project.aio.keys is project.keys
    finally:
        project.close()


def test_the_cli_creates_lists_and_revokes(tmp_path: Path):
    polpo("init", str(tmp_path / "p"), cwd=tmp_path, check=0)
    root = tmp_path / "p"
    out = polpo("keys", "create", "ci", "--test", cwd=root, check=0)
    key = out.stdout.strip()
    assert key.startswith("sk_test_") and "shown only now" in out.stderr
    listed = as_json("keys", "list", cwd=root)
    assert [(k["name"], k["kind"], k["prefix"]) for k in listed] == [("ci", "test", key[:12])]
    assert key not in polpo("keys", "list", cwd=root, check=0).stdout
    assert polpo("keys", "create", "ci", cwd=root, check=4).stderr.startswith("polpo: An active API key")
    assert "revoked ci" in polpo("keys", "revoke", "ci", cwd=root, check=0).stdout
    assert ApiKeys(root).verify(key) is None
    assert "No active API key" in polpo("keys", "revoke", "ci", cwd=root, check=2).stderr
    assert "not a polpo project" in polpo("keys", "list", cwd=tmp_path, check=2).stderr


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limiter_allows_a_burst_up_to_the_limit_then_paces():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    remaining = [int(limiter.take("k", 6)["X-RateLimit-Remaining"]) for _ in range(6)]
    assert remaining == [5, 4, 3, 2, 1, 0]
    with pytest.raises(Failure) as refused:
        limiter.take("k", 6)
    assert refused.value.code == "RATE_LIMITED"
    headers = refused.value.headers
    assert headers["Retry-After"] == "10" and headers["X-RateLimit-Limit"] == "6"
    assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Reset"] == "60"
    assert limiter.take("other", 6)["X-RateLimit-Remaining"] == "5"  # per key
    clock.now += 10  # one request's worth of refill
    assert limiter.take("k", 6)["X-RateLimit-Remaining"] == "0"
    with pytest.raises(Failure):
        limiter.take("k", 6)


def test_the_rate_limiter_counts_open_streams():
    limiter = RateLimiter()
    limiter.open_stream("k", 2)
    limiter.open_stream("k", 2)
    with pytest.raises(Failure) as refused:
        limiter.open_stream("k", 2)
    assert refused.value.code == "RATE_LIMITED" and refused.value.headers["Retry-After"]
    limiter.close_stream("k")
    limiter.open_stream("k", 2)
    assert limiter.streams("k") == 2


def test_the_openapi_document_says_how_keys_and_limits_answer():
    doc = build_openapi("/", "0")
    schemes = doc["components"]["securitySchemes"]
    assert "sk_live_" in schemes["bearer"]["description"] and schemes["token"]["in"] == "query"
    listing = doc["paths"]["/v1/tasks"]["get"]["responses"]
    assert "unauthorized" in listing["401"]["description"] and "invalid_api_key" in listing["401"]["description"]
    assert "rate_limited" in listing["429"]["description"]
    assert set(listing["429"]["headers"]) == {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                                              "X-RateLimit-Reset"}
    assert set(listing["200"]["headers"]) >= {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    assert "403" not in listing
    create = doc["paths"]["/api/v1/projects/{projectId}/keys"]["post"]
    assert "403" in create["responses"] and "201" in create["responses"]
    created = create["responses"]["201"]["content"]["application/json"]["schema"]["properties"]["data"]
    assert created == {"$ref": "#/components/schemas/CreatedApiKey"}
    assert "key" in doc["components"]["schemas"]["CreatedApiKey"]["properties"]
    assert "key" not in doc["components"]["schemas"]["ApiKey"]["properties"]
