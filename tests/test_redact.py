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


def test_the_log_filter_masks_a_record_when_it_is_formatted_and_not_before():
    """The filter defers the work: a record a handler drops is never formatted, one it emits reads masked,
    and the server's banner (its URL with the token, for whoever started it) stays whole."""
    import logging

    from polpo_server.redact import RedactSecrets

    formatted: list[str] = []

    class Noisy:
        def __str__(self) -> str:
            formatted.append("yes")
            return "GET /v1/ws?token=%s"

    record = logging.LogRecord("tornado.access", logging.DEBUG, __file__, 1, Noisy(), ("abc123",), None)
    assert RedactSecrets().filter(record) and RedactSecrets().filter(record)
    assert formatted == []
    assert record.getMessage() == f"GET /v1/ws?token={MASK}" and record.getMessage() == f"GET /v1/ws?token={MASK}"
    assert formatted == ["yes"]
    banner = logging.LogRecord("ServerApp", logging.INFO, __file__, 1, "To access the server, open %s",
                               ("http://127.0.0.1:8888/lab?token=abc123",), None)
    RedactSecrets().filter(banner)
    assert banner.getMessage().endswith("token=abc123")
