"""The dashboard's Keys page (`#/keys`) on a real `polpo serve`, in Debian's Chromium driven by Playwright:
a key made there is shown once (gone after Done or leaving the page) and works at once against the API;
Revoke asks first, then the key is refused; a project key, which may not manage keys, is told so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dashboard_pages import fresh_page
from dashboard_pages import login as dashboard_login
from playwright.sync_api import Browser, Page, expect
from server.server_helpers import WAIT, free_port, start_serve, stop_serve

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "dashboard"
KEY = "sk_dash_keys_0123456789"
WAIT_MS = int(WAIT * 1000)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(the server's URL, the project API's URL) of `polpo serve` on a fresh project."""
    root = tmp_path_factory.mktemp("dash-keys") / "keys-project"
    root.mkdir()
    port = free_port()
    proc = start_serve(root, port=port, key=KEY, log=root.parent / "serve.log")
    url = f"http://127.0.0.1:{port}/"
    yield url, f"{url}api/v1/projects/{root.name}/"
    assert stop_serve(proc) == 0


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser, WAIT_MS) as page:
        yield page


def login(page: Page, url: str, key: str) -> None:
    dashboard_login(page, url, key, "#/keys")


def status_with(api: str, key: str) -> int:
    return httpx.get(f"{api}state", headers={"Authorization": f"Bearer {key}"}, timeout=WAIT).status_code


def test_a_key_made_on_the_page_is_shown_once_works_and_is_refused_once_revoked(served: tuple[str, str], page: Page):
    url, api = served
    login(page, url, KEY)
    expect(page.locator(".ui-keys-page")).to_contain_text("No keys yet.")
    page.get_by_label("Key name").fill("ci")
    page.get_by_label("Key kind").select_option("test")
    page.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key")
    expect(shown).to_have_text(re.compile(r"^sk_test_\S{20,}$"))
    made = shown.inner_text()
    row = page.locator("#keys tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("ci")
    expect(row).to_contain_text(made[:12])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "keys.png"), full_page=True)
    listed = httpx.get(f"{api}keys", headers={"Authorization": f"Bearer {KEY}"}, timeout=WAIT).json()["data"]
    assert [(k["name"], k["kind"]) for k in listed] == [("ci", "test")]
    assert status_with(api, made) == 200  # it works at once

    page.get_by_role("button", name="Done").click()
    expect(page.locator("#new-key")).to_have_count(0)
    assert made not in page.content()  # shown once: gone from the page

    page.get_by_role("button", name="Revoke ci").click()
    page.get_by_role("button", name="Keep ci").click()  # asked first; kept
    assert status_with(api, made) == 200
    page.get_by_role("button", name="Revoke ci").click()
    page.get_by_role("button", name="Confirm revoking ci").click()
    expect(page.locator(".ui-keys-page")).to_contain_text("No keys yet.")
    assert status_with(api, made) == 401


def test_leaving_the_page_forgets_the_new_key(served: tuple[str, str], page: Page):
    url, api = served
    login(page, url, KEY)
    page.get_by_label("Key name").fill("notebook")
    page.get_by_role("button", name="Create key").click()
    made = page.locator("#new-key").inner_text()
    page.get_by_role("link", name="Missions").click()
    page.get_by_role("link", name="Keys").click()
    expect(page.locator("#keys tbody tr")).to_have_count(1)
    expect(page.locator("#new-key")).to_have_count(0)
    assert made not in page.content()
    httpx.delete(f"{api}keys/notebook", headers={"Authorization": f"Bearer {KEY}"}, timeout=WAIT).raise_for_status()


def test_a_project_key_is_told_that_keys_need_the_servers_own_credentials(served: tuple[str, str], page: Page):
    url, api = served
    made = httpx.post(f"{api}keys", json={"name": "teammate"}, headers={"Authorization": f"Bearer {KEY}"},
                      timeout=WAIT).json()["data"]["key"]
    login(page, url, made)
    expect(page.locator(".ui-keys-page .ui-error")).to_contain_text("Only the server's own credentials")
    page.get_by_label("Key name").fill("sneaky")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#notice")).to_contain_text("Create key failed")
    listed = httpx.get(f"{api}keys", headers={"Authorization": f"Bearer {KEY}"}, timeout=WAIT).json()["data"]
    assert [k["name"] for k in listed] == ["teammate"]
