"""Exact resume (issue 22): a notebook-style `Project` process SIGKILLed at each point of an LLM attempt,
then resumed by another process, repeats no completed model call and no completed tool call.

The scenario (tests/exact_resume_scenario.py): three model requests, an idempotent tool (http GET of a
counting page) and a non-idempotent one (a shell command appending to tally.txt). An uninterrupted run
in a twin project gives the requests the model must receive; the crashed run may add only the one that
was in flight.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from exact_resume_scenario import (
    MISSION,
    POINTS,
    Page,
    Scripted,
    check_one_attempt,
    check_requests,
    make_project,
    normalized,
    reference,
    serve_page,
)
from support import WAIT, kill_when

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus

CHILD = textwrap.dedent("""
    import json, pathlib, sys, threading, polpo_nb as polpo

    if len(sys.argv) > 3:  # freeze right after the final answer is stored, before the result's commit
        from pydantic_ai.messages import ModelResponse
        from polpo_nb.agents.durable_llm import DurableConversation
        stored = DurableConversation.responded

        async def responded(self, messages):
            new = await stored(self, messages)
            if isinstance(messages[-1], ModelResponse) and not messages[-1].tool_calls:
                pathlib.Path(sys.argv[3]).write_text("stored")
                threading.Event().wait()  # the whole process stops here until it is killed
            return new
        DurableConversation.responded = responded

    with polpo.Project(sys.argv[1]) as project:
        project.execute(polpo.Mission.model_validate(json.loads(sys.argv[2]))).wait()
""")
#: One more kill point, which only a hook in the process can reach: the final answer is stored and the
#: attempt's result is not (the resumed attempt reads the answer back without calling the model).
ANSWERED = "after the final answer is stored, before the result"


@pytest.fixture
def page() -> Iterator[Page]:
    with serve_page(Page()) as p:
        yield p


@pytest.mark.parametrize("point", [*POINTS, ANSWERED])
def test_sigkill_of_a_project_process_then_resume_repeats_nothing_completed(tmp_path: Path, page: Page, point: str):
    blocker, in_flight = POINTS.get(point, ("answer", None))
    expected, uninterrupted = reference(tmp_path, page, WAIT)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    with Scripted(page, block_at=in_flight if blocker == "model" else None) as model:
        root = make_project(tmp_path / "run" / "proj", model.server.base_url, shell_blocks=blocker == "shell")
        page.block = blocker == "page"
        marker = tmp_path / "answered"
        child = subprocess.Popen([sys.executable, str(script), str(root), json.dumps(MISSION),
                                  *([str(marker)] if blocker == "answer" else [])])
        ready = {"model": model.arrived.is_set, "page": page.arrived.is_set,
                 "shell": (root / "tally.txt").exists}.get(blocker, marker.exists)
        kill_when(child, ready)
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
    check_requests(received, expected, model.requests, point)
    # completed tools ran once; an idempotent one in flight ran again, a non-idempotent one did not
    assert (root / "tally.txt").read_text().count("ran") == 1
    assert page.hits == (2 if blocker == "page" else 1)
    check_one_attempt(point, [a.status for a in attempts], transcript)
    if blocker != "shell":  # usage counted once: the uninterrupted run's
        assert task.result.usage.model_dump(by_alias=True, exclude_none=True) == uninterrupted["usage"]
        assert task.result.data["requests"] == uninterrupted["data"]["requests"] == 3


def _kill_child(script: Path, root: Path, arrived) -> None:  # noqa: ANN001 - a threading.Event
    kill_when(subprocess.Popen([sys.executable, str(script), str(root), json.dumps(MISSION)]), arrived.is_set)


RESUME_CHILD = textwrap.dedent("""
    import sys, polpo_nb as polpo
    with polpo.Project(sys.argv[1]) as project:
        project.resume("exact").wait()
""")


def test_an_attempt_crashed_twice_runs_on_from_its_latest_step(tmp_path: Path, page: Page):
    """Killed in its second model call, resumed by a process killed in its third, resumed again: each
    model request an uninterrupted run makes is sent once, plus the two that were in flight."""
    expected, _ = reference(tmp_path, page, WAIT)
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "resume.py").write_text(RESUME_CHILD)
    with Scripted(page, block_at=2) as model:
        root = make_project(tmp_path / "run" / "proj", model.server.base_url, shell_blocks=False)
        _kill_child(tmp_path / "child.py", root, model.arrived)
        model.arrived.clear()
        model.block_at = 4  # the resumed process's second request: the third of the script
        # (the first request blocked is still held, its connection dead: released at the end)
        _kill_child(tmp_path / "resume.py", root, model.arrived)
        with polpo.Project(root) as project:
            record = project.resume("exact").wait(WAIT)
            attempts = project.attempts(record.tasks[0].id)
            transcript = [e.message for e in project.log(f"{record.tasks[0].id}-1")]
        received = normalized(model.requests, root)

    assert record.status == MissionStatus.COMPLETED and record.tasks[0].result.content == "all done"
    assert received == [expected[0], expected[1], expected[1], expected[2], expected[2]]
    assert (root / "tally.txt").read_text().count("ran") == 1 and page.hits == 1
    assert [a.status for a in attempts] == ["completed"]
    assert sum("resumed after a crash" in line for line in transcript) == 2
