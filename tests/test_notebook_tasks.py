"""Notebook tasks (issue 17): a task's body is a parameterized notebook, run by nbclient in a real ipykernel.

Each kernel start costs a second or two, so each test runs few kernels and checks several things of one run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from cli_project import as_json, mission, write_project
from cli_project import polpo as polpo_command
from notebook_files import kernels, write_notebook
from support import WAIT, EventLog, wait_for

import polpo_nb as polpo
from polpo_nb.notebook.view import MissionView
from polpo_nb.spec import MissionStatus, TaskStatus
from polpo_nb.spec.validation import STORED


def by_title(record: polpo.MissionRecord, title: str) -> polpo.TaskRecord:
    return next(t for t in record.tasks if t.title == title)


def executed(project_dir: Path, task: polpo.TaskRecord, attempt: int) -> nbformat.NotebookNode:
    return nbformat.read(project_dir / f".polpo/outputs/{task.id}-{attempt}.ipynb", as_version=4)


# -- the spec ----------------------------------------------------------------------------------------------


def test_a_notebook_task_needs_no_agent_and_its_path_stays_in_the_project(project, project_dir):
    task = polpo.Task(title="Train", notebook="nb/train.ipynb", parameters={"epochs": 3})
    assert (task.assign_to, task.notebook, task.parameters) == ("nb/train.ipynb", "nb/train.ipynb", {"epochs": 3})
    assert polpo.Task(title="T", notebook="t.ipynb", assign_to="trainer").assign_to == "trainer"
    assert "notebook" in polpo.Task(title="T", notebook="t.ipynb").to_wire()

    cases = {
        "../x.ipynb": "without '..'", "/etc/x.ipynb": "relative to it", "train.py": "must be a .ipynb file",
    }
    for path, words in cases.items():
        with pytest.raises(polpo.SpecError, match=words) as info:
            polpo.Mission("m").task("T", notebook=path)
        assert info.value.errors[0]["loc"] == ["tasks", 0, "notebook"]
    with pytest.raises(polpo.SpecError, match="an agent \\(assignTo\\) or a notebook") as info:
        polpo.Mission("m").task("T")
    assert info.value.errors[0]["loc"] == ["tasks", 0, "assignTo"]
    with pytest.raises(polpo.SpecError, match="parameters are for notebook tasks"):
        polpo.Task(title="T", assign_to="w", parameters={"a": 1})
    with pytest.raises(polpo.SpecError, match="'not valid' is not a valid Python variable name"):
        polpo.Task(title="T", notebook="t.ipynb", parameters={"not valid": 1})
    with pytest.raises(polpo.SpecError, match="parameter 'at' is not a JSON value .*: set"):
        polpo.Task(title="T", notebook="t.ipynb", parameters={"at": {1, 2}})
    for name in ("polpo_upstream", "polpo_feedback"):  # polpo's own variables: the injected cell set them after
        with pytest.raises(polpo.SpecError, match=f"parameter name '{name}' is polpo's own"):
            polpo.Task(title="T", notebook="t.ipynb", parameters={name: 1})
    stored = polpo.TaskRecord.model_validate({"id": "task_1", "title": "T", "notebook": "t.ipynb", "seq": 1,
                                              "parameters": {"polpo_upstream": 1}, "createdAt": "x", "updatedAt": "x"},
                                             context=STORED)
    assert stored.parameters == {"polpo_upstream": 1}  # stored by an earlier version: still read

    (project_dir / "escape.ipynb").symlink_to("/etc/hostname")  # spelled inside, lands outside
    with pytest.raises(polpo.SpecError, match="resolves outside the project") as info:
        project.execute(polpo.Mission("m").task("T", notebook="escape.ipynb"))
    assert info.value.errors[0]["loc"] == ["tasks", 0, "notebook"]


def test_a_missing_notebook_or_kernel_fails_the_attempt_in_the_users_terms(project, project_dir):
    write_notebook(project_dir / "r.ipynb", "1")
    nb = nbformat.read(project_dir / "r.ipynb", as_version=4)
    nb.metadata["kernelspec"]["name"] = "no-such-kernel"
    nbformat.write(nb, project_dir / "r.ipynb")
    (project_dir / "broken.ipynb").write_text("{not json")
    mission = (polpo.Mission("m").task("Missing", notebook="nowhere.ipynb", max_retries=0)
               .task("Kernel", notebook="r.ipynb", max_retries=0).task("Broken", notebook="broken.ipynb", max_retries=0))
    record = project.execute(mission).wait(WAIT)
    assert record.status == MissionStatus.FAILED
    errors = {t.title: t.result.error.strip().splitlines()[-1] for t in record.tasks}
    assert errors["Missing"].endswith("notebook 'nowhere.ipynb' does not exist in the project")
    assert errors["Kernel"].endswith("notebook 'r.ipynb' asks for the kernel 'no-such-kernel', which is not installed "
                                     "here (`jupyter kernelspec list` shows those that are)")
    assert "notebook 'broken.ipynb' cannot be read: " in errors["Broken"]


def test_mission_files_name_notebooks_and_parameters(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("name: m\ntasks:\n  - title: T\n    notebook: t.ipynb\n    parameters: {n: [1, 2]}\n")
    task = polpo.load_mission(path).tasks[0]
    assert (task.notebook, task.parameters, task.assign_to) == ("t.ipynb", {"n": [1, 2]}, "t.ipynb")
    polpo.dump_mission(polpo.load_mission(path), tmp_path / "again.json")
    again = polpo.load_mission(tmp_path / "again.json").tasks[0]
    assert (again.notebook, again.parameters) == ("t.ipynb", {"n": [1, 2]})


# -- running -----------------------------------------------------------------------------------------------


def test_a_mission_mixing_agents_and_notebooks(project, project_dir):
    """Parameters land after the tagged cell, upstream results beside them, one `task:output` per cell,
    `polpo_nb.result` is the result and a later function agent sees it."""
    write_notebook(project_dir / "nb" / "train.ipynb",
                   "import polpo_nb",
                   ("parameters", "epochs = 1\nrate = 0.5"),
                   "print('training', epochs, rate)",
                   "polpo_nb.result({'content': f'trained {epochs} on {polpo_upstream[\"Prep\"][\"data\"]}', "
                   "'data': {'epochs': epochs, 'cwd': __import__('os').getcwd()}})")
    seen = {}

    @project.agent("prep")
    def prep(task, ctx):
        return {"content": "prepared", "data": [1, 2, 3]}

    @project.agent("report")
    def report(task, ctx):
        seen.update(ctx.upstream)
        return "reported"

    events = EventLog(project)
    mission = (polpo.Mission("pipeline").task("Prep", assign_to="prep")
               .task("Train", notebook="nb/train.ipynb", parameters={"epochs": 3}, depends_on=["Prep"])
               .task("Report", assign_to="report", depends_on=["Train"]))
    record = project.execute(mission).wait(WAIT)

    assert record.status == MissionStatus.COMPLETED
    train = by_title(record, "Train")
    copy = f".polpo/outputs/{train.id}-1.ipynb"
    assert train.result.content == "trained 3 on [1, 2, 3]"
    assert train.result.data == {"epochs": 3, "cwd": str(project_dir.resolve())}
    assert train.result.files_created == [copy]
    assert seen["Train"].content == "trained 3 on [1, 2, 3]"

    nb = executed(project_dir, train, 1)
    assert [c.metadata.get("tags", []) for c in nb.cells][1:3] == [["parameters"], ["injected-parameters"]]
    injected = nb.cells[2].source
    assert "epochs = 3" in injected and "polpo_feedback = None" in injected and "'Prep'" in injected
    assert nb.cells[3].outputs[0]["text"] == "training 3 0.5\n"

    outputs = [d["text"] for d in events.of("task:output") if d["taskId"] == train.id]
    assert outputs == ["cell 1: ran, no output", "cell 2: ran, no output", "injected parameters: ran, no output",
                       "cell 3: training 3 0.5", "cell 4: ran, no output"]
    assert not kernels()


def test_parameters_at_the_top_and_each_kind_of_result(project, project_dir):
    """Without a tagged cell the parameters open the notebook, and without a kernelspec python3 runs it.
    `polpo_nb.result` takes a str, a result dict or any JSON value; without it the last cell that produced
    output is the result."""
    write_notebook(project_dir / "kinds.ipynb",
                   "import polpo_nb\nvalues = {'str': 'plain text', 'dict': {'content': 'made it', 'filesCreated': "
                   "['made.txt']}, 'json': [1, {'a': None}]}\nopen('made.txt', 'w').write('x')",
                   "if kind in values:\n    polpo_nb.result(values[kind])",
                   "kind * 2",
                   "silent = True")
    nb = nbformat.read(project_dir / "kinds.ipynb", as_version=4)
    del nb.metadata["kernelspec"]  # no kernelspec: python3
    nbformat.write(nb, project_dir / "kinds.ipynb")
    mission = polpo.Mission("kinds")
    for kind in ("str", "dict", "json", "last"):
        mission.task(kind, notebook="kinds.ipynb", parameters={"kind": kind})
    record = project.execute(mission).wait(WAIT)

    assert record.status == MissionStatus.COMPLETED
    results = {t.title: t.result for t in record.tasks}
    copy = {t.title: f".polpo/outputs/{t.id}-1.ipynb" for t in record.tasks}
    assert (results["str"].content, results["str"].files_created) == ("plain text", [copy["str"]])
    assert (results["dict"].content, results["dict"].files_created) == ("made it", ["made.txt", copy["dict"]])
    assert (results["json"].data, json.loads(results["json"].content)) == ([1, {"a": None}], [1, {"a": None}])
    assert (results["last"].content, results["last"].data) == ("'lastlast'", None)
    nb = executed(project_dir, by_title(record, "last"), 1)
    assert nb.cells[0].metadata["tags"] == ["injected-parameters"] and "kind = 'last'" in nb.cells[0].source
    assert not kernels()


def test_a_raising_cell_and_a_dead_kernel_fail_the_attempt(project, project_dir):
    write_notebook(project_dir / "bad.ipynb", "x = 1", "def check(v):\n    raise ValueError(f'bad value {v}')\ncheck(x)")
    write_notebook(project_dir / "dies.ipynb", "import os", "os._exit(3)", "never = 1")
    mission = (polpo.Mission("failing").task("Bad", notebook="bad.ipynb", max_retries=0)
               .task("Dies", notebook="dies.ipynb", max_retries=0))
    record = project.execute(mission).wait(WAIT)

    assert record.status == MissionStatus.FAILED
    bad, dies = by_title(record, "Bad"), by_title(record, "Dies")
    assert bad.status == dies.status == TaskStatus.FAILED
    error = bad.result.error
    head = "cell 2 of notebook 'bad.ipynb' raised ValueError: bad value 1"
    assert error.startswith(head) and f".polpo/outputs/{bad.id}-1.ipynb" in error.splitlines()[0]
    assert "check(x)" in error and "raise ValueError(f'bad value {v}')" in error  # the kernel's frames, first
    assert "polpo_nb" not in error  # not the engine's own frames
    assert error.strip().splitlines()[-1] == "ValueError: bad value 1" and "\x1b[" not in error
    assert executed(project_dir, bad, 1).cells[2].outputs[0]["ename"] == "ValueError"  # kept on failure too
    assert dies.result.error.startswith("the kernel died while running cell 2 of notebook 'dies.ipynb'")
    assert not kernels()


def test_cells_are_named_as_their_author_counts_them(project, project_dir):
    """`cell N` is the Nth cell of the notebook as written (the injected cell is not one of them, and is
    named for what it is): a cell above the `parameters` cell and one below it are both found where the
    error says, in the author's notebook."""
    write_notebook(project_dir / "above.ipynb", "1 / 0", ("parameters", "n = 0"))
    write_notebook(project_dir / "below.ipynb", "a = 1", ("parameters", "n = 0"), "b = 2", "raise KeyError(n)")
    mission = (polpo.Mission("numbers").task("Above", notebook="above.ipynb", parameters={"n": 1}, max_retries=0)
               .task("Below", notebook="below.ipynb", parameters={"n": 1}, max_retries=0))
    events = EventLog(project)
    record = project.execute(mission).wait(WAIT)

    above, below = by_title(record, "Above"), by_title(record, "Below")
    assert above.result.error.startswith("cell 1 of notebook 'above.ipynb' raised ZeroDivisionError")
    assert below.result.error.startswith("cell 4 of notebook 'below.ipynb' raised KeyError: 1")
    outputs = [d["text"] for d in events.of("task:output") if d["taskId"] == below.id]
    assert outputs == ["cell 1: ran, no output", "cell 2: ran, no output",
                       "injected parameters: ran, no output", "cell 3: ran, no output"]


