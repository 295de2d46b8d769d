"""The link to a notebook task's executed copy, in Debian's Chromium (issue 17).

- The widget's detail panel on a Jupyter page builds a URL that opens the copy there from the page config's
  `serverRoot` (`~` expanded) and `baseUrl`; on any other page it is the path relative to the notebook.
- In a real JupyterLab, the live widget's link opens the executed notebook (its injected cell and outputs);
  the static picture of saved outputs, opened untrusted, links it too, and JupyterLab opens it in a tab.
- In nbconvert's HTML (sanitized or not) next to the notebook, the link leads to the file.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from lab_pages import WAIT_MS, open_and_run_all, stub_widget
from nbconvert import HTMLExporter
from notebook_files import write_notebook
from playwright.sync_api import Browser, Page, expect
from support import wait_for
from test_dashboard_browser import page as dashboard_page  # noqa: F401 - fixture: the dashboard's page
from test_dashboard_browser import served as dashboard  # noqa: F401 - fixture: a polpo serve with the dashboard
from test_notebook_browser import ARTIFACTS as BROWSER_ARTIFACTS
from test_notebook_static_browser import offline_page  # noqa: F401 - fixture

import polpo_nb as polpo
from polpo_nb.notebook.display import WIDGET_MIME

ARTIFACTS = BROWSER_ARTIFACTS.parent / "test_notebook_tasks_browser"
GRAPH = {"rev": 1, "width": 300, "height": 64, "edges": [],
         "nodes": [{"id": "t1", "title": "Train", "agent": "train.ipynb", "notebook": "train.ipynb", "x": 8, "y": 8}]}


def _state(executed: dict, home: str) -> dict:
    return {"graphRev": 1, "mission": {"id": "m1", "name": "m", "status": "failed"}, "home": home,
            "tasks": {"t1": {"status": "failed", "executed": executed}},
            "progress": {"total": 1, "done": 0, "failed": 1, "running": 0, "awaiting": 0, "elapsed": 1.0, "ticking": False},
            "events": [], "notice": None}


LAB = {"baseUrl": "/user/ann/", "serverRoot": "~/work", "appName": "JupyterLab"}
SERVED = "/user/ann/polpo/v1/files/read?path=proj/.polpo/outputs/t1-2.ipynb"


@pytest.mark.parametrize(("config", "contents", "expected"), [
    (None, 200, "proj/.polpo/outputs/t1-2.ipynb"),
    (LAB, 404, SERVED),
    (LAB, 200, "/user/ann/lab/tree/proj/.polpo/outputs/t1-2.ipynb"),
    ({"baseUrl": "/", "serverRoot": "/home/ann/work", "appName": "Jupyter Notebook"}, 200,
     "/notebooks/proj/.polpo/outputs/t1-2.ipynb"),
    ({"baseUrl": "/", "serverRoot": "/srv/other", "appName": "JupyterLab"}, 200, "proj/.polpo/outputs/t1-2.ipynb"),
], ids=["no-jupyter", "lab-hiding-dotfiles", "lab-showing-dotfiles", "notebook7", "outside-the-root"])
def test_the_widget_links_the_executed_copy_from_the_page_config(browser: Browser, config, contents, expected) -> None:
    """On a Jupyter page the link is the copy as polpo's extension serves it, and becomes JupyterLab's own URL
    when the contents API (stubbed here, as the page) answers for the copy."""
    executed = {"path": ".polpo/outputs/t1-2.ipynb", "file": "/home/ann/work/proj/.polpo/outputs/t1-2.ipynb",
                "href": "proj/.polpo/outputs/t1-2.ipynb"}
    detail = {"type": "detail", "task": {"id": "t1", "title": "Train", "status": "failed", "notebook": "train.ipynb",
                                         "result": {"error": "cell 1 raised"}}}
    asked: list[str] = []
    page = browser.new_page()
    try:
        def answer(route):
            if "/api/contents/" in route.request.url:
                asked.append(route.request.url)
                route.fulfill(status=contents, json={"type": "notebook"})
            else:
                route.fulfill(status=200, content_type="text/html", body="<html><head></head><body></body></html>")

        page.route("http://jupyter.test/**", answer)
        page.goto("http://jupyter.test/user/ann/lab")
        stub_widget(page, GRAPH, _state(executed, "/home/ann"), detail)
        if config is not None:  # what JupyterLab and Notebook 7 put in their pages
            page.evaluate("""(config) => { const s = document.createElement('script'); s.id = 'jupyter-config-data';
                s.type = 'application/json'; s.textContent = JSON.stringify(config); document.head.append(s); }""", config)
        probed = config is not None and not expected.startswith("proj/")  # a Jupyter page whose root holds the copy
        if probed:
            with page.expect_response(lambda r: "/api/contents/" in r.url):
                page.locator(".polpo-node").click()
        else:
            page.locator(".polpo-node").click()
        link = page.locator(".polpo-detail a.polpo-executed-link")
        link.wait_for()
        page.wait_for_function("([href]) => document.querySelector('a.polpo-executed-link').getAttribute('href') === href",
                               arg=[expected])
        assert (link.text_content(), link.get_attribute("target")) == ("📓 t1-2.ipynb", "_blank")
        assert "notebooktrain.ipynb" in page.locator(".polpo-detail").text_content().replace(" ", "")
        if not probed:
            assert asked == []
        elif config is LAB:
            assert asked == ["http://jupyter.test/user/ann/api/contents/proj/.polpo/outputs/t1-2.ipynb?content=0"]
    finally:
        page.close()


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A project `proj` in a directory a Jupyter server could serve: one notebook task done, one failed; and
    the saved outputs of a notebook in that directory that displayed the run (its kernel's cwd)."""
    work = tmp_path_factory.mktemp("served")
    write_notebook(work / "proj" / "ok.ipynb", ("parameters", "n = 1"), "print('n is', n)")
    write_notebook(work / "proj" / "bad.ipynb", "raise ValueError('bad input')")
    project = polpo.Project(work / "proj")
    try:
        handle = project.execute(polpo.Mission("links").task("Ok", notebook="ok.ipynb", parameters={"n": 7})
                                 .task("Bad", notebook="bad.ipynb", max_retries=0))
        record = handle.wait(60)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(work)
            bundle = handle._repr_mimebundle_()
    finally:
        project.close()
    data = {WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": "0" * 32}, **bundle}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("run", execution_count=1, outputs=[
        nbformat.v4.new_output("execute_result", data=data, execution_count=1)])])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, work / "saved.ipynb")
    return work, {t.title: f"proj/.polpo/outputs/{t.id}-1.ipynb" for t in record.tasks}


