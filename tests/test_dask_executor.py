"""Task bodies on a Dask cluster: a real LocalCluster of worker processes, started once for the module.

Agent functions are module-level so the workers import them by reference (a LocalCluster's workers get
this process's sys.path); the markers in `tmp_path` are how a test and a worker process talk.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from support import wait_for

import polpo_nb as polpo
from polpo_nb.errors import SpecError
from polpo_nb.executors.dask import DaskExecutor
from polpo_nb.spec import MissionStatus, TaskStatus
from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call

WAIT = 30  # seconds: a hang is a failure, never a timing assertion
#: A provider key only the workers' environment holds.
WORKER_KEY_ENV, WORKER_KEY = "POLPO_DASK_TEST_KEY", "sk-only-on-the-workers"
pytestmark = pytest.mark.timeout(90)  # per test, the module's cluster start-up included
#: No dashboard; the scheduler's health endpoint on a free port, not 8787 (a parallel test run may hold it).
_NO_FIXED_HTTP_PORT = {"dashboard_address": ":0"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=2, dashboard_address=None,
                      scheduler_kwargs=_NO_FIXED_HTTP_PORT, env={WORKER_KEY_ENV: WORKER_KEY}) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster, set_as_default=False) as dask_client:
        yield dask_client


@pytest.fixture
def project(project_dir: Path, client: Client) -> Iterator[polpo.Project]:
    proj = polpo.Project(project_dir, executor=client)  # a Client passed in: its cluster runs the bodies
    yield proj
    proj.close()


# == agents (run on the workers) =======================================================================


def report_pid(task, ctx):
    ctx.output(f"sync {task.title} says hi")
    ctx.log("a line for the attempt's log")
    return {"pid": os.getpid(), "upstream": sorted(ctx.upstream)}


def draft_then_fix(task, ctx):
    return {"content": "v2" if ctx.feedback else "v1", "data": {"pid": os.getpid(), "phase": ctx.phase.value,
                                                             "feedback": ctx.feedback}}


async def report_pid_async(task, ctx):
    await asyncio.sleep(0.01)
    ctx.output(f"async {task.title} says hi")
    return {"pid": os.getpid(), "loop": type(asyncio.get_running_loop()).__name__}


def wait_for_release(task, ctx):
    """Streams a line, then waits until the test, having seen that line as an event, releases it."""
    ctx.output("first")
    release = Path(ctx.mission_data["release"])
    deadline = time.monotonic() + WAIT
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    ctx.output("second")
    return {"released": release.exists()}


def tell(marker: str, text: str) -> None:
    """Write the test's marker whole or not at all (the test waits for it to exist, then reads it: a plain
    write could be seen created and still empty)."""
    path = Path(marker)
    path.with_suffix(".tmp").write_text(text)
    os.replace(path.with_suffix(".tmp"), path)


def die_on_first_attempt(task, ctx):
    """Attempt 1 tells the test its pid and waits to be killed; later attempts succeed."""
    if ctx.attempt == 1:
        tell(ctx.mission_data["marker"], str(os.getpid()))
        time.sleep(WAIT)
        return "not killed"
    return {"pid": os.getpid()}


def spin_until_cancelled(task, ctx):
    """A sync agent cannot be interrupted: it polls ctx.cancelled and says what it saw."""
    deadline = time.monotonic() + WAIT
    while not ctx.cancelled and time.monotonic() < deadline:
        time.sleep(0.02)
    tell(ctx.mission_data["marker"], "cancelled" if ctx.cancelled else "never cancelled")
    return "done spinning"


async def sleep_forever(task, ctx):
    try:
        await asyncio.sleep(WAIT)
    except asyncio.CancelledError:
        tell(ctx.mission_data["marker"], "cancelled on the worker")
        raise
    return "woke up"


def explode(task, ctx):
    ctx.output("about to fail")
    raise ValueError(f"boom in {os.getpid()}")


def scripted_llm(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """An LLM that writes a file through the write_file tool, then answers with the pid it runs in."""
    returned = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]
    if not returned:
        return ModelResponse(parts=[ToolCallPart("write_file", {"path": "notes.md", "content": "from a worker"})])
    return ModelResponse(parts=[TextPart(f"wrote notes.md in {os.getpid()}")])


# == tests =============================================================================================


def test_sync_and_async_agents_run_in_worker_processes_and_their_results_come_back(project):
    events: list = []
    project.subscribe(events.append, "task:output")
    project.agent("sync")(report_pid)
    project.agent("async")(report_pid_async)
    mission = (polpo.Mission("m").task("a", assign_to="sync").task("b", assign_to="async")
               .task("c", assign_to="sync", depends_on=["a", "b"]))
    record = project.execute(mission).wait(WAIT)

    assert record.status == MissionStatus.COMPLETED
    a, b, c = record.tasks
    assert all(t.status == TaskStatus.DONE for t in record.tasks)
    assert all(t.result.data["pid"] != os.getpid() for t in record.tasks)
    assert b.result.data["loop"] == "_UnixSelectorEventLoop"
    assert c.result.data["upstream"] == ["a", "b"]
    assert sorted(e.data["text"] for e in events) == ["async b says hi", "sync a says hi", "sync c says hi"]
    assert project.log(f"{a.id}-1")[0].message == "a line for the attempt's log"


def test_results_assessments_and_a_fix_phase_are_stored_by_the_engine(project):
    judged_in: list[int] = []

    @project.judge
    def judge(expectation, task, result):  # the judge stays in the engine process
        judged_in.append(os.getpid())
        return (5, "good") if result.content == "v2" else (2, "write v2")

    project.agent("w")(draft_then_fix)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w", expectations=["is v2"])).wait(WAIT)
    task = record.tasks[0]
    assert record.status == MissionStatus.COMPLETED and task.status == TaskStatus.DONE
    assert task.result.content == "v2" and task.result.data["phase"] == "fix"
    assert "write v2" in task.result.data["feedback"] and task.result.data["pid"] != os.getpid()
    assert task.assessment.passed and task.assessment.score == 5
    assert judged_in == [os.getpid(), os.getpid()]
    attempts = project.attempts(task.id)
    assert [a.status for a in attempts] == ["completed", "completed"]
    assert [a.phase for a in attempts] == ["execution", "fix"]
    again = project.get_task(task.id)  # read back from the store
    assert again.assessment.score == 5 and again.result.content == "v2"


def test_output_streams_while_the_attempt_runs_on_the_worker(project, tmp_path):
    release = tmp_path / "release"
    seen: list[str] = []

    def on_output(event):
        seen.append(event.data["text"])
        if event.data["text"] == "first":
            release.touch()

    project.subscribe(on_output, "task:output")
    project.agent("w")(wait_for_release)
    record = project.execute(polpo.Mission("m", data={"release": str(release)}).task("a", assign_to="w")).wait(WAIT)
    assert record.tasks[0].result.data == {"released": True}  # "first" arrived before the agent returned
    assert seen == ["first", "second"]  # once each, in order, though both the stream and the result carry them


def test_config_executor_dask_connects_to_the_scheduler_address(project_dir, cluster):
    proj = polpo.Project(project_dir, config={"executor": "dask", "daskScheduler": cluster.scheduler_address})
    try:
        proj.agent("w")(report_pid)
        record = proj.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
        assert record.tasks[0].status == TaskStatus.DONE
        assert record.tasks[0].result.data["pid"] != os.getpid()
        assert isinstance(proj.aio._executor, DaskExecutor)
    finally:
        proj.close()


def test_a_client_distributed_closed_is_replaced_by_a_new_connection(project_dir, cluster):
    """distributed closes a client whose scheduler went away; once the scheduler is back, a long-lived
    project (a server, a kernel) connects again. Every later attempt failed at once with
    `ClosedClientError` until the process was restarted."""
    proj = polpo.Project(project_dir, config={"executor": "dask", "daskScheduler": cluster.scheduler_address})
    try:
        proj.agent("w")(report_pid)
        assert proj.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT).status == MissionStatus.COMPLETED
        executor = proj.aio._executor
        assert isinstance(executor, DaskExecutor) and executor.client is not None
        first = executor.client
        first.close()  # as distributed does when its scheduler is gone for good
        again = proj.execute(polpo.Mission("again").task("a", assign_to="w", max_retries=0)).wait(WAIT)
        assert again.status == MissionStatus.COMPLETED, again.tasks[0].result
        assert executor.client is not None and executor.client is not first
    finally:
        proj.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_fails_the_attempts_with_a_clear_error(project_dir):
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    proj = polpo.Project(project_dir, config={"executor": "dask", "daskScheduler": address,
                                              "daskConnectTimeout": 1})
    try:  # the project opens (its state stays readable); the attempts cannot run
        proj.agent("w")(report_pid)
        record = proj.execute(polpo.Mission("m").task("a", assign_to="w", max_retries=2)
                              .task("b", assign_to="w", max_retries=0)).wait(WAIT)
        assert record.status == MissionStatus.FAILED
        for task in record.tasks:
            assert task.status == TaskStatus.FAILED
            assert "DaskExecutorError: cannot reach the Dask scheduler at" in task.result.error
            assert address in task.result.error and "daskScheduler" in task.result.error
        assert len(proj.attempts(record.tasks[0].id)) == 3  # it failed and was retried like any failure
    finally:
        proj.close()


async def test_an_asynchronous_client_on_the_engine_loop(project_dir, cluster):
    async with Client(cluster.scheduler_address, asynchronous=True, set_as_default=False) as aclient:
        proj = await polpo.AsyncProject.open(project_dir, executor=aclient)
        try:
            proj.agent("p")(report_pid)
            handle = await proj.execute_mission(polpo.Mission("m").task("a", assign_to="p"))
            record = await asyncio.wait_for(handle.wait_async(), WAIT)
            assert record.tasks[0].status == TaskStatus.DONE and record.tasks[0].result.data["pid"] != os.getpid()
            plugins = await aclient.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.plugins))
            assert "polpo-nb-attempts" in plugins  # registered through the asynchronous client too
        finally:
            await proj.close()


def test_executor_dask_without_a_scheduler_address_is_a_spec_error(project_dir):
    with pytest.raises(SpecError, match="daskScheduler"):
        polpo.Project(project_dir, config={"executor": "dask"})


def test_worker_killed_mid_task_fails_the_attempt_and_the_retry_succeeds(project, client, tmp_path):
    events: list = []
    project.subscribe(events.append, "task:retry")
    project.agent("w")(die_on_first_attempt)
    marker = tmp_path / "worker.pid"
    run = project.execute(polpo.Mission("m", data={"marker": str(marker)}).task("a", assign_to="w", max_retries=1))
    wait_for(marker.exists)
    doomed = int(marker.read_text())
    os.kill(doomed, signal.SIGKILL)

    record = run.wait(WAIT)
    task = record.tasks[0]
    assert record.status == MissionStatus.COMPLETED and task.status == TaskStatus.DONE
    assert task.result.data["pid"] not in (doomed, os.getpid())
    attempts = project.attempts(task.id)
    assert [a.status for a in attempts] == ["failed", "completed"]
    assert "WorkerLostError" in attempts[0].result and "KilledWorker" in attempts[0].result
    assert [e.data["attempt"] for e in events] == [1]
    client.wait_for_workers(2, timeout=WAIT)  # the nanny restarts the worker for the tests that follow


def test_max_duration_cancels_the_dask_future_and_a_sync_agent_sees_ctx_cancelled(project, tmp_path):
    events: list = []
    project.subscribe(events.append, "task:timeout")
    project.agent("w")(spin_until_cancelled)
    marker = tmp_path / "seen"
    mission = polpo.Mission("m", data={"marker": str(marker)}).task("a", assign_to="w", max_duration=300,
                                                                     max_retries=0)
    record = project.execute(mission).wait(WAIT)
    assert record.tasks[0].status == TaskStatus.FAILED and "maxDuration" in record.tasks[0].result.error
    assert len(events) == 1
    wait_for(marker.exists)
    assert marker.read_text() == "cancelled"  # the scheduler released the attempt's key on the worker


def test_max_duration_cancels_a_running_async_agent_on_the_worker(project, tmp_path):
    project.agent("w")(sleep_forever)
    marker = tmp_path / "seen"
    mission = polpo.Mission("m", data={"marker": str(marker)}).task("a", assign_to="w", max_duration=300,
                                                                     max_retries=0)
    assert project.execute(mission).wait(WAIT).tasks[0].status == TaskStatus.FAILED
    wait_for(marker.exists)
    assert marker.read_text() == "cancelled on the worker"


def test_agent_exception_on_a_worker_fails_the_attempt_with_the_worker_traceback(project):
    events: list = []
    project.subscribe(events.append, "task:output")
    project.agent("bad")(explode)
    record = project.execute(polpo.Mission("m").task("a", assign_to="bad", max_retries=0)).wait(WAIT)
    task = record.tasks[0]
    assert task.status == TaskStatus.FAILED
    assert "ValueError: boom in" in task.result.error and f"boom in {os.getpid()}" not in task.result.error
    assert "in explode" in task.result.error  # the worker-side frames
    assert [e.data["text"] for e in events] == ["about to fail"]


def test_llm_agent_runs_its_tool_loop_on_a_worker(project):
    tools: list = []
    project.subscribe(tools.append, "task:tool_use")
    project.models.register("scripted", FunctionModel(scripted_llm, model_name="scripted"))
    mission = polpo.Mission.model_validate({
        "name": "m", "tasks": [{"title": "notes", "assignTo": "writer"}],
        "team": {"agents": [{"name": "writer", "model": "scripted"}]}})
    task = project.execute(mission).wait(WAIT).tasks[0]
    assert task.status == TaskStatus.DONE
    pid = int(task.result.content.rsplit(" ", 1)[1])
    assert pid != os.getpid()
    assert (project.root / "notes.md").read_text() == "from a worker"
    assert task.result.files_created == ["notes.md"]
    assert [e.data["tool"] for e in tools] == ["write_file"]


def write_then_answer(body: dict) -> dict:
    if last_message(body)["role"] == "tool":
        return text("Wrote plan.md.")
    return tool_call("write_file", {"path": "plan.md", "content": "1. plan"})


def test_llm_agent_on_a_worker_reads_the_provider_key_from_the_workers_environment(project_dir, client,
                                                                                   monkeypatch):
    monkeypatch.delenv(WORKER_KEY_ENV, raising=False)  # the engine's process has no key
    with LoopbackOpenAI(write_then_answer) as server:
        config = {"providers": {"local": {"baseUrl": server.base_url, "apiKeyEnv": WORKER_KEY_ENV}}}
        mission = polpo.Mission.model_validate({
            "name": "m", "tasks": [{"title": "plan", "assignTo": "planner"}],
            "team": {"agents": [{"name": "planner", "model": "local:qwen2.5"}]}})
        with polpo.Project(project_dir, config=config, executor=client) as proj:
            task = proj.execute(mission).wait(WAIT).tasks[0]
        assert task.status == TaskStatus.DONE and task.result.content == "Wrote plan.md."
        assert (project_dir / "plan.md").read_text() == "1. plan"
        assert [h["authorization"] for h in server.headers] == [f"Bearer {WORKER_KEY}"] * 2


def test_without_dask_the_same_llm_agent_is_refused_for_the_missing_key(project_dir, monkeypatch):
    monkeypatch.delenv(WORKER_KEY_ENV, raising=False)
    config = {"providers": {"local": {"baseUrl": "http://127.0.0.1:9/v1", "apiKeyEnv": WORKER_KEY_ENV}}}
    mission = polpo.Mission.model_validate({
        "name": "m", "tasks": [{"title": "plan", "assignTo": "planner"}],
        "team": {"agents": [{"name": "planner", "model": "local:qwen2.5"}]}})
    with polpo.Project(project_dir, config=config) as proj, pytest.raises(polpo.PolpoError, match=WORKER_KEY_ENV):
        proj.execute(mission)


def test_an_agent_that_cannot_be_pickled_fails_its_attempt_with_a_clear_error(project):
    lock = threading.Lock()

    @project.agent("w")
    def holds_a_lock(task, ctx):
        with lock:
            return "unreachable"

    task = project.execute(polpo.Mission("m").task("a", assign_to="w", max_retries=0)).wait(WAIT).tasks[0]
    assert task.status == TaskStatus.FAILED
    assert "cannot be sent to Dask workers" in task.result.error


def test_a_notebook_task_runs_its_kernel_on_a_worker(project, project_dir, client):
    """Issue 17: the notebook body is shipped like any agent; its kernel is a child of the worker process,
    and a raising cell's report (the kernel's traceback first) comes back as the attempt's error."""
    from notebook_files import kernels, write_notebook

    write_notebook(project_dir / "where.ipynb", "import os, polpo_nb\npolpo_nb.result({'kernelParent': os.getppid()})")
    write_notebook(project_dir / "bad.ipynb", "raise KeyError('gone')")
    events: list = []
    project.subscribe(events.append, "task:output")
    mission = polpo.Mission("m").task("Where", notebook="where.ipynb").task("Bad", notebook="bad.ipynb", max_retries=0)
    where, bad = project.execute(mission).wait(WAIT).tasks

    assert where.status == TaskStatus.DONE, where.result.error
    workers = set(client.run(os.getpid).values())
    assert where.result.data["kernelParent"] in workers
    assert [e.data["text"] for e in events if e.data["taskId"] == where.id] == ["injected parameters: ran, no output",
                                                                                  "cell 1: ran, no output"]
    assert (project_dir / where.result.files_created[0]).exists()
    assert bad.result.error.startswith("cell 1 of notebook 'bad.ipynb' raised KeyError: 'gone'")
    assert bad.result.error.strip().splitlines()[-1] == "KeyError: 'gone'"
    assert not kernels()