def test_max_duration_interrupts_and_shuts_the_kernel_down(project, project_dir):
    write_notebook(project_dir / "slow.ipynb", "import time", "time.sleep(600)")
    record = project.execute(polpo.Mission("slow").task("Slow", notebook="slow.ipynb", max_retries=0,
                                                        max_duration=10_000)).wait(WAIT * 2)
    assert record.status == MissionStatus.FAILED
    task = record.tasks[0]
    assert "timed out after 10000 ms" in task.result.error
    assert not kernels()
    sleeping = executed(project_dir, task, 1).cells[2]  # interrupted before the shutdown: the cell says so
    assert sleeping.outputs[-1]["ename"] == "KeyboardInterrupt"


@pytest.mark.parametrize("stop", ["kill", "abort"])
def test_kill_and_abort_stop_the_kernel(project, project_dir, stop):
    write_notebook(project_dir / "slow.ipynb", "import time", "open('sleeping', 'w').close()\ntime.sleep(600)")
    handle = project.execute(polpo.Mission("slow").task("Slow", notebook="slow.ipynb"))
    wait_for((project_dir / "sleeping").exists)  # cell 2 runs: the stop lands in it
    assert len(kernels()) == 1  # the kernel sleeping in cell 2, the one that must go
    if stop == "kill":
        project.kill_task(project.get_mission(handle.mission_id).tasks[0].id)
    else:
        project.abort(handle.mission_id)
    record = handle.wait(WAIT)
    task = record.tasks[0]
    assert (task.status, task.retries) == (TaskStatus.FAILED, 0)  # a stop, not a crash to retry
    assert task.result.error == {"kill": "killed", "abort": "aborted: mission aborted"}[stop]
    assert not kernels()
    assert executed(project_dir, task, 1).cells[2].outputs[-1]["ename"] == "KeyboardInterrupt"  # interrupted first


