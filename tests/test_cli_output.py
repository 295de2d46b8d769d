"""A closed stdout (`polpo run ... | head -1`) never hangs or stalls the run; a subscriber that raises
never stalls the journal."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import subprocess
from pathlib import Path

from cli_project import POLPO, as_json, mission, write_project
from cli_project import polpo as polpo_cli
from support import WAIT, EventLog, wait_for

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus


def test_run_piped_into_head_ends_and_the_mission_still_settles(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("piped", "gated", [f"t{i}" for i in range(5)],
                                                            chain=False)})
    pipeline = subprocess.Popen(f"'{POLPO}' run m.json | head -1", shell=True, cwd=root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    wait_for(lambda: all((root / f"started-t{i}").exists() for i in range(5)))
    # head has printed its line and gone once the pipe has a line; everything after hits a closed pipe
    first = pipeline.stdout.readline()
    (root / "go").write_text("")
    out, err = pipeline.communicate(timeout=WAIT)

    assert pipeline.returncode == 0 and "task:transition" in first and out == ""
    assert "Traceback" not in err and "Broken pipe" not in err
    assert as_json("show", "piped", cwd=root)["status"] == "completed"


def test_a_subscriber_that_raises_does_not_stall_the_journal(project: polpo.Project, events: EventLog):
    @project.agent("quick")
    def quick(task, ctx):
        return "ok"

    def broken(event):
        raise BrokenPipeError(32, "Broken pipe")
    project.subscribe(broken)
    record = project.execute(polpo.Mission("m").task("a", assign_to="quick").task("b", assign_to="quick",
                                                                                    depends_on=["a"])).wait(timeout=WAIT)
    assert record.status == MissionStatus.COMPLETED
    wait_for(lambda: "mission:completed" in events.names())


def on_a_terminal(*args: str, cwd: Path) -> tuple[int, bytes]:
    """`polpo ARGS` with a pty as its terminal: its exit status and every byte it wrote."""
    main, child = pty.openpty()
    proc = subprocess.Popen([POLPO, *args], cwd=cwd, stdin=child, stdout=child, stderr=child)
    os.close(child)
    screen = b""
    with contextlib.suppress(OSError):  # EIO once the child has closed its side
        while chunk := os.read(main, 65536):
            screen += chunk
    os.close(main)
    return proc.wait(timeout=WAIT), screen


def test_on_a_terminal_the_live_view_shows_counts_tasks_scores_and_outputs(tmp_path: Path):
    polpo_cli("init", cwd=tmp_path, check=0)
    status, screen = on_a_terminal("run", "mission.yaml", cwd=tmp_path)
    assert status == 3
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode())
    final = text[text.rindex("release-notes  paused"):]  # the last frame, then the verdict
    assert "3/4 done" in final and "pending 1  done 3" in final
    assert re.search(r"Draft notes\s+writer\s+done\s+5\s+↻1", final)
    assert "Draft notes: wrote 3 items (after feedback)" in final
    assert final.rstrip().endswith("continue with: polpo resume release-notes")


#: Titles a person writes (a checklist, markdown-ish emphasis, a stray closing bracket): text to print as
#: it is, never terminal markup. Rich read them as markup: it ate `[x]` and `[bold]`, and raised on `[/]`.
BRACKETED = ["- [x] done", "deploy [bold]now[/bold]", "a [/] b"]


def test_tables_print_titles_and_results_as_written_brackets_included(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", BRACKETED, chain=False)})
    polpo_cli("run", "m.json", cwd=root, check=0)
    listed = polpo_cli("tasks", cwd=root, check=0).stdout
    shown = polpo_cli("show", "m", cwd=root, check=0).stdout
    for title in BRACKETED:
        assert title in listed and title in shown
        assert title.upper() in shown  # its result (the agent shouts the title)


def test_the_live_view_prints_titles_as_written_brackets_included(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", BRACKETED, chain=False)})
    status, screen = on_a_terminal("run", "m.json", cwd=root)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode())
    assert status == 0, text
    final = text[text.rindex("m  completed"):]
    for title in BRACKETED:
        assert title in final


#: A title (and so the `shout` agent's output and result) carrying terminal controls: an OSC that sets the
#: window title, a clear-screen CSI, a C1 CSI and a right-to-left override. Printed raw, the terminal obeys
#: them; an agent's text comes from models, tools and web pages, so it is never trusted with the terminal.
CONTROLS = "ok \x1b]0;pwned\x07 \x1b[2J \x9b31m \u202eright-to-left"
OBEYED = (b"\x1b]0;", b"\x1b[2J", "\x9b".encode(), "\u202e".encode(), b"\x07")


def test_text_from_tasks_and_agents_never_reaches_the_terminal_as_controls(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", [CONTROLS])})
    commands = [("run", "m.json"), ("show", "m"), ("tasks",), ("logs", CONTROLS), ("events",), ("missions",)]
    for args in commands:
        status, screen = on_a_terminal(*args, cwd=root)
        assert status == 0, (args, screen)
        assert not [seq for seq in OBEYED if seq in screen], (args, screen)
        if args[0] != "missions":  # shown, as escapes
            assert "\\u001b]0;" in screen.decode(), (args, screen)


def test_json_output_stays_json_and_gives_back_the_exact_text(tmp_path: Path):
    """`--json` goes through the same escaping: its escapes are JSON's own (`\\u009b`), so what a script
    parses is the text as it was written, controls included."""
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", [CONTROLS])})
    polpo_cli("run", "m.json", cwd=root, check=0)
    events = [json.loads(line) for line in polpo_cli("events", "--json", cwd=root, check=0).stdout.splitlines()]
    assert [e["data"]["title"] for e in events if e["event"] == "task:created"] == [CONTROLS]
    assert as_json("show", "m", cwd=root)["tasks"][0]["result"]["content"] == CONTROLS.upper()


def _polpo_with_closed(fds: tuple[int, ...], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`polpo ARGS` started with `fds` closed, as a supervisor's `>&-` or `<&-` leaves them."""
    def close() -> None:
        for fd in fds:
            os.close(fd)
    keep = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    for fd in fds:
        keep.pop(("stdin", "stdout", "stderr")[fd])
    return subprocess.run([POLPO, *args], cwd=cwd, preexec_fn=close, text=True, timeout=WAIT * 4,  # noqa: PLW1509
                          **keep)  # type: ignore[call-overload]


def test_a_mission_run_with_stdout_and_stdin_closed_runs_as_with_them_sent_to_dev_null(tmp_path: Path):
    """stdin and stdout closed (a supervisor's `<&- >&-`): the command works as with /dev/null, its exit
    code says how the mission ended, nothing on stderr. Before, Python left `sys.stdout` None and the
    command ended in an AttributeError (exit 120); and with a standard descriptor free, the project's
    database could be given it, where a child process's output would land."""
    root = write_project(tmp_path / "p", {"m.json": mission("closed", "shout", ["a", "b"])})
    done = _polpo_with_closed((0, 1), "run", "m.json", cwd=root)
    assert (done.returncode, done.stderr) == (0, "")
    assert as_json("show", "closed", cwd=root)["status"] == "completed"
    listed = _polpo_with_closed((1,), "missions", cwd=root)
    assert (listed.returncode, listed.stderr) == (0, "")
    with polpo.Project(root) as project:
        assert [t.result.content for t in project.get_mission("closed").tasks] == ["A", "B"]
