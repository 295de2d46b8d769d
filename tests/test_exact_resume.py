"""Exact resume (issue 22): a notebook-style `Project` process SIGKILLed at each point of an LLM attempt,
then resumed by another process, repeats no completed model call and no completed tool call.

The scenario (tests/exact_resume_scenario.py): three model requests, an idempotent tool (http GET of a
counting page) and a non-idempotent one (a shell command appending to tally.txt). An uninterrupted run
in a twin project gives the requests the model must receive; the crashed run may add only the one that
was in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exact_resume_scenario import MISSION, Page, Scripted, config, normalized, serve_page, tool_messages
from support import WAIT, wait_for

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus

CHILD = textwrap.dedent("""
    import json, sys, polpo_nb as polpo
    with polpo.Project(sys.argv[1]) as project:
        project.execute(polpo.Mission.model_validate(json.loads(sys.argv[2]))).wait()
""")


def _project(root: Path, model_url: str) -> Path:
    root.mkdir(parents=True)
    (root / "polpo.json").write_text(json.dumps(config(model_url)))
    return root


@pytest.fixture
def page() -> Iterator[Page]:
    with serve_page(Page()) as p:
        yield p


def _reference(tmp_path: Path, page: Page) -> tuple[list[str], dict[str, Any]]:
    """The requests and the result of the same attempt run without a crash (in a twin project)."""
    root = _project(tmp_path / "ref" / "proj", "")
    (root / "release").write_text("")
    with Scripted(page) as model:
        (root / "polpo.json").write_text(json.dumps(config(model.server.base_url)))
        with polpo.Project(root) as project:
            record = project.execute(polpo.Mission.model_validate(MISSION)).wait(WAIT)
        assert record.status == MissionStatus.COMPLETED
        return normalized(model.requests, root), record.tasks[0].result.model_dump(by_alias=True)


#: kill point -> (what blocks, index of the request in flight at the kill or None)
POINTS = {
    "during the first model call": ("model", 1),
    "after a model response, its idempotent tool in flight": ("page", None),
    "after a tool result, the next model call in flight": ("model", 2),
    "during a non-idempotent tool call": ("shell", None),
    "after the non-idempotent tool's result": ("model", 3),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_of_a_project_process_then_resume_repeats_nothing_completed(tmp_path: Path, page: Page, point: str):
    blocker, in_flight = POINTS[point]
    expected, reference = _reference(tmp_path, page)
    page.hits = 0

    root = _project(tmp_path / "run" / "proj", "")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    if blocker != "shell":
        (root / "release").write_text("")  # the shell command finishes at once
    with Scripted(page, block_at=in_flight if blocker == "model" else None) as model:
        (root / "polpo.json").write_text(json.dumps(config(model.server.base_url)))
        page.block = blocker == "page"
        child = subprocess.Popen([sys.executable, str(script), str(root), json.dumps(MISSION)])
        try:
            if blocker == "model":
                wait_for(lambda: model.arrived.is_set() or child.poll() is not None, WAIT)
            elif blocker == "page":
                wait_for(lambda: page.arrived.is_set() or child.poll() is not None, WAIT)
            else:
                wait_for(lambda: (root / "tally.txt").exists() or child.poll() is not None, WAIT)
            assert child.poll() is None, "the child ended before the kill point"
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(WAIT) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
        page.block = False
        page.release.set()
        (root / "release").write_text("")  # a shell command still waiting (orphaned) ends

        with polpo.Project(root) as project:
            record = project.resume("exact").wait(WAIT)
            task = record.tasks[0]
            attempts = project.attempts(task.id)
            transcript = [e.message for e in project.log(f"{task.id}-{attempts[-1].number}")]
        received = normalized(model.requests, root)

    assert record.status == MissionStatus.COMPLETED and task.status == TaskStatus.DONE
    assert task.result.content == "all done"
    # the model got exactly the uninterrupted run's requests, plus the one in flight at the kill
    if in_flight is not None:
        assert received == expected[:in_flight] + expected[in_flight - 1:]
    elif blocker == "page":
        assert received == expected
    else:  # the shell was in flight: the model is told, with the rest of the conversation unchanged
        assert received[:2] == expected[:2] and len(received) == 3
        answers = tool_messages(model.requests[2])
        assert answers[0] == tool_messages(json.loads(expected[2]))[0]
        assert answers[1].startswith("interrupted by a crash")
    # completed tools ran once; an idempotent one in flight ran again, a non-idempotent one did not
    assert (root / "tally.txt").read_text().count("ran") == 1
    assert page.hits == (2 if blocker == "page" else 1)
    # one attempt across the crash: one row, one transcript, usage counted once; an attempt that stored
    # nothing (killed in its first model call) starts over as a new one
    if in_flight == 1:
        assert [a.status for a in attempts] == ["crashed", "completed"]
        assert not any("resumed after a crash" in line for line in transcript)
    else:
        assert [a.status for a in attempts] == ["completed"]
        assert sum("resumed after a crash" in line for line in transcript) == 1
        assert sum(line.startswith("[user]") for line in transcript) == 1
    if blocker != "shell":
        assert task.result.usage.model_dump(by_alias=True) == reference["usage"]
        assert task.result.data["requests"] == reference["data"]["requests"] == 3
