"""Log lines keep no secret: what `redact` masks (the server's log filter runs every record through it)."""

from __future__ import annotations

import pytest

from polpo_server.redact import MASK, redact


@pytest.mark.parametrize(("line", "secret"), [
    ("GET /polpo/api/v1/ws?token=abc123 (127.0.0.1)", "abc123"),
    ("GET /v1/events?TOKEN=AbC&filter=x", "AbC"),
    ("uri=/x?api_key=sk_live_123456&y=1", "sk_live_123456"),
    ("GET /mcp?ApiKey=s3cret", "s3cret"),
    ("POST /login?_xsrf=2|deadbeef", "2|deadbeef"),
    ("headers: {'Authorization': 'Bearer sk_test_999'}", "sk_test_999"),
    ("Authorization: token jupyter-tok", "jupyter-tok"),
    ("AUTHORIZATION=BEARER upper", "upper"),
])
def test_a_secret_after_its_name_is_masked_whatever_the_case(line, secret):
    masked = redact(line)
    assert secret not in masked and MASK in masked


def test_a_line_naming_no_secret_is_left_as_it_is():
    line = "200 GET /polpo/api/v1/tasks?limit=100 (127.0.0.1) 4.21ms"
    assert redact(line) is line
    assert redact("monkey business: keyboard") == "monkey business: keyboard"  # 'key' but no key=value
