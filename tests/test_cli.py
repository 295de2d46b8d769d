"""Every `polpo` command on a real project, through the installed entry point."""

from __future__ import annotations

import importlib.metadata
import json
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from cli_project import POLPO, as_json, mission, polpo, start, write_project
from support import WAIT, wait_for

READ_ONLY = (["missions"], ["tasks"], ["show", "m"], ["logs", "t"], ["events"], ["resume", "m"], ["abort", "m"],
             ["approve", "t"], ["reject", "t"], ["retry", "t"], ["delete", "m"])


def test_init_makes_an_example_that_stops_at_its_checkpoint_and_resume_completes(tmp_path: Path):
    made = polpo("init", "example", cwd=tmp_path, check=0)
    root = tmp_path / "example"
    assert "cd example && polpo run mission.yaml" in made.stdout
    assert sorted(p.name for p in root.iterdir()) == [".polpo", "mission.yaml", "team.py"]

    run = polpo("run", "mission.yaml", cwd=root, check=3)
    assert run.stderr == ""
    assert "score 3  FAILED" in run.stdout and "score 5  passed" in run.stdout
    assert "task:fix" in run.stdout and "gate:passed" in run.stdout and "wrote 1 items" in run.stdout
    assert run.stdout.endswith("mission release-notes: paused (checkpoint): An editor reads release-notes.md "
                               "before it is published\ncontinue with: polpo resume release-notes\n")
    resumed = polpo("resume", "release-notes", cwd=root, check=0)
    assert resumed.stderr == ""
    assert resumed.stdout.endswith("mission release-notes: completed\n")
    assert (root / "release-notes.md").read_text().count("- ") == 3
    tasks = as_json("tasks", "--mission", "release-notes", cwd=root)
    assert [(t["title"], t["status"]) for t in tasks] == [
        ("Collect changes", "done"), ("Collect fixes", "done"), ("Draft notes", "done"), ("Publish", "done")]


def test_init_keeps_existing_files(tmp_path: Path):
    (tmp_path / "team.py").write_text("# mine\n")
    out = polpo("init", cwd=tmp_path, check=0)
    assert "wrote mission.yaml" in out.stdout and (tmp_path / "team.py").read_text() == "# mine\n"


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: a[0])
def test_commands_outside_a_project_create_nothing(tmp_path: Path, args: list[str]):
    out = polpo(*args, cwd=tmp_path, check=2)
    assert out.stderr == "polpo: not a polpo project: . (no .polpo/ here; `polpo init` makes one)\n"
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", ["a"])})
    (root / "bad.yaml").write_text("name: x\ntasks:\n  - title: a\n    assignTo: w\n    dependsOn: [nope]\n")
    polpo("run", "m.json", cwd=root, check=0)
    for args, message in [
        (["run", "missing.yaml"], "polpo: no such mission file: missing.yaml\n"),
        (["run", "bad.yaml"], "polpo: tasks.0.dependsOn.0: unknown task 'nope'\n"),
        (["show", "nope"], "polpo: no mission named 'nope' (missions: m)\n"),
        (["run", "nope"], "polpo: no mission named 'nope' (missions: m)\n"),
        (["logs", "zzz"], "polpo: no task with id or title 'zzz'\n"),
        (["events", "--since", "x"], "polpo: not an event id: 'x' (use 42 or evt_00042)\n"),
    ]:
        out = polpo(*args, cwd=root, check=2)
        assert out.stderr == message, args
    assert "Traceback" in polpo("--debug", "run", "bad.yaml", cwd=root, check=2).stderr


def test_version_is_the_installed_distributions_and_help_lists_exit_codes(tmp_path: Path):
    assert polpo("--version", cwd=tmp_path, check=0).stdout == f"polpo {importlib.metadata.version('polpo-nb')}\n"
    helped = polpo("--help", cwd=tmp_path, check=0).stdout
    assert "Exit codes:" in helped and "130" in helped
    for command in ("init", "run", "resume", "missions", "tasks", "show", "approve", "reject", "abort", "retry",
                    "delete", "logs", "events", "serve"):
        assert f"  {command} " in helped