def test_a_fix_phase_passes_with_the_feedback_parameter(project, project_dir):
    """The first attempt misses the expectation; the second gets the feedback as `polpo_feedback` and passes.
    Each attempt keeps its own executed copy."""
    write_notebook(project_dir / "fix.ipynb",
                   "import polpo_nb",
                   "text = 'draft' if polpo_feedback is None else 'fixed after: ' + polpo_feedback.strip()\n"
                   "open('out.txt', 'w').write(text)\npolpo_nb.result(text)")
    check = {"type": "script", "script": "grep -q fixed out.txt || { echo 'please write fixed'; exit 1; }"}
    record = project.execute(polpo.Mission("fix").task("Write", notebook="fix.ipynb", expectations=[check],
                                                       max_retries=1)).wait(WAIT)

    task = record.tasks[0]
    assert record.status == MissionStatus.COMPLETED and task.status == TaskStatus.DONE
    assert task.result.content.startswith("fixed after: ") and "please write fixed" in task.result.content
    assert task.result.files_created == [f".polpo/outputs/{task.id}-2.ipynb"]
    first, second = executed(project_dir, task, 1), executed(project_dir, task, 2)
    assert "polpo_feedback = None" in first.cells[0].source
    assert "please write fixed" in second.cells[0].source
    assert not kernels()


