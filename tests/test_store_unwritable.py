"""A run whose store stops taking writes (a full disk, an I/O error) stops at once, saying why, and is
taken up again once the store can be written: before, it stayed `active` for ever with its task
`in_progress` and no way out (`wait()` timed out, `resume` refused an active mission, nothing was
listed as resumable, and the masked error said "cannot rollback - no transaction is active").

Each scenario runs in a process of its own (`full_disk_scenario.py`): the full disk is a file size
limit (RLIMIT_FSIZE), which holds for the whole process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from support import WAIT

SCENARIO = Path(__file__).with_name("full_disk_scenario.py")
#: What a client (the resumable list, the widget) is told of the mission the full disk stopped: not the file
STOPPED = ("mission 'm' stopped: the project's store cannot be written (disk I/O error). What it did before is kept; "
           "once the store can be written again (free disk space, or repair the file), resume it.")


def scenario(name: str, root: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(SCENARIO), name, str(root)], capture_output=True, text=True,
                          timeout=WAIT * 4)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "never retrieved" not in done.stderr, done.stderr[-3000:]  # every refused write is someone's to tell
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    report["stderr"] = done.stderr
    return report


def test_a_mission_whose_store_cannot_be_written_stops_with_the_reason_and_resumes_once_it_can(tmp_path: Path):
    report = scenario("mission", tmp_path)
    for attempt in ("wait", "wait again"):
        assert report[attempt].startswith(f"mission 'm' stopped: {tmp_path / '.polpo' / 'state.db'} cannot be "
                                          "written (disk I/O error); nothing of this write was stored"), report
        assert report[attempt].endswith("resume it.")
    assert report["stored"] == [["a", "in_progress"], ["b", "pending"]]  # as last committed: nothing half-written
    [(name, reason, message)] = report["resumable"]
    assert (name, reason) == ("m", "store unwritable")
    assert message == STOPPED
    assert report["resumed"] == ["completed", [["a", "done", True], ["b", "done", "ran"]]]
    assert report["attempts of a"] == ["crashed", "completed"]  # the attempt the full disk cut off ran again
    assert report["calls"] == ["a", "a", "b"]
    # the agent's three outputs after the disk filled: said once, not three times
    assert report["stderr"].count("a write nobody waited for") == 1, report["stderr"]


def test_a_standalone_task_whose_store_cannot_be_written_stops_then_is_killed_and_retried(tmp_path: Path):
    report = scenario("task", tmp_path)
    for attempt in ("wait", "wait again"):
        assert report[attempt].startswith("task 'a' stopped: "), report
        assert report[attempt].endswith("kill it, then retry it.")
    assert report["stored"] == "in_progress"
    assert report["killed"] == "failed"
    assert report["retried"] == ["done", True]
    assert report["calls"] == ["a", "a"]


def test_a_timer_whose_write_the_store_refuses_stops_its_mission_too(tmp_path: Path):
    """The deadline's timer fails the mission with a write: refused, it raised inside the timer's own
    asyncio task ("Task exception was never retrieved") and the mission stayed active for ever."""
    report = scenario("timer", tmp_path)
    for attempt in ("wait", "wait again"):
        assert report[attempt].startswith("mission 'm' stopped: "), report
        assert report[attempt].endswith("resume it.")
    assert report["resumed"] == ["failed", "deadline", [["a", "failed"]]]


def test_the_notebook_widget_says_the_run_stopped_and_its_resume_button_takes_it_up(tmp_path: Path):
    report = scenario("widget", tmp_path)
    status, message, ticking = report["shown"]
    assert status == "active" and ticking is False  # nothing runs: its clock stops
    assert message == STOPPED
    assert report["after resume"] == [None, ["done", "done"]]


FILLER = '''
import resource
from pathlib import Path


def fill(task, ctx):
    """The first time, fills the disk (no file of this process may grow past the store's largest); returns 2 MB."""
    filled = Path(ctx.project_dir) / "filled"
    if not filled.exists():
        filled.write_text("")
        largest = max(f.stat().st_size for f in (Path(ctx.project_dir) / ".polpo").glob("state.db*"))
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest, resource.RLIM_INFINITY))
    return "x" * 2_000_000
'''


def test_the_command_line_says_once_why_a_run_stopped_and_resume_takes_it_up(tmp_path: Path):
    """`polpo run` on a disk that fills: one line says why (the engine's log record is the CLI's to
    print, not a second copy), exit 1; `polpo resume` in a new process (space freed) completes it."""
    from cli_project import POLPO, polpo

    (tmp_path / "disk.py").write_text(FILLER)
    (tmp_path / "m.json").write_text(json.dumps({
        "name": "m", "team": {"name": "t", "agents": [{"name": "w", "handler": "disk:fill"}]},
        "tasks": [{"title": "a", "assignTo": "w"}]}))

    run = subprocess.run([POLPO, "run", "m.json"], cwd=tmp_path, capture_output=True, text=True, timeout=WAIT * 4,
                         stdin=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN))
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert run.stderr.count("cannot be written (disk I/O error)") == 1, run.stderr
    assert "mission 'm' stopped:" in run.stderr and "resume it." in run.stderr
    assert "never retrieved" not in run.stderr and "Traceback" not in run.stderr

    # a new process (space freed: no limit): the mission is listed as stopped, and resume completes it
    listed = polpo("missions", cwd=tmp_path, check=0)
    assert "polpo resume m" in listed.stdout, listed.stdout
    resumed = polpo("resume", "m", cwd=tmp_path)
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert "mission m: completed" in resumed.stdout + resumed.stderr


def test_a_notebook_cell_waiting_on_the_run_says_once_why_it_stopped(tmp_path: Path):
    """In a real ipykernel, `run.wait()` raises the stop to the cell that waits. The engine's log record of
    it (for a run nobody waits on) went to the same cell as stderr: the reason said twice, once in red
    text above the traceback. A run someone waits on is told by its waiter alone."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path),
                              extra_arguments=["--HistoryManager.enabled=False"])  # (its history file may not grow)
    try:
        setup = kc.execute(textwrap.dedent(f"""
            import sys, threading
            from pathlib import Path
            sys.path.insert(0, {str(SCENARIO.parent)!r})
            import polpo_nb as polpo
            from full_disk_scenario import open_project
            calls, go = [], threading.Event()
            project = open_project(Path({str(tmp_path)!r}), calls, go=go)
            run = project.execute(polpo.Mission('m').task('a', assign_to='w'))
        """))
        assert kc.get_shell_msg(timeout=WAIT)["content"]["status"] == "ok"
        # (the agent fills the disk once the cell waits: a run that stopped before anyone waited is logged)
        cell = kc.execute("threading.Timer(0.2, go.set).start(); run.wait(60)")
        reply = kc.get_shell_msg(timeout=WAIT * 2)["content"]
        assert (reply["status"], reply["ename"]) == ("error", "StoreWriteError"), reply
        said: list[str] = []  # what the cell showed, as text
        while True:
            msg = kc.get_iopub_msg(timeout=WAIT)
            if msg["parent_header"].get("msg_id") not in (setup, cell):
                continue
            content = msg["content"]
            if msg["msg_type"] == "stream":
                said.append(content["text"])
            elif msg["msg_type"] == "error":
                said.append(content["evalue"])
            elif msg["msg_type"] == "status" and content["execution_state"] == "idle" and \
                    msg["parent_header"]["msg_id"] == cell:
                break
        shown = "".join(said)
        assert shown.count("mission 'm' stopped:") == 1, said
        assert "cannot be written (disk I/O error)" in reply["evalue"] and "resume it." in reply["evalue"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