def test_listing_commands_print_tables_and_json(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", ["a", "b"])})
    run = polpo("run", "m.json", cwd=root, check=0)
    assert "shouting a" in run.stdout and run.stdout.endswith("mission m: completed\n")

    missions = as_json("missions", cwd=root)
    assert [(m["name"], m["status"]) for m in missions] == [("m", "completed")]
    assert "m" in polpo("missions", cwd=root, check=0).stdout.split()
    tasks = as_json("tasks", "--status", "done", cwd=root)
    assert [t["title"] for t in tasks] == ["a", "b"]
    assert as_json("tasks", "--status", "failed", cwd=root) == []
    shown = as_json("show", "m", cwd=root)
    assert [t["result"]["content"] for t in shown["tasks"]] == ["A", "B"]
    assert "a" in polpo("show", "m", cwd=root, check=0).stdout
    logs = as_json("logs", "b", cwd=root)
    assert [(a["status"], a["outputs"], a["result"]["content"]) for a in logs] == [("completed", ["shouting b"], "B")]
    assert "> shouting b" in polpo("logs", shown["tasks"][1]["id"], cwd=root, check=0).stdout


def test_events_replay_filter_since_and_json(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", ["a"])})
    polpo("run", "m.json", cwd=root, check=0)
    lines = polpo("events", "--json", "--filter", "mission:*", cwd=root, check=0).stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["mission:saved", "mission:status", "mission:executed",
                                            "mission:status", "mission:completed"]
    after = [json.loads(line) for line in
             polpo("events", "--json", "--since", events[2]["id"], cwd=root, check=0).stdout.splitlines()]
    assert after and all(int(e["id"][4:]) > int(events[2]["id"][4:]) for e in after)
    assert "mission:completed" in polpo("events", cwd=root, check=0).stdout


def test_events_follow_prints_what_another_process_does(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", ["a"])})
    polpo("missions", cwd=root, check=2)  # not a project yet
    polpo("init", cwd=root, check=0)
    follower = start("events", "--follow", "--filter", "mission:completed", cwd=root)
    polpo("run", "m.json", cwd=root, check=0)
    line = follower.stdout.readline()
    follower.send_signal(signal.SIGINT)
    follower.communicate(timeout=WAIT)
    assert "mission:completed" in line and follower.returncode == 130


@pytest.mark.parametrize("how", ["SIGINT, ignored when it started (a background job's)", "SIGTERM"])
def test_events_follow_stops_on_sigint_or_sigterm_whatever_it_inherited(tmp_path: Path, how: str):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", ["a"])})
    polpo("run", "m.json", cwd=root, check=0)
    sig = signal.SIGTERM if how == "SIGTERM" else signal.SIGINT
    follower = subprocess.Popen([POLPO, "events", "--follow", "--filter", "mission:completed"], cwd=root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert "mission:completed" in follower.stdout.readline()  # replayed: it follows from here
        follower.send_signal(sig)
        _, err = follower.communicate(timeout=WAIT)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 130 and "interrupted" in err


def test_side_effects_wait_for_approve_and_reject(tmp_path: Path):
    spec = mission("publish", "shout", ["draft", "post", "announce"])
    spec["tasks"][1]["sideEffects"] = True
    root = write_project(tmp_path / "p", {"m.json": spec})
    waiting = polpo("run", "m.json", cwd=root, check=3)
    post = as_json("tasks", "--status", "awaiting_approval", cwd=root)[0]
    assert f"'post' ({post['id']}): polpo approve {post['id']}" in waiting.stdout

    approved = polpo("approve", "post", "--note", "looks good", cwd=root, check=0)
    assert f"task 'post' ({post['id']}): approved, now done" in approved.stdout
    assert approved.stdout.endswith("mission publish: completed\n")  # the mission carried on here
    assert polpo("approve", "post", cwd=root, check=4).stderr.startswith("polpo: Task ")

    polpo("run", "m.json", cwd=root, check=3)
    rejected = polpo("reject", post["id"], cwd=root)
    assert "rejected, now failed" in rejected.stdout and rejected.returncode == 1
    assert as_json("show", "publish", cwd=root)["status"] == "failed"


def test_a_title_shared_by_two_tasks_is_refused_with_the_candidates(tmp_path: Path):
    root = write_project(tmp_path / "p", {"one.json": mission("one", "shout", ["same"]),
                                          "two.json": mission("two", "shout", ["same"])})
    polpo("run", "one.json", cwd=root, check=0)
    polpo("run", "two.json", cwd=root, check=0)
    ids = [t["id"] for t in as_json("tasks", cwd=root)]
    out = polpo("logs", "same", cwd=root, check=2)
    assert out.stderr.startswith("polpo: 2 tasks are titled 'same'; give an id: ")
    assert all(i in out.stderr for i in ids) and "(one, done)" in out.stderr and "(two, done)" in out.stderr


def test_retry_runs_a_failed_task_and_its_skipped_dependents(tmp_path: Path):
    spec = mission("flaky", "flaky", ["a"])
    spec["tasks"][0]["maxRetries"] = 0
    spec["tasks"].append({"title": "b", "assignTo": "worker", "dependsOn": ["a"]})
    root = write_project(tmp_path / "p", {"m.json": spec})
    failed = polpo("run", "m.json", cwd=root, check=1)
    assert "mission flaky: failed" in failed.stdout and "polpo resume flaky --retry-failed" in failed.stdout
    (root / "fixed").write_text("")
    retried = polpo("retry", "a", cwd=root, check=0)
    assert retried.stdout.endswith("mission flaky: completed\n")
    assert [t["status"] for t in as_json("tasks", cwd=root)] == ["done", "done"]


def test_abort_cancels_an_interrupted_mission(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("long", "gated", ["a", "b"])})
    proc = start("run", "m.json", cwd=root)
    wait_for(lambda: (root / "started-a").exists())
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=WAIT)
    assert polpo("abort", "long", cwd=root, check=0).stdout == "mission long: cancelled\n"
    assert polpo("abort", "long", cwd=root, check=4).stderr.startswith("polpo: Mission 'long' is cancelled")


def test_detach_returns_once_the_run_has_started(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("bg", "gated", ["a"])})
    out = polpo("run", "--detach", "m.json", cwd=root, check=0)
    try:
        assert out.stdout.startswith("mission bg: running in the background (pid ")
        wait_for(lambda: (root / "started-a").exists())
    finally:
        (root / "go").write_text("")
    wait_for(lambda: as_json("show", "bg", cwd=root)["status"] == "completed")
    assert "mission bg: completed" in (root / ".polpo" / "runs" / "bg.log").read_text()


def test_detach_keeps_its_log_in_the_project_whatever_the_mission_s_name(tmp_path: Path):
    """The log's path was built from the raw name: `../../outside` wrote it beside the project."""
    root = write_project(tmp_path / "p", {"m.json": mission("../../outside", "gated", ["a"])})
    out = polpo("run", "--detach", "m.json", cwd=root, check=0)
    try:
        logs = list((root / ".polpo" / "runs").iterdir())
        assert len(logs) == 1 and logs[0].name.startswith("outside-") and str(logs[0].relative_to(root)) in out.stdout
        assert not list(tmp_path.parent.glob("outside*")) and not list(tmp_path.glob("outside*"))
        wait_for(lambda: (root / "started-a").exists())
    finally:
        (root / "go").write_text("")  # the background run ends, whatever failed
    wait_for(lambda: as_json("show", "../../outside", cwd=root)["status"] == "completed")


def test_a_mission_a_failed_run_saved_can_be_deleted(tmp_path: Path):
    """`polpo run` of a file whose agent cannot play saves the mission as a draft (a save, then a refused
    execute): there was no command to remove it; a live one is refused."""
    spec = mission("broken", "shout", ["a"])
    spec["team"]["agents"][0]["handler"] = "team:nowhere"
    root = write_project(tmp_path / "p", {"m.json": spec, "ok.json": mission("held", "gated", ["a"])})
    polpo("run", "m.json", cwd=root, check=1)
    assert [m["status"] for m in as_json("missions", cwd=root)] == ["draft"]
    assert polpo("delete", "broken", cwd=root, check=0).stdout == "mission broken: deleted\n"
    assert as_json("missions", cwd=root) == []
    assert polpo("delete", "broken", cwd=root, check=2).stderr.startswith("polpo: no mission named 'broken'")
    running = start("run", "ok.json", cwd=root)
    try:
        wait_for(lambda: (root / "started-a").exists())
        assert "abort it" in polpo("delete", "held", cwd=root, check=4).stderr
    finally:
        (root / "go").write_text("")
        running.communicate(timeout=WAIT)


def test_a_saved_mission_whose_name_holds_a_slash_runs_by_name(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("team/weekly", "shout", ["a"])})
    polpo("run", "m.json", cwd=root, check=0)
    assert polpo("run", "team/weekly", cwd=root, check=0).stdout.endswith("mission team/weekly: completed\n")
    missing = polpo("run", "team/monthly", cwd=root, check=2).stderr
    assert "no mission named 'team/monthly'" in missing


