"""`make demo` / `python -m polpo_nb.demo`: a mission of function agents on the embedded default.

No model and no API key: three Python functions play a small editorial team. You see the DAG run with
live progress, a failed assessment sending a draft back for a fix, a quality gate, a checkpoint
approved from code, and a side-effecting task waiting for approval.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import polpo_nb as polpo
from polpo_nb.cli.view import print_events


def build_mission() -> polpo.Mission:
    return (
        polpo.Mission("release-notes", prompt="Write and publish the release notes of version 1.2.")
        .task("Collect changes", "List what changed since 1.1.", assign_to="researcher", priority=10)
        .task("Collect fixes", "List the bugs fixed since 1.1.", assign_to="researcher")
        .task("Draft notes", "Write the notes from the lists.", assign_to="writer",
              depends_on=["Collect changes", "Collect fixes"], expectations=["Mentions every change and fix"],
              expected_outcomes=[{"type": "file", "path": "release-notes.md"}])
        .task("Publish", "Publish the notes.", assign_to="publisher", depends_on=["Draft notes"], side_effects=True)
        .gate(after=["Draft notes"], blocks=["Publish"], min_score=4)
        .checkpoint("editor review", after=["Draft notes"], message="An editor reads the draft before it goes out")
    )


def register_team(project: polpo.Project) -> None:
    @project.agent("researcher", role="Finds what changed")
    def researcher(task, ctx):
        items = ["faster startup", "dark mode"] if "changes" in task.title else ["crash on empty input"]
        return {"content": ", ".join(items), "data": items}

    @project.agent("writer", role="Writes release notes")
    def writer(task, ctx):
        items = [i for r in ctx.upstream.values() for i in r.data]
        if ctx.feedback is None:
            items = items[:1]  # a sloppy first draft: the judge sends it back
        text = "# Release 1.2\n\n" + "\n".join(f"- {i}" for i in items) + "\n"
        path = ctx.project_dir / "release-notes.md"
        path.write_text(text)
        ctx.output(f"wrote {len(items)} items")
        return {"content": text, "filesCreated": ["release-notes.md"]}

    @project.agent("publisher", role="Publishes")
    def publisher(task, ctx):
        return f"published {len(ctx.upstream['Draft notes'].content)} characters"

    @project.judge
    def editor(expectation, task, result):
        missing = [w for w in ("faster startup", "dark mode", "crash on empty input") if w not in result.content]
        return (5, "complete") if not missing else (2, f"missing: {', '.join(missing)}")


def settle(run: polpo.RunHandle) -> polpo.MissionRecord:
    """Wait for the mission's run to settle (done, or waiting for a human)."""
    record = run.wait()
    assert isinstance(record, polpo.MissionRecord)  # a mission's run answers its mission
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", help="project directory to use (default: a fresh temporary one)")
    args = parser.parse_args(argv)
    root = Path(args.dir or tempfile.mkdtemp(prefix="polpo-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"project: {root}\n")
    with polpo.Project(root) as project:
        register_team(project)
        printer = print_events(project)
        run = project.execute(build_mission())
        record = settle(run)
        print(f"\n>> paused: {record.pause_message}; the editor approves from code\n")
        project.resume("release-notes")
        record = settle(run)
        pending = [t for t in record.tasks if t.status.value == "awaiting_approval"]
        for task in pending:
            print(f"\n>> {task.title!r} has side effects: approving it\n")
            project.approve_task(task.id)
        record = settle(run)
        printer.close()
        print(f"\nmission {record.name}: {record.status.value}")
        for task in record.tasks:
            score = task.assessment.score if task.assessment else None
            print(f"  {task.title:18} {task.status.value:10} score={score} retries={task.retries}")
        return 0 if record.status.value == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
