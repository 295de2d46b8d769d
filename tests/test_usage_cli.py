"""`polpo usage` and `polpo show` (real subprocesses) say what a mission spent, with unpriced calls apart."""

from __future__ import annotations

from pathlib import Path

from cli_project import as_json, polpo

import polpo_nb as polpo_lib
from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call


def two_turns(body: dict) -> dict:
    return text("done") if last_message(body)["role"] == "tool" else tool_call("list_files", {"path": "."})


def usage(body: dict, message: dict) -> dict:
    return {"prompt_tokens": 1200, "completion_tokens": 34, "total_tokens": 1234,
            "prompt_tokens_details": {"cached_tokens": 200}}


def test_usage_and_show_print_the_missions_spend(project_dir: Path):
    with LoopbackOpenAI(two_turns, usage=usage) as server:
        config = {"providers": {"local": {"baseUrl": server.base_url}},
                  "prices": {"local:priced": {"inputPerMtok": 1.0, "outputPerMtok": 2.0}}}
        mission = polpo_lib.Mission.model_validate({
            "name": "spendy", "budget": {"maxTokens": 100000},
            "tasks": [{"title": "a", "assignTo": "p"}, {"title": "b", "assignTo": "u"}],
            "team": {"agents": [{"name": "p", "model": "local:priced"}, {"name": "u", "model": "local:unpriced"}]},
        })
        with polpo_lib.Project(project_dir, config=config) as project:
            assert project.execute(mission).wait(30).status.value == "completed"

    table = polpo("usage", "spendy", cwd=project_dir, check=0).stdout
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert rows["p"][1:4] == ["2,468", "2,400", "68"] and rows["u"][1] == "2,468"
    assert "0.0025" in rows["p"] and rows["u"][-2] == "2"  # p priced (2,400 in at $1/M + 68 out at $2/M), u flagged
    by_model = {line["key"]: line for line in as_json("usage", "--by", "model", "--json", cwd=project_dir)}
    assert by_model["local:unpriced"]["unpricedRequests"] == 2 and "costUsd" not in by_model["local:unpriced"]
    assert by_model["local:priced"]["costUsd"] == 0.002536

    shown = polpo("show", "spendy", cwd=project_dir, check=0).stdout
    assert ("spent: 4,936 tokens (in 4,800, out 136, cached 800), 4 requests, 2 tool calls, $0.0025 + 2 unpriced calls"
            in shown)
    assert "budget: maxTokens 4936 of 100000" in shown
    assert "--by" in polpo("usage", "--by", "colour", cwd=project_dir, check=2).stderr