def test_a_second_detached_run_of_an_active_mission_is_refused_as_in_the_foreground(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("bg", "gated", ["a"])})
    polpo("run", "--detach", "m.json", cwd=root, check=0)
    try:
        wait_for(lambda: (root / "started-a").exists())
        assert "already active" in polpo("run", "--detach", "bg", cwd=root, check=4).stderr  # was 1
    finally:
        (root / "go").write_text("")
    wait_for(lambda: as_json("show", "bg", cwd=root)["status"] == "completed")


def test_serve_in_a_directory_that_does_not_exist_says_so(tmp_path: Path):
    out = polpo("serve", "--project", str(tmp_path / "nowhere"), cwd=tmp_path, check=2)
    assert out.stderr == f"polpo: no such directory: {tmp_path / 'nowhere'}\n"


def test_a_hint_names_the_mission_as_the_shell_reads_it(tmp_path: Path):
    """`repr()` quoting let `$(...)` in a name run when the hint was pasted, and resumed another name."""
    name = "it's $(touch PWNED)"
    spec = mission(name, "shout", ["a", "b"], checkpoints=[{"name": "look", "afterTasks": ["a"]}])
    root = write_project(tmp_path / "p", {"m.json": spec})
    hint = polpo("run", "m.json", cwd=root, check=3).stdout.strip().splitlines()[-1]
    assert hint.startswith("continue with: polpo resume '")
    pasted = subprocess.run(["bash", "-c", hint.removeprefix("continue with: ").replace("polpo", POLPO, 1)],
                            cwd=root, capture_output=True, text=True, timeout=WAIT)
    assert pasted.returncode == 0 and not (root / "PWNED").exists(), pasted.stderr  # that mission, resumed