def test_the_dag_views_mark_notebook_tasks():
    mission = (polpo.Mission("plan").task("Prep", assign_to="w")
               .task("Train", notebook="nb/train.ipynb", depends_on=["Prep"])
               .task("Named", notebook="nb/eval.ipynb", assign_to="evaluator", depends_on=["Train"]))
    html = mission._repr_mimebundle_()["text/html"]
    assert html.count("📓") == 2 and "📓 nb/train.ipynb<" in html and "📓 nb/eval.ipynb · evaluator" in html
    nodes = {n["title"]: n for n in MissionView(mission).graph()["nodes"]}
    assert ("notebook" in nodes["Prep"], nodes["Train"]["notebook"]) == (False, "nb/train.ipynb")


def test_the_widget_draws_the_notebook_mark(browser):
    """dag.js, the widget's and the dashboard's renderer, in Chromium: the notebook nodes carry the mark."""
    mission = polpo.Mission("plan").task("Prep", assign_to="w").task("Train", notebook="nb/train.ipynb",
                                                                     depends_on=["Prep"])
    source = (Path(polpo.__file__).parent / "notebook" / "dag.js").read_text()
    page = browser.new_page()
    try:
        page.set_content("<div id='dag'></div>")
        drawn = page.evaluate("""async ([src, graph]) => {
            const url = URL.createObjectURL(new Blob([src], {type: 'text/javascript'}));
            (await import(url)).createDag(document.getElementById('dag')).setGraph(graph);
            return [...document.querySelectorAll('.polpo-node')].map((g) => [g.getAttribute('class'),
                g.querySelector('.polpo-node-title').textContent, g.querySelector('title').textContent]);
        }""", [source, MissionView(mission).graph()])
    finally:
        page.close()
    assert drawn == [["polpo-node", "Prep", "Prep (w)"],
                     ["polpo-node polpo-node-notebook", "📓 Train", "Train (notebook nb/train.ipynb)"]]