def _links(page: Page) -> dict[str, str]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.polpo-static-node')].map(n =>
        [n.querySelector('.polpo-static-title').textContent, n.querySelector('.polpo-static-executed a')?.href]))""")


@pytest.mark.parametrize("sanitize", [True, False], ids=["sanitized", "as-is"])
def test_nbconverts_html_next_to_the_notebook_links_the_executed_copies(offline_page: Page, ran, sanitize) -> None:  # noqa: F811
    work, copies = ran
    html, _ = HTMLExporter(sanitize_html=sanitize).from_notebook_node(nbformat.read(work / "saved.ipynb", as_version=4))
    (work / f"saved-{sanitize}.html").write_text(html)
    offline_page.goto((work / f"saved-{sanitize}.html").as_uri(), wait_until="domcontentloaded")
    offline_page.wait_for_selector(".polpo-static-executed a")
    assert _links(offline_page) == {title: (work / path).as_uri() for title, path in copies.items()}
    offline_page.goto(_links(offline_page)["Bad"])  # the failed attempt's copy: its traceback is in it
    assert "bad input" in offline_page.content()


def _serve_and_run_live(page: Page, lab: tuple[str, str, Path], ran: tuple[Path, dict[str, str]],  # noqa: F811
                        expected: str) -> str:
    """Put the project and the saved notebook in the lab's root, run a notebook task from a notebook there,
    open its node's detail: the executed link's href once the contents API answered and it starts `expected`."""
    import shutil

    base, token, served = lab
    work, _ = ran
    shutil.copytree(work / "proj", served / "proj")
    shutil.copy(work / "saved.ipynb", served / "saved.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import polpo_nb as polpo\nproject = polpo.Project('proj')\n"
                                  "run = project.execute(polpo.Mission('live').task('Live', notebook='ok.ipynb', "
                                  "parameters={'n': 9}))\nrun"),
        nbformat.v4.new_code_cell("run.wait(120).status.value")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
        served / "live.ipynb")
    open_and_run_all(page, base, token, "live.ipynb")
    page.wait_for_selector('.polpo-widget .polpo-node[data-status="done"]', timeout=WAIT_MS)
    with page.expect_response(lambda r: "/api/contents/proj/.polpo/outputs/" in r.url, timeout=WAIT_MS):
        page.locator(".polpo-widget .polpo-node").click()
    page.wait_for_function("(start) => (document.querySelector('a.polpo-executed-link')?.getAttribute('href') || '')"
                           ".startsWith(start)", arg=expected, timeout=WAIT_MS)
    return page.evaluate("() => document.querySelector('a.polpo-executed-link').getAttribute('href')")


def _failing(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)


def test_in_a_default_jupyterlab_the_widget_links_the_copy_served_by_polpo(browser: Browser, lab, ran) -> None:  # noqa: F811
    """Jupyter hides `.polpo/` from its contents API by default: the link is polpo's `files/read`, which the
    logged-in browser follows to the executed notebook."""
    base = lab[0]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        href = _serve_and_run_live(page, lab, ran, "/polpo/v1/files/read?path=")
        assert href.startswith("/polpo/v1/files/read?path=proj/.polpo/outputs/task_") and href.endswith("-1.ipynb"), href
        response = page.goto(base + href)
        assert response is not None and response.status == 200
        copy = nbformat.reads(page.locator("body").inner_text(), as_version=4)
        assert copy.cells[1].metadata["tags"] == ["injected-parameters"] and "n = 9" in copy.cells[1].source
        assert copy.cells[2].outputs[0]["text"] == "n is 9\n"
    except Exception:
        _failing(page, "default-lab")
        raise
    finally:
        page.close()


@pytest.fixture
def hidden_files_allowed(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next JupyterLab lets its contents API reach dot-directories (`ContentsManager.allow_hidden`)."""
    config = tmp_path_factory.mktemp("jupyter-config")
    (config / "jupyter_server_config.json").write_text('{"ContentsManager": {"allow_hidden": true}}')
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))