def test_serve_passes_its_options_to_the_server(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start("serve", "--port", str(port), "--api-key", "k", "--cors-origin", "https://app.example",
                   "--project", str(tmp_path), cwd=tmp_path)
    base = f"http://127.0.0.1:{port}/"

    def answers() -> bool:
        try:
            return httpx.get(base + "api/v1/health", timeout=WAIT).status_code == 200
        except httpx.TransportError:
            return False
    try:
        wait_for(answers)
        allowed = httpx.get(base + "v1/tasks", headers={"Authorization": "Bearer k", "Origin": "https://app.example"})
        refused = httpx.get(base + "v1/tasks", headers={"Origin": "https://app.example"})
        assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
        assert refused.status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=WAIT)


def test_retry_in_a_mission_paused_by_its_gate_says_to_resume(tmp_path: Path):
    spec = mission("gated", "flaky", ["a", "b"], chain=False)
    spec["tasks"][0]["maxRetries"] = 0
    spec["qualityGates"] = [{"afterTasks": ["a"], "blocksTasks": ["b"]}]
    root = write_project(tmp_path / "p", {"m.json": spec})
    (root / "team.py").write_text((root / "team.py").read_text().replace(
        'if not (ctx.project_dir / "fixed").exists()', 'if task.title == "a" and not (ctx.project_dir / "fixed").exists()'))
    blocked = polpo("run", "m.json", cwd=root, check=3)
    assert "mission gated: paused (gate)" in blocked.stdout
    (root / "fixed").write_text("")
    retried = polpo("retry", "a", cwd=root, check=3)
    assert retried.stdout.endswith("continue with: polpo resume gated\n"
                                   "or retry what failed the gate: polpo resume gated --retry-failed\n")
    assert polpo("resume", "gated", cwd=root, check=0).stdout.endswith("mission gated: completed\n")


def test_commands_never_fire_a_due_schedule(tmp_path: Path):
    """A due scheduled mission is fired by the processes that keep the project open (a server, a kernel),
    never by a command that would abandon it when it exits a moment later."""
    import time
    from datetime import UTC, datetime, timedelta

    import polpo_nb

    root = write_project(tmp_path / "p", {})
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    with polpo_nb.Project(root, schedules=False) as project:
        project.agent("worker")(lambda task, ctx: "ran")
        project.save_mission(polpo_nb.Mission("nightly", schedule=at.strftime("%Y-%m-%dT%H:%M:%SZ"))
                             .task("t", assign_to="worker"))
    time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()) + 0.5)  # the occurrence is due now
    for args in (["missions"], ["tasks"], ["events"]):
        polpo(*args, cwd=root, check=0)
    [listed] = as_json("missions", cwd=root)
    assert listed["status"] in ("draft", "scheduled") and not listed.get("executionCount")
    events = [json.loads(line) for line in polpo("events", "--json", cwd=root, check=0).stdout.splitlines()]
    assert not [e for e in events if e["event"].startswith(("schedule:", "mission:executed"))]  # not fired, not missed


