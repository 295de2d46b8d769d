"""The `polpo` command: run a mission file, look at a project, and (with the server) serve it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .errors import PolpoError


def _project(args: argparse.Namespace):
    from .project import Project

    return Project(args.project)


def cmd_run(args: argparse.Namespace) -> int:
    """Save-and-run a mission file, printing its events until it settles."""
    from .missionfile import load_mission
    from .progress import ProgressPrinter

    mission = load_mission(args.file)
    with _project(args) as project:
        printer = ProgressPrinter(project)
        record = project.execute(mission).wait()
        printer.close()
        print(f"mission {record.name}: {record.status.value}")
        return 0 if record.status.value == "completed" else 1


def cmd_status(args: argparse.Namespace) -> int:
    with _project(args) as project:
        for mission in project.list_missions():
            done = sum(t.status.value == "done" for t in mission.tasks)
            print(f"{mission.id}  {mission.name:30}  {mission.status.value:10}  {done}/{len(mission.tasks)} done")
        standalone = [t for t in project.list_tasks() if t.mission_id is None]
        for task in standalone:
            print(f"{task.id}  {task.title:30}  {task.status.value}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The REST/SSE/WebSocket API of a project, headless (the Jupyter server extension's app)."""
    try:
        from polpo_server.serve import serve
    except ImportError as exc:  # pragma: no cover - polpo_server ships in the same wheel
        print(f"polpo serve needs the polpo_server package: {exc}", file=sys.stderr)
        return 2
    serve(port=args.port, host=args.host, project=args.project, api_key=args.api_key)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polpo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
        "run": (cmd_run, "run a mission file (YAML or JSON)"),
        "status": (cmd_status, "list the project's missions and standalone tasks"),
        "serve": (cmd_serve, "serve the project's REST, SSE and WebSocket API (no notebook needed)"),
    }
    for name, (fn, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--project", default=".", help="project directory (default: .)")
        p.set_defaults(fn=fn)
        if name == "run":
            p.add_argument("file", help="mission file")
        if name == "serve":
            p.add_argument("--port", type=int, default=3000, help="port (default: 3000)")
            p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
            p.add_argument("--api-key", default=os.environ.get("POLPO_API_KEY"),
                           help="every request must send Authorization: Bearer KEY (default: $POLPO_API_KEY)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except PolpoError as exc:
        print(f"polpo: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