def test_polpo_run_runs_a_mission_file_with_a_notebook_task(tmp_path):
    spec = mission("m", "shout", ["Shout"])
    spec["tasks"].append({"title": "Count", "notebook": "count.ipynb", "parameters": {"word": "hello"},
                          "dependsOn": ["Shout"]})
    root = write_project(tmp_path / "p", {"m.json": spec})
    write_notebook(root / "count.ipynb", ("parameters", "word = ''"),
                   "len(word + polpo_upstream['Shout']['content'])")
    polpo_command("init", cwd=root, check=0)
    run = polpo_command("run", "m.json", cwd=root, check=0)
    assert "mission m: completed" in run.stdout
    tasks = {t["title"]: t for t in as_json("tasks", "--mission", "m", cwd=root)}
    assert tasks["Count"]["result"]["content"] == "10"  # hello + SHOUT
    assert not kernels()


def test_a_kernel_of_another_language_gets_no_python_cell_and_parameters_fail(project, project_dir, tmp_path,
                                                                              monkeypatch):
    """The injected cell is Python. A kernelspec of another language (here one declaring `fakelang`, run by
    ipykernel so the test needs no other kernel) runs its notebook as it is; a task giving it parameters
    fails at once in the user's terms instead of running without them."""
    spec = tmp_path / "jupyter" / "kernels" / "fakelang"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Fake", "language": "fakelang"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    write_notebook(project_dir / "other.ipynb", ("parameters", "x = 1"), "'no injection' if 'polpo_upstream' not in dir() else 'injected'")
    nb = nbformat.read(project_dir / "other.ipynb", as_version=4)
    nb.metadata["kernelspec"] = {"name": "fakelang", "display_name": "Fake", "language": "fakelang"}
    nbformat.write(nb, project_dir / "other.ipynb")
    mission = (polpo.Mission("other").task("Plain", notebook="other.ipynb")
               .task("Given", notebook="other.ipynb", parameters={"x": 2}, max_retries=0))
    record = project.execute(mission).wait(WAIT)

    plain, given = by_title(record, "Plain"), by_title(record, "Given")
    assert plain.status == TaskStatus.DONE, plain.result.error
    assert plain.result.content == "'no injection'"
    assert [c.metadata.get("tags", []) for c in executed(project_dir, plain, 1).cells] == [["parameters"], []]
    assert given.status == TaskStatus.FAILED
    assert given.result.error.strip().splitlines()[-1].endswith(
        "notebook 'other.ipynb' runs the 'fakelang' kernel (fakelang): polpo injects parameters into Python "
        "notebooks only, so this task cannot have parameters")
    assert not kernels()


