"""Notebook tasks over HTTP (issue 17) on a real `polpo serve`: the same model as Python and mission files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import nbformat
from notebook_files import kernels, write_notebook
from server_helpers import WAIT, free_port, start_serve, stop_serve, until

KEY = "sk_test_notebooks"


async def test_a_notebook_task_over_http(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    write_notebook(root / "nb" / "square.ipynb", ("parameters", "n = 1"),
                   "import polpo_nb\npolpo_nb.result({'content': f'{n} squared is {n * n}', 'data': n * n})")
    port = free_port()
    log = tmp_path / "serve.log"
    proc = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/", timeout=WAIT,
                                     headers={"Authorization": f"Bearer {KEY}"}) as client:
            escaping = await client.post("v1/missions", json={"name": "bad", "tasks": [
                {"title": "x", "notebook": "../x.ipynb"}]})
            assert escaping.status_code == 400 and "without '..'" in escaping.text
            bodiless = await client.post("v1/tasks", json={"title": "x"})
            assert bodiless.status_code == 400 and "an agent (assignTo) or a notebook" in bodiless.text

            created = await client.post("v1/missions", json={"name": "squares", "tasks": [
                {"title": "Square", "notebook": "nb/square.ipynb", "parameters": {"n": 7}}]})
            assert created.status_code == 201, created.text
            mission = created.json()
            assert mission["tasks"][0]["assignTo"] == "nb/square.ipynb"
            started = await client.post(f"v1/missions/{mission['id']}/execute", headers={"Accept": "application/json"})
            assert started.status_code == 200, started.text

            async def settled() -> dict | None:
                record = (await client.get(f"v1/missions/{mission['id']}")).json()
                return record if record["status"] in ("completed", "failed") else None

            record = await until(settled, timeout=WAIT * 2)
            result = record["tasks"][0]["result"]
            assert record["status"] == "completed", result
            assert (result["content"], result["data"]) == ("7 squared is 49", 49)
            read = await client.get("v1/files/read", params={"path": result["filesCreated"][0]})
            assert read.status_code == 200
            copy = nbformat.reads(read.text, as_version=4)
            assert "n = 7" in copy.cells[1].source and copy.cells[1].metadata["tags"] == ["injected-parameters"]
        assert not kernels()
    finally:
        code = await asyncio.to_thread(stop_serve, proc)
    assert code == 0, log.read_text()
