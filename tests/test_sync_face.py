"""The blocking `Project` is the async API's twin: every public coroutine of `AsyncProject` has a
blocking method of the same name, parameters, return type and docstring, run on the engine thread."""

from __future__ import annotations

import asyncio
import inspect
import pydoc
import threading

import pytest

import polpo_nb as polpo
from polpo_nb.project.aproject import AsyncProject
from polpo_nb.project.sync import Project

#: Coroutines whose blocking face is not a method of the same name: `AsyncProject.open(path)` is
#: `Project(path)`.
NOT_TWINNED = {"open"}


def _public_coroutines() -> dict[str, object]:
    return {name: fn for name, fn in inspect.getmembers(AsyncProject)
            if not name.startswith("_") and name not in NOT_TWINNED and inspect.iscoroutinefunction(fn)}


def test_the_async_api_has_the_coroutines_the_face_is_checked_against():
    coroutines = _public_coroutines()
    assert {"create_task", "execute_mission", "state", "schedule_history", "chat"} <= set(coroutines)


def test_every_public_coroutine_has_a_blocking_twin_with_its_parameters_and_docstring():
    problems = []
    for name, coro_fn in _public_coroutines().items():
        twin = getattr(Project, name, None)
        if twin is None:
            problems.append(f"{name}: missing")
            continue
        if inspect.iscoroutinefunction(twin):
            problems.append(f"{name}: a coroutine, not a blocking method")
        want, got = inspect.signature(coro_fn), inspect.signature(twin)
        if list(got.parameters.values()) != list(want.parameters.values()):
            problems.append(f"{name}: parameters {got} instead of {want}")
        if got.return_annotation != want.return_annotation:
            problems.append(f"{name}: returns {got.return_annotation} instead of {want.return_annotation}")
        if hasattr(twin, "__wrapped__"):  # derived: the async method's own docstring
            if twin.__doc__ != coro_fn.__doc__:
                problems.append(f"{name}: docstring differs")
        elif not inspect.getdoc(twin):  # written by hand (close, chat): its own docstring
            problems.append(f"{name}: no docstring")
    assert problems == []


def test_help_shows_the_real_parameters_and_return_type():
    text = pydoc.plain(pydoc.render_doc(Project.create_task))
    assert "create_task(self, task: 'Task | dict[str, Any]') -> 'TaskRecord'" in text
    assert "A standalone task (status draft)" in text
    text = pydoc.plain(pydoc.render_doc(Project.list_tasks))
    assert "*, status: 'str | None' = None" in text and "-> 'list[TaskRecord]'" in text


def test_blocking_calls_run_on_the_engine_thread_and_return_the_result(project: polpo.Project):
    seen: list[threading.Thread] = []

    async def get_memory() -> str:
        seen.append(threading.current_thread())
        return "remembered"

    project.aio.get_memory = get_memory  # type: ignore[method-assign]  # the twin looks it up at each call
    assert project.get_memory() == "remembered"
    assert seen == [project._thread.thread] and seen[0] is not threading.current_thread()


def test_schedule_history_is_on_the_blocking_face(project: polpo.Project):
    project.agent("w")(lambda task, ctx: "ran")
    mission = project.save_mission(polpo.Mission("m").task("a", assign_to="w"))
    assert project.schedule_history(mission.id) == []


def test_a_blocking_method_says_it_is_project_s():
    assert Project.create_task.__qualname__ == "Project.create_task"
    assert Project.create_task.__module__ == "polpo_nb.project.sync"


def test_a_closed_project_says_so_and_how_to_reopen_it(tmp_path):
    """A notebook cell run again after `project.close()` (or after its `with` block): one clear error,
    not asyncio's "Event loop is closed" and warnings about coroutines never awaited."""
    import warnings

    from polpo_nb import ProjectClosedError

    project = polpo.Project(tmp_path)
    project.agent("w")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="w"))
    run.wait(30)
    project.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a coroutine left unawaited warns: it must not be made at all
        for call in (lambda: project.list_missions(), lambda: project.execute(polpo.Mission("n").task("b", assign_to="w")),
                     lambda: run.status, lambda: run.wait(1), lambda: asyncio.run(run.wait_async()),
                     lambda: asyncio.run(project.aio.list_missions())):
            with pytest.raises(ProjectClosedError) as info:
                call()
            assert "closed" in str(info.value) and "polpo.Project(" in str(info.value)
    project.close()  # closing again is harmless
    with polpo.Project(tmp_path) as again:  # and the project opens again, its state kept
        assert again.get_mission("m").status.value == "completed"


def test_a_wait_that_times_out_says_what_is_still_running(project: polpo.Project):
    release = threading.Event()
    project.agent("slow")(lambda task, ctx: release.wait(30) and "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="slow"))
    try:
        with pytest.raises(TimeoutError) as info:
            run.wait(0.05)
        assert str(info.value) == "mission 'm' is still active after 0.05 s; it keeps running (wait again, or abort it)"
        with pytest.raises(ValueError, match="timeout"):
            run.wait(float("nan"))
    finally:
        release.set()
    assert run.wait(float("inf")).status.value == "completed"  # no limit, as None
