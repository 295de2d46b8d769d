"""A running `polpo serve` follows edits of `.polpo/config.json`: no restart needed."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from server_helpers import free_port, start_serve, stop_serve

KEY = "reload-key"


def test_orchestrator_model_set_while_serving_is_used_by_the_next_chat(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    project = tmp_path / "proj"
    (project / ".polpo").mkdir(parents=True)
    config = project / ".polpo" / "config.json"
    config.write_text("{}")
    port = free_port()
    proc = start_serve(project, port=port, key=KEY, log=tmp_path / "serve.log", cli=False)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", headers={"Authorization": f"Bearer {KEY}"},
                          timeout=30) as client:
            ask = {"model": "polpo", "messages": [{"role": "user", "content": "hi"}]}
            before = client.post("chat/completions", json=ask)
            assert before.status_code == 400 and before.json()["error"]["code"] == "orchestrator_model_not_configured"
            config.write_text(json.dumps({"orchestratorModel": "openai:gpt-4o"}))
            assert client.get("config").json()["orchestratorModel"] == "openai:gpt-4o"
            after = client.post("chat/completions", json=ask)
            assert "OPENAI_API_KEY" in after.json()["error"]["message"], after.text
    finally:
        stop_serve(proc)
