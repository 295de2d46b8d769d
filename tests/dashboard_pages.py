"""What the dashboard's browser tests share: a page in a browser context of its own, and the login
through the page's key form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, expect


@contextmanager
def fresh_page(browser: Browser, wait_ms: int) -> Iterator[Page]:
    """A page in a new context (no storage shared with another test), its waits `wait_ms` long."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(wait_ms)
    expect.set_options(timeout=wait_ms)
    try:
        yield page
    finally:
        context.close()


def login(page: Page, url: str, key: str, hash_: str = "#/missions") -> None:
    """Open the dashboard at `hash_` and give it `key`; back once its event stream is live."""
    page.goto(f"{url}ui/{hash_}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#connection")).to_have_text("live")