def test_the_views_link_each_notebook_tasks_latest_executed_copy(project, project_dir, monkeypatch):
    """The widget's state and the static picture link a notebook task's latest executed copy, a failed
    attempt's too (its result lists no file), relative to the directory of the notebook showing them."""
    write_notebook(project_dir / "ok.ipynb", "1 + 1")
    write_notebook(project_dir / "bad.ipynb", "raise ValueError('no')")
    project.agent("w")(lambda task, ctx: "agent")
    monkeypatch.chdir(project_dir.parent)  # a kernel's cwd: the notebook's directory, here above the project
    handle = project.execute(polpo.Mission("links").task("Ok", notebook="ok.ipynb")
                             .task("Bad", notebook="bad.ipynb", max_retries=1).task("Agent", assign_to="w"))
    record = handle.wait(WAIT)
    ok, bad, agent = (by_title(record, t) for t in ("Ok", "Bad", "Agent"))
    assert bad.status == TaskStatus.FAILED and bad.result.files_created == []

    state = MissionView(record, project_dir=project.root).state()
    copy = {t.title: f".polpo/outputs/{t.id}-{n}.ipynb" for t, n in ((ok, 1), (bad, 2))}
    for task in (ok, bad):
        assert state["tasks"][task.id]["executed"] == {
            "path": copy[task.title], "file": (project.root / copy[task.title]).as_posix(),
            "href": f"{project_dir.name}/{copy[task.title]}"}
    assert "executed" not in state["tasks"][agent.id] and state["home"] == str(Path.home())
    assert "executed" not in MissionView(record).state()["tasks"][ok.id]  # no project: a definition's picture

    html = handle._repr_mimebundle_()["text/html"]  # outside a kernel: the static picture, from the project
    for task in (ok, bad):
        assert f'<a href="{project_dir.name}/{copy[task.title]}" title="{copy[task.title]}">📓 executed notebook</a>' in html
    assert html.count("📓 executed notebook") == 2
    assert not kernels()


def test_expected_outcomes_gates_checkpoints_and_approvals_hold_notebook_tasks_as_agents(project, project_dir):
    """A notebook task's result is assessed (a file outcome, a judged expectation), a gate on its score pauses
    the mission, a checkpoint after a notebook task waits for resume, a notebook with side effects waits for
    approval: the same engine paths as agents'."""
    write_notebook(project_dir / "make.ipynb", "import polpo_nb\nopen('table.csv', 'w').write('a\\n1\\n2\\n3\\n')\n"
                   "polpo_nb.result('made 3 rows')")
    write_notebook(project_dir / "publish.ipynb", "import polpo_nb\npolpo_nb.result('published ' + "
                   "polpo_upstream['Make']['content'])")
    project.judge(lambda e, t, r: 3.5 if r.content == "made 3 rows" else 1.0)  # the threshold passes, the gate not
    project.agent("w")(lambda task, ctx: "announced")
    mission = (polpo.Mission("gated-notebooks")
               .task("Make", notebook="make.ipynb", expectations=["Has three rows"],
                     expected_outcomes=[{"type": "file", "path": "table.csv"}])
               .task("Publish", notebook="publish.ipynb", depends_on=["Make"], side_effects=True)
               .task("Announce", assign_to="w", depends_on=["Publish"])
               .gate(["Make"], ["Publish"], min_score=4.0).checkpoint("look", ["Publish"], "Look before announcing"))
    run = project.execute(mission)

    record = run.wait(WAIT)
    make = by_title(record, "Make")
    assert (record.status, record.pause_reason) == (MissionStatus.PAUSED, "gate")
    assert make.assessment.score == 3.5 and [c.passed for c in make.assessment.checks] == [True]
    assert by_title(record, "Publish").status == TaskStatus.PENDING
    project.resume("gated-notebooks")  # a human overrides the gate
    publish = by_title(run.wait(WAIT), "Publish")
    assert publish.status == TaskStatus.AWAITING_APPROVAL
    project.approve_task(publish.id)
    record = run.wait(WAIT)
    assert (record.status, record.pause_reason) == (MissionStatus.PAUSED, "checkpoint")
    assert by_title(record, "Publish").result.content == "published made 3 rows"
    assert by_title(record, "Announce").status == TaskStatus.PENDING
    project.resume("gated-notebooks")
    record = run.wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and by_title(record, "Announce").result.content == "announced"
    assert not kernels()
