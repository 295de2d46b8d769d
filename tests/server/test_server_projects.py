"""Projects: the root is the default project; directories with `.polpo/` below it (3 levels) are
projects too, each with its own state; the extension opens them on the server's loop and closes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from server_helpers import Api
from traitlets.config import Config

from polpo_server import PolpoServerApp


def _project_dir(path: Path, config: dict | None = None) -> Path:
    (path / ".polpo").mkdir(parents=True)
    if config is not None:
        (path / ".polpo" / "config.json").write_text(json.dumps(config))
    return path


@pytest.fixture
def nested(root_dir: Path) -> Path:
    _project_dir(root_dir / "alpha")
    _project_dir(root_dir / "group" / "beta")
    _project_dir(root_dir / "l1" / "l2" / "gamma")  # depth 3: found
    _project_dir(root_dir / "l1" / "l2" / "l3" / "delta")  # depth 4: too deep
    _project_dir(root_dir / ".hidden" / "eps")
    _project_dir(root_dir / "other" / "alpha")  # same name as ./alpha
    _project_dir(root_dir / "named", {"project": "custom-id"})
    (root_dir / "plain").mkdir()
    return root_dir


async def test_projects_lists_the_root_and_polpo_directories_below_it(papi: Api, nested: Path):
    projects = await papi.get("projects", server=True)
    by_id = {p["id"]: p["path"] for p in projects}
    assert projects[0] == {"id": "root_dir", "name": "root_dir", "path": "."}
    assert by_id == {"root_dir": ".", "alpha": "alpha", "custom-id": "named", "beta": "group/beta",
                     "other--alpha": "other/alpha", "gamma": "l1/l2/gamma"}
    # not found: too deep (l1/l2/l3/delta), hidden (.hidden/eps), no .polpo/ (plain)


async def test_each_project_has_its_own_state(papi: Api, nested: Path):
    alpha = Api(papi.client, "project", project_id="alpha")
    await alpha.call("POST", "agents", 201, json={"name": "only-in-alpha"})
    assert [a["name"] for a in await alpha.get("agents")] == ["only-in-alpha"]
    assert await papi.get("agents") == []
    nested_state = await Api(papi.client, "project", project_id="custom-id").get("state")
    assert nested_state["project"]["id"] == "custom-id"


async def test_a_project_created_after_start_is_found(papi: Api, root_dir: Path):
    assert [p["id"] for p in await papi.get("projects", server=True)] == ["root_dir"]
    _project_dir(root_dir / "late")
    late = Api(papi.client, "project", project_id="late")
    assert await late.get("tasks") == []


async def test_flat_api_is_the_default_project(fapi: Api, papi: Api):
    await fapi.call("POST", "agents", 201, json={"name": "flat-agent"})
    assert [a["name"] for a in await papi.get("agents")] == ["flat-agent"]


async def test_extension_start_leaves_a_directory_that_is_not_a_project_alone(polpo_app: PolpoServerApp, jp_serverapp,
                                                                                root_dir: Path):
    await polpo_app._start_jupyter_server_extension(jp_serverapp)
    assert polpo_app.registry.open_projects == [] and not (root_dir / ".polpo").exists()


async def test_extension_start_opens_the_default_project_and_stop_closes_all(polpo_app: PolpoServerApp, jp_serverapp,
                                                                               nested: Path, papi: Api):
    (nested / ".polpo").mkdir()
    await polpo_app._start_jupyter_server_extension(jp_serverapp)
    assert [p.root for p in polpo_app.registry.open_projects] == [nested.resolve()]
    await Api(papi.client, "project", project_id="alpha").get("tasks")
    projects = polpo_app.registry.open_projects
    assert len(projects) == 2
    await polpo_app.stop_extension()
    assert all(p.closed for p in projects) and polpo_app.registry.open_projects == []


class TestConfiguredServer:
    @pytest.fixture
    def jp_server_config(self, root_dir: Path) -> Config:
        _project_dir(root_dir / "main", {"judgeModel": "own-judge"})
        return Config({
            "ServerApp": {"jpserver_extensions": {"polpo_server": True}},
            "PolpoServerApp": {"url_prefix": "agents-api", "default_project": "main", "default_model": "test",
                               "judge_model": "server-judge"},
        })

    async def test_traits_set_prefix_default_project_and_model_defaults(self, http, jp_http_port, jp_base_url):
        base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}agents-api/"
        config = (await http.get(base + "v1/config")).json()
        assert config["defaultModel"] == "test"  # from the server, the project names none
        assert config["judgeModel"] == "own-judge"  # the project's own config wins
        state = (await http.get(base + "v1/state")).json()
        assert state["project"]["id"] == "main"
        assert (await http.get("v1/config")).status_code == 404  # nothing under the default prefix