def _opened(page: Page, path: str) -> str:
    """JupyterLab shows `path` as a notebook in its current tab: the text of its cells."""
    page.wait_for_function("""(path) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        return !!(w && w.context && w.context.path === path && w.content && w.content.widgets
                  && w.content.widgets.length > 0 && w.node.querySelector('.jp-OutputArea-output')); }""",
                           arg=path, timeout=WAIT_MS)
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.node.textContent")


def test_a_jupyterlab_showing_dot_directories_opens_the_copy_from_the_widget_and_the_static_picture(
        browser: Browser, hidden_files_allowed, lab, ran) -> None:  # noqa: F811
    base, _, _ = lab
    _, copies = ran
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # the live widget: the contents API answered, so the link opens the copy in JupyterLab itself
        href = _serve_and_run_live(page, lab, ran, "/lab/tree/")
        path = href.removeprefix("/lab/tree/")
        assert href.startswith("/lab/tree/proj/.polpo/outputs/task_") and path.endswith("-1.ipynb"), href
        page.goto(base + href)
        text = _opened(page, path)
        assert "n = 9" in text and "n is 9" in text  # the injected cell and the run's outputs

        # the static picture of saved outputs, opened untrusted: JupyterLab resolves its relative link
        # against the notebook and opens the failed attempt's copy in a tab
        page.goto(f"{base}/lab/tree/saved.ipynb")
        page.wait_for_selector(".jp-OutputArea-output .polpo-static-executed a", timeout=WAIT_MS)
        page.locator('.polpo-static-node:has-text("Bad") .polpo-static-executed a').click()
        assert "ValueError: bad input" in _opened(page, copies["Bad"])
    except Exception:
        _failing(page, "lab-showing-dot-directories")
        raise
    finally:
        page.close()


def test_the_dashboard_shows_a_notebook_tasks_latest_executed_copy(dashboard, dashboard_page: Page) -> None:  # noqa: F811
    """The task page of a failed notebook task (its result lists no file) names its notebook and offers its
    latest attempt's executed copy, whose preview (`files/read`'s sibling, `files/preview`) is the notebook."""
    from test_dashboard_browser import login, shot

    write_notebook(dashboard.root / "nb" / "broken.ipynb", "raise ValueError('bad input')")
    created = dashboard.call("POST", "missions", json={"name": "nb-dash", "tasks": [
        {"title": "Broken", "notebook": "nb/broken.ipynb", "maxRetries": 1}]})
    dashboard.call("POST", f"missions/{created['id']}/execute", headers={"Accept": "application/json"})
    task_id = created["tasks"][0]["id"]
    wait_for(lambda: dashboard.call("GET", f"tasks/{task_id}")["status"] == "failed", 60)
    assert dashboard.call("GET", f"tasks/{task_id}")["result"]["filesCreated"] == []

    login(dashboard_page, dashboard, f"#/tasks/{task_id}")
    expect(dashboard_page.locator(".ui-page")).to_contain_text("nb/broken.ipynb")
    copy = f".polpo/outputs/{task_id}-2.ipynb"  # the second attempt, the latest
    expect(dashboard_page.locator(".ui-executed code")).to_have_text(copy)
    dashboard_page.get_by_role("button", name=f"Preview {copy}").click()
    expect(dashboard_page.locator(".ui-executed pre")).to_contain_text('"evalue": "bad input"')  # the JSON
    shot(dashboard_page, "notebook-task")
