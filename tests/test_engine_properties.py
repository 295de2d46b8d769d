"""Property-based: random DAGs, priorities and failures. Every mission terminates, no task starts
before its dependencies are done, and nothing downstream of a failure runs."""

from __future__ import annotations

import itertools
import tempfile
import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus
from polpo_nb.spec.graph import descendants


@st.composite
def dags(draw):
    n = draw(st.integers(min_value=1, max_value=14))
    tasks = []
    for i in range(n):
        deps = draw(st.sets(st.integers(min_value=0, max_value=i - 1), max_size=3)) if i else set()
        tasks.append({"title": f"t{i}", "deps": sorted(f"t{d}" for d in deps),
                      "priority": draw(st.integers(min_value=0, max_value=3))})
    failing = draw(st.sets(st.sampled_from([t["title"] for t in tasks]), max_size=3))
    concurrency = draw(st.integers(min_value=1, max_value=4))
    return tasks, failing, concurrency


_names = itertools.count()
_projects: dict[int, polpo.Project] = {}


def _project(concurrency: int) -> polpo.Project:
    if concurrency not in _projects:
        _projects[concurrency] = polpo.Project(tempfile.mkdtemp(prefix="polpo-prop-"), config={"maxConcurrency": concurrency})
    return _projects[concurrency]


def teardown_module() -> None:
    for project in _projects.values():
        project.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_missions_terminate_in_dependency_order(dag):
    tasks, failing, concurrency = dag
    project = _project(concurrency)
    name = f"m{next(_names)}"
    lock = threading.Lock()
    clock = itertools.count()
    started: dict[str, int] = {}
    finished: dict[str, int] = {}
    agent = f"a-{name}"

    @project.agent(agent)
    def work(task, ctx):
        with lock:
            started.setdefault(task.title, next(clock))
        if task.title in failing:
            raise RuntimeError("planned failure")
        with lock:
            finished[task.title] = next(clock)
        return "ok"

    mission = polpo.Mission(name)
    for t in tasks:
        mission.task(t["title"], assign_to=agent, depends_on=t["deps"], priority=t["priority"], max_retries=0)
    record = project.execute(mission).wait(60)

    assert record.status in (MissionStatus.COMPLETED, MissionStatus.FAILED)
    assert (record.status == MissionStatus.COMPLETED) == (not failing)
    graph = {t["title"]: t["deps"] for t in tasks}
    for title, at in started.items():
        for dep in graph[title]:
            assert dep in finished and finished[dep] < at, f"{title} started before {dep} was done"
    doomed = descendants(graph, set(failing))
    assert not doomed & set(started), "a dependent of a failed task ran"
    by_title = {t.title: t for t in record.tasks}
    for title in graph:
        expected = TaskStatus.FAILED if title in failing or title in doomed else TaskStatus.DONE
        assert by_title[title].status == expected