def test_missions_names_a_mission_whose_process_was_killed_and_its_way_out(tmp_path: Path):
    """A `polpo run` killed with SIGKILL leaves its mission active with nobody running it: the list said
    `active` like a live one, with nothing to do about it."""
    root = write_project(tmp_path / "p", {"m.json": mission("m", "gated", ["a", "b"]),
                                          "n.json": mission("n", "gated", ["c"])})
    polpo("init", cwd=root, check=0)
    running = start("run", "n.json", cwd=root)  # a live one, for contrast
    killed = start("run", "m.json", cwd=root)
    try:
        wait_for(lambda: (root / "started-a").exists() and (root / "started-c").exists(), WAIT)
        killed.kill()
        killed.communicate(timeout=WAIT)
        listed = polpo("missions", cwd=root, check=0).stdout
        rows = {line.split()[1]: line for line in listed.splitlines()[1:]}
        assert "active" in rows["m"] and "its process stopped: polpo resume m" in rows["m"]
        assert "active" in rows["n"] and "stopped" not in rows["n"]
        assert "  waiting: its process stopped: polpo resume m\n" in polpo("show", "m", cwd=root, check=0).stdout
    finally:
        (root / "go").write_text("")
        running.communicate(timeout=WAIT)
        if killed.poll() is None:
            killed.kill()
    assert running.returncode == 0


def test_save_schedules_a_mission_file_without_running_it(tmp_path: Path):
    """A mission file with a `schedule` could only be run now (`polpo run`, which keeps the schedule and
    says nothing of it): the command line had no way to schedule a mission."""
    spec = mission("nightly", "shout", ["a"], schedule="0 3 * * *")
    root = write_project(tmp_path / "p", {"m.json": spec, "plain.json": mission("plain", "shout", ["b"])})
    saved = polpo("save", "m.json", cwd=root, check=0)
    record = as_json("show", "nightly", cwd=root)
    assert (record["status"], record["executionCount"], record["nextRunAt"][11:16]) == ("scheduled", 0, "03:00")
    assert saved.stdout == (f"saved nightly ({record['id']}): scheduled, next run {record['nextRunAt']} (cron "
                            "'0 3 * * *', UTC); a long-lived polpo fires it: `polpo serve`, or a Jupyter server "
                            "with polpo\n")
    assert [t["status"] for t in record["tasks"]] == ["draft"]

    spec["schedule"] = "30 4 * * *"  # edited and saved again: the same mission, rescheduled
    (root / "m.json").write_text(json.dumps(spec))
    polpo("save", "m.json", cwd=root, check=0)
    again = as_json("show", "nightly", cwd=root)
    assert (again["id"], again["status"], again["nextRunAt"][11:16]) == (record["id"], "scheduled", "04:30")

    (root / "past.json").write_text(json.dumps(mission("past", "shout", ["p"], schedule="2020-01-01T09:00:00Z")))
    past = polpo("save", "past.json", cwd=root, check=0)  # saved (the API takes it too), and told what comes of it
    assert past.stdout.endswith(": scheduled, but its one-shot time 2020-01-01T09:00:00Z has passed: it will be "
                                "reported missed, not run (give a time to come, or run it now: polpo run past)\n")

    plain = polpo("save", "plain.json", cwd=root, check=0)
    assert plain.stdout.endswith(": draft; run it with: polpo run plain\n")
    assert polpo("save", "nosuch.json", cwd=root, check=2).stderr.strip() == "polpo: no such mission file: nosuch.json"

    ran = polpo("run", "m.json", cwd=root, check=0)  # run now: the schedule stays, and the run says so
    assert ran.stdout.endswith("mission nightly: completed\nits schedule stays: next run "
                               f"{again['nextRunAt']} (cron '30 4 * * *', UTC); a long-lived polpo fires it: "
                               "`polpo serve`, or a Jupyter server with polpo\n")
