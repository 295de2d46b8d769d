"""Files: list / read / preview inside the project only (`..`, absolute paths, symlinks, encoded
traversal), binary files, `download=1`, `maxLines`."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_helpers import Api

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def tree(root_dir: Path, tmp_path: Path, project) -> Path:
    (root_dir / "docs").mkdir()
    (root_dir / "docs" / "notes.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    (root_dir / "docs" / "data.json").write_text('{"a": 1}\n')
    (root_dir / "docs" / "chart.png").write_bytes(PNG)
    (root_dir / "docs" / "blob").write_bytes(b"\x00\x01\x02\xff" * 100)
    (root_dir / "docs" / "page.html").write_text("<script>alert(1)</script>")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    (root_dir / "escape").symlink_to(outside)
    (root_dir / "docs" / "inner-link.txt").symlink_to(root_dir / "docs" / "notes.txt")
    return root_dir


@pytest.mark.parametrize("path", ["../outside/secret.txt", "docs/../../outside/secret.txt", "/etc/passwd",
                                  "escape/secret.txt", "escape"])
@pytest.mark.parametrize("route", ["files/read", "files/preview", "files/list"])
async def test_paths_leaving_the_project_are_refused(api: Api, tree: Path, path: str, route: str):
    response = await api.request("GET", route, params={"path": path})
    body = api.error(response, 400)
    assert "secret" not in response.text.replace("secret.txt", "") and "top secret" not in response.text
    assert body["code"] in ("BAD_REQUEST", "bad_request")


async def test_url_encoded_traversal_is_refused(api: Api, tree: Path):
    url = api.url("files/read") + "?path=%2e%2e%2Foutside%2Fsecret.txt"
    response = await api.client.get(url)
    api.error(response, 400)
    assert "top secret" not in response.text
    response = await api.client.get(api.url("files/read") + "?path=docs%2F%2E%2E%2F%2E%2E%2Foutside%2Fsecret.txt")
    api.error(response, 400)


async def test_absolute_path_inside_the_project_is_allowed(api: Api, tree: Path):
    response = await api.client.get(api.url("files/read"), params={"path": str(tree / "docs" / "notes.txt")})
    assert response.status_code == 200 and response.text.startswith("line 1\n")


async def test_symlink_inside_the_project_is_followed(api: Api, tree: Path):
    response = await api.client.get(api.url("files/read"), params={"path": "docs/inner-link.txt"})
    assert response.status_code == 200 and response.text.startswith("line 1")


async def test_listing_shows_directories_first_and_hides_escaping_symlinks(api: Api, tree: Path):
    listing = await api.get("files/list")
    names = [e["name"] for e in listing["entries"]]
    assert ".polpo" in names and "docs" in names and "escape" not in names
    docs = await api.get("files/list", params={"path": "docs"})
    entries = {e["name"]: e for e in docs["entries"]}
    assert entries["notes.txt"] == {**entries["notes.txt"], "type": "file", "path": "docs/notes.txt", "size": 71}
    assert docs["path"] == "docs"


async def test_read_streams_bytes_with_their_content_type(api: Api, tree: Path):
    response = await api.client.get(api.url("files/read"), params={"path": "docs/chart.png"})
    assert response.status_code == 200 and response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith("inline")
    blob = await api.client.get(api.url("files/read"), params={"path": "docs/blob"})
    assert blob.content == b"\x00\x01\x02\xff" * 100 and blob.headers["content-type"] == "application/octet-stream"


async def test_download_sets_content_disposition_attachment(api: Api, tree: Path):
    response = await api.client.get(api.url("files/read"), params={"path": "docs/notes.txt", "download": "1"})
    assert response.headers["content-disposition"] == "attachment; filename*=utf-8''notes.txt"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


async def test_html_is_served_sandboxed(api: Api, tree: Path):
    response = await api.client.get(api.url("files/read"), params={"path": "docs/page.html"})
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_preview_of_text_honours_max_lines(api: Api, tree: Path):
    short = await api.get("files/preview", params={"path": "docs/notes.txt", "maxLines": 3})
    assert short == {"path": "docs/notes.txt", "type": "text", "mimeType": "text/plain; charset=utf-8", "size": 71,
                     "content": "line 1\nline 2\nline 3\n", "truncated": True}
    full = await api.get("files/preview", params={"path": "docs/notes.txt"})
    assert full["truncated"] is False and full["content"].count("\n") == 10
    data = await api.get("files/preview", params={"path": "docs/data.json"})
    assert data["type"] == "json" and data["content"] == '{"a": 1}\n'


async def test_preview_of_binary_gives_the_url_of_its_bytes(api: Api, tree: Path):
    preview = await api.get("files/preview", params={"path": "docs/chart.png"})
    assert preview["type"] == "image" and "content" not in preview and preview["size"] == len(PNG)
    url = preview["url"]
    assert url.endswith("/files/read?path=docs/chart.png")
    assert url.startswith("/a%40b/polpo/")  # a path on this server, under its base URL
    assert (await api.client.get(api.client.base_url.join(url))).content == PNG
    blob = await api.get("files/preview", params={"path": "docs/blob"})
    assert blob["type"] == "binary"


async def test_missing_files_are_404_and_wrong_kinds_400(api: Api, tree: Path):
    api.error(await api.request("GET", "files/read", params={"path": "docs/nope.txt"}), 404)
    api.error(await api.request("GET", "files/read", params={"path": "docs"}), 400)
    api.error(await api.request("GET", "files/list", params={"path": "docs/notes.txt"}), 400)
    body = api.error(await api.request("GET", "files/read"), 400)
    assert body["errors"][0]["loc"] == ["path"]


async def test_the_state_database_is_neither_listed_nor_read(api: Api, tree: Path):
    """Reading it in the server's process would drop the store's SQLite locks (polpo_nb/sandbox.py)."""
    listing = await api.get("files/list", params={"path": ".polpo"})
    assert not [e for e in listing["entries"] if e["name"].startswith("state.db")]
    for route in ("files/read", "files/preview"):
        for path in (".polpo/state.db", ".polpo/state.db-wal"):
            body = api.error(await api.request("GET", route, params={"path": path}), 400)
            assert "state database" in body["error"]


async def test_the_server_s_credentials_see_a_nested_project_s_files(api: Api, tree: Path):
    """As Jupyter's contents API does: the widget links a nested project's executed notebooks through the
    root's routes (a project key does not reach them: test_server_keys.py)."""
    (tree / "sub" / ".polpo").mkdir(parents=True)
    (tree / "sub" / "mission.yaml").write_text("name: theirs\n")
    assert "sub" in [e["name"] for e in (await api.get("files/list"))["entries"]]
    response = await api.client.get(api.url("files/read"), params={"path": "sub/mission.yaml"})
    assert response.status_code == 200 and response.text == "name: theirs\n"
