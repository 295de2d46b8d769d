"""The dashboard on a real Jupyter server (pytest-jupyter, base URL `/a%40b/`): `{base_url}polpo/ui/` sits
behind Jupyter's login, and the page's calls ride on the session cookie with `X-XSRFToken`, as
JupyterLab's do. Chromium (Playwright's async API, on the server's own loop) logs in with the token
once, then approves a task in the inbox: the POST passes Jupyter's XSRF check and the task is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright, expect
from server_helpers import WAIT
from support import CHROMIUM, CHROMIUM_ARGS

from polpo_nb import AsyncProject

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
def ui_url(http_server, jp_http_port, jp_base_url) -> str:  # noqa: ANN001 - pytest-jupyter fixtures
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}polpo/ui/"


async def test_the_page_is_behind_jupyters_login(ui_url: str, jp_serverapp) -> None:  # noqa: ANN001
    async with httpx.AsyncClient(timeout=WAIT) as anon:
        page = await anon.get(ui_url)
        assert page.status_code == 302 and "/login?next=" in page.headers["location"]
        assert (await anon.get(ui_url + "app.js")).status_code == 302
        assert (await anon.get(ui_url.replace("ui/", "api/v1/projects"))).status_code == 401
        token = jp_serverapp.identity_provider.token
        logged = await anon.get(ui_url, headers={"Authorization": f"token {token}"})
        assert logged.status_code == 200 and 'src="app.js"' in logged.text
        assert "_xsrf" in logged.cookies  # what the page echoes as X-XSRFToken


async def test_approve_in_the_inbox_on_jupyter(ui_url: str, jp_serverapp, project: AsyncProject,  # noqa: ANN001
                                               browser: Browser) -> None:
    def writer(task, ctx):  # noqa: ANN001, ANN202
        return f"deployed {task.title}"

    project.register_agent("writer", writer)
    mission = await project.save_mission({"name": "Jupyter deploy", "tasks": [
        {"title": "Deploy docs", "description": "publish", "assignTo": "writer", "sideEffects": True}]})
    task_id = mission.tasks[0].id
    await project.execute_mission(mission.id)

    async def awaiting() -> bool:
        return (await project.get_task(task_id)).status == "awaiting_approval"

    async with asyncio.timeout(WAIT):
        while not await awaiting():
            await asyncio.sleep(0.02)
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    page.set_default_timeout(WAIT * 1000)
    token = jp_serverapp.identity_provider.token
    # the token once in the address (as a Jupyter login link); the login cookie carries the rest
    await page.goto(f"{ui_url}?token={token}#/inbox")
    item = page.locator(f'#inbox-tasks li[data-task-id="{task_id}"]')
    await expect(item).to_contain_text("Deploy docs", timeout=WAIT * 1000)
    await expect(page.locator("#key-form")).to_be_hidden()
    await expect(page.locator("#forget-key")).to_be_hidden()
    assert "token" not in page.url  # the login link's token does not stay in the address bar
    await expect(page).to_have_title("(1) Polpo · " + project.id, timeout=WAIT * 1000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "jupyter-inbox.png"), full_page=True)
    await page.get_by_role("button", name="Approve Deploy docs").click()
    await expect(item).to_have_count(0, timeout=WAIT * 1000)
    assert (await project.get_task(task_id)).status == "done"
    await expect(page.locator("#notice")).to_be_hidden()
    await context.close()


async def test_a_key_made_on_the_keys_page_on_jupyter_opens_the_api_until_revoked(
        ui_url: str, jp_serverapp, project: AsyncProject, browser: Browser) -> None:  # noqa: ANN001
    """The Jupyter session is the server's own credential: it manages keys (POST and DELETE pass the XSRF
    check); the key made works on the project's API at once, and is refused once revoked on the page."""
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    page.set_default_timeout(WAIT * 1000)
    await page.goto(f"{ui_url}?token={jp_serverapp.identity_provider.token}#/keys")
    await page.get_by_label("Key name").fill("ci")
    await page.get_by_role("button", name="Create key").click()
    made = page.locator("#new-key")
    await expect(made).to_contain_text("sk_live_", timeout=WAIT * 1000)
    key = await made.inner_text()
    state = ui_url.replace("ui/", f"api/v1/projects/{project.id}/state")
    async with httpx.AsyncClient(timeout=WAIT, headers={"Authorization": f"Bearer {key}"}) as client:
        assert (await client.get(state)).status_code == 200
        await page.get_by_role("button", name="Revoke ci").click()
        await page.get_by_role("button", name="Confirm revoking ci").click()
        await expect(page.locator(".ui-keys-page")).to_contain_text("No keys yet.", timeout=WAIT * 1000)
        assert (await client.get(state)).status_code == 401
    await expect(page.locator("#notice")).to_be_hidden()
    await context.close()
