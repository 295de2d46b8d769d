"""`%load_ext polpo_nb`, then `%polpo ...`, `%%polpo mission` and `%%polpo chat`.

Which project: the one named by `%polpo use PATH_OR_VARIABLE` if any; else the variable `project` of
the user namespace if it is a `polpo.Project`; else the only `polpo.Project` in the namespace; else
the project in the current working directory (opened once, on first use). Mistakes (an unknown
subcommand, a bad mission, a task that is not awaiting approval) raise IPython's UsageError: the notebook
shows its message (and the usage, for a bad command line) without a traceback, and the cell fails, so
"Run All", nbclient and papermill stop there instead of running the next cells as if it had worked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..chat import ChatStream
from ..errors import ConflictError, NotFoundError, PolpoError
from ..missionfile import load_mission, parse_mission_text
from ..project.sync import Project
from ..spec.status import TaskStatus

USAGE = """\
%polpo status                             the project at a glance: missions, approvals, resumable runs
%polpo missions [--status S]              missions as a DataFrame
%polpo tasks [--status S] [--mission M]   tasks as a DataFrame
%polpo run NAME_OR_FILE                   execute a saved mission or a .yaml/.json mission file (live widget)
%polpo resume NAME [--retry-failed]       resume a paused (or, with --retry-failed, a failed) mission
%polpo rerun NAME --from TASK             run a mission again from TASK: it and everything downstream of it
%polpo abort NAME                         abort a running mission
%polpo approve TASK [--note N]            approve a task awaiting approval (its id, or its title)
%polpo reject TASK [--note N]             reject it
%polpo use PATH_OR_VARIABLE               choose the project the magics use

%%polpo mission [--run]                   the cell is a mission in YAML or JSON: save it (a saved mission of
                                          the same name is updated) and show its DAG; --run executes it
%%polpo chat [--agent A] [--new | --session ID] [--model M] [--raw]
                                          the cell is a message to the orchestrator (or to agent A); the reply
                                          streams into the cell. `{name}` is replaced by the notebook variable
                                          `name` (--raw: no replacement). Chat cells continue one conversation
                                          per project (and agent); --new starts another, --session ID (or
                                          `last`) resumes a stored one
"""
PROJECT_RULE = """\
The project: the one chosen by `%polpo use`, else the variable `project`, else the only polpo.Project in
the namespace, else the project in the current directory. `run` and `resume` return the run handle, so
`run = %polpo run NAME` keeps it.
"""

LINE_COMMANDS = ("status", "missions", "tasks", "run", "resume", "rerun", "abort", "approve", "reject", "use")
CELL_COMMANDS = ("mission", "chat")


def _doc(text: str) -> Any:
    def set_doc(fn: Any) -> Any:
        fn.__doc__ = text
        return fn
    return set_doc


@magics_class
class PolpoMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._pinned: Project | None = None
        self._opened: dict[Path, Project] = {}  # projects these magics opened (by `use PATH` or the cwd)
        self._chats: dict[tuple[Path, str | None], str] = {}  # (project root, agent) -> the cells' chat session
        self.last_chat: Any = None  # the last `%%polpo chat` reply (a ChatReply; None if it failed)

    # -- the current project ---------------------------------------------------------------------------

    def project(self) -> Project:
        if self._pinned is not None and not self._pinned.aio.closed:
            return self._pinned
        ns = self.shell.user_ns if self.shell is not None else {}
        named = ns.get("project")
        if isinstance(named, Project) and not named.aio.closed:
            return named
        found = {id(v): (k, v) for k, v in ns.items()
                 if not k.startswith("_") and isinstance(v, Project) and not v.aio.closed}
        if len(found) == 1:
            return next(iter(found.values()))[1]
        if len(found) > 1:
            names = ", ".join(sorted(k for k, _ in found.values()))
            raise UsageError(f"several projects in the namespace ({names}): `%polpo use NAME` picks one")
        return self._open(Path.cwd())

    def _open(self, path: Path) -> Project:
        path = path.resolve()
        project = self._opened.get(path)
        if project is None or project.aio.closed:
            project = self._opened[path] = Project(path)
        return project

    # -- the magic -------------------------------------------------------------------------------------

    @magic_arguments()
    @argument("command", nargs="?", default="status",
              help="line: status | missions | tasks | run | resume | rerun | abort | approve | reject | use; "
                   "cell: mission | chat")
    @argument("target", nargs="?", default=None,
              help="run: a saved mission's name or id, or a YAML/JSON mission file; resume/rerun/abort: a mission; "
                   "approve/reject: a task id or the title of a task awaiting approval; use: a path or a "
                   "variable holding a polpo.Project")
    @argument("--status", dest="status", default=None, help="tasks, missions: only those in this status")
    @argument("--mission", dest="mission", default=None, help="tasks: only this mission's tasks")
    @argument("--retry-failed", dest="retry_failed", action="store_true",
              help="resume: run failed (and skipped) tasks again")
    @argument("--from", dest="from_task", default=None, help="rerun: the task (title or id) to re-run from")
    @argument("--note", default=None, help="approve/reject: a note recorded with the decision")
    @argument("--run", dest="run", action="store_true", help="%%%%polpo mission: execute the mission once saved")
    @argument("--agent", default=None, help="%%%%polpo chat: talk to this agent instead of the orchestrator")
    @argument("--new", action="store_true", help="%%%%polpo chat: start a new conversation")
    @argument("--session", default=None, help="%%%%polpo chat: continue this stored session (an id, or `last`)")
    @argument("--model", default=None, help="%%%%polpo chat: the model to answer with, instead of the configured one")
    @argument("--raw", action="store_true", help="%%%%polpo chat: send the cell as written, no {name} replacement")
    @_doc(f"Drive a polpo project from the notebook.\n\n{USAGE}\n{PROJECT_RULE}")
    @line_cell_magic
    def polpo(self, line: str, cell: str | None = None) -> Any:
        try:
            args = parse_argstring(PolpoMagics.polpo, line)
        except (UsageError, ValueError) as exc:  # ValueError: shlex's, for a quote left open
            raise _usage(str(exc)) from None
        for name, value in vars(args).items():
            if isinstance(value, str):
                setattr(args, name, _unquoted(value))
        commands = CELL_COMMANDS if cell is not None else LINE_COMMANDS
        if args.command not in commands:
            kind = "%%polpo" if cell is not None else "%polpo"
            raise _usage(f"unknown {kind} subcommand {args.command!r} (one of: {', '.join(commands)})")
        try:
            return getattr(self, f"_cmd_{args.command}")(args, cell)
        except (PolpoError, UsageError) as exc:
            raise UsageError(f"polpo {args.command}: {exc}") from None

    @staticmethod
    def _need(args: Any, what: str) -> str:
        if not args.target:
            raise UsageError(f"name {what}: %polpo {args.command} {what.upper().replace(' ', '_')}")
        return args.target

    # -- subcommands -----------------------------------------------------------------------------------

    def _cmd_use(self, args: Any, cell: str | None) -> None:
        target = self._need(args, "path or variable")
        value = self.shell.user_ns.get(target) if self.shell is not None else None
        if isinstance(value, Project):
            self._pinned = value
        else:
            path = Path(target).expanduser()
            if not path.is_dir():
                raise UsageError(f"{target!r} is neither a polpo.Project variable nor a directory")
            self._pinned = self._open(path)
        print(f"polpo: using {self._pinned!r}")

    def _cmd_status(self, args: Any, cell: str | None) -> None:
        project = self.project()
        missions = project.list_missions()
        tasks = project.list_tasks()
        print(f"project {project.id!r} at {project.root}")
        print(f"missions: {len(missions)}" + _counts(m.status.value for m in missions))
        for m in missions:
            done = sum(t.status == TaskStatus.DONE for t in m.tasks)
            note = f"  {m.pause_message or m.error or ''}".rstrip()
            print(f"  {m.name:28} {m.status.value:10} {done}/{len(m.tasks)} done{note}")
        print(f"tasks: {len(tasks)}" + _counts(t.status.value for t in tasks))
        waiting = [t for t in tasks if t.status == TaskStatus.AWAITING_APPROVAL]
        if waiting:
            print("awaiting approval:")
            for t in waiting:
                print(f"  {t.id}  {t.title}  ({t.group or 'standalone'})   %polpo approve {t.id}")
        resumable = project.resumable_missions()
        if resumable:
            print("resumable:")
            for m in resumable:
                print(f"  {m.name}  ({m.pause_reason})   %polpo resume {_quote(m.name)}")

    def _cmd_missions(self, args: Any, cell: str | None) -> None:
        display(self.project().missions_df(status=args.status))

    def _cmd_tasks(self, args: Any, cell: str | None) -> None:
        display(self.project().tasks_df(mission=args.mission, status=args.status))

    def _cmd_run(self, args: Any, cell: str | None) -> Any:
        target = self._need(args, "mission")
        project = self.project()
        path = Path(target).expanduser()
        if path.suffix.lower() in (".yaml", ".yml", ".json") and path.is_file():
            return project.execute(load_mission(path))
        return project.execute(target)

    def _cmd_resume(self, args: Any, cell: str | None) -> Any:
        return self.project().resume(self._need(args, "mission"), retry_failed=args.retry_failed)

    def _cmd_rerun(self, args: Any, cell: str | None) -> Any:
        mission = self._need(args, "mission")
        if not args.from_task:
            raise UsageError("name the task to re-run from: --from TASK")
        return self.project().rerun(mission, from_task=args.from_task)

    def _cmd_abort(self, args: Any, cell: str | None) -> None:
        record = self.project().abort(self._need(args, "mission"))
        print(f"polpo: mission {record.name!r} is {record.status.value}")

    def _cmd_approve(self, args: Any, cell: str | None) -> None:
        self._decide(args, approve=True)

    def _cmd_reject(self, args: Any, cell: str | None) -> None:
        self._decide(args, approve=False)

    def _decide(self, args: Any, *, approve: bool) -> None:
        project = self.project()
        task_id = self._task_ref(project, self._need(args, "task"))
        task = (project.approve_task if approve else project.reject_task)(task_id, args.note)
        print(f"polpo: {task.title!r} {'approved' if approve else 'rejected'}: {task.status.value}")

    @staticmethod
    def _task_ref(project: Project, ref: str) -> str:
        """A task id, or the title of exactly one task awaiting approval."""
        try:
            return project.get_task(ref).id
        except NotFoundError:
            pass
        matches = [t for t in project.list_tasks(status=TaskStatus.AWAITING_APPROVAL.value) if t.title == ref]
        if len(matches) == 1:
            return matches[0].id
        if matches:
            raise ConflictError(f"{len(matches)} tasks titled {ref!r} await approval; use an id: "
                                + ", ".join(t.id for t in matches))
        raise NotFoundError(f"no task with id {ref!r}, and no task titled {ref!r} awaits approval")

    def _cmd_mission(self, args: Any, cell: str | None) -> Any:
        assert cell is not None
        if not cell.strip():
            raise UsageError("the cell is empty: write the mission in YAML or JSON below `%%polpo mission`")
        spec = parse_mission_text(cell, source="cell")
        project = self.project()
        if args.run:
            return project.execute(spec)
        return project.save_mission(spec, replace=True)  # a cell run again updates its mission


    def _cmd_chat(self, args: Any, cell: str | None) -> None:
        from .chat_cell import interpolate, stream_reply

        assert cell is not None
        self.last_chat = None  # (stays None if this turn fails)
        if args.new and args.session:
            raise UsageError("--new and --session cannot be used together")
        namespace = self.shell.user_ns if self.shell is not None else {}
        message = (cell if args.raw else interpolate(cell, namespace)).strip()
        if not message:
            raise UsageError("the cell is empty: write your message below `%%polpo chat`")
        project = self.project()
        key = (project.root, args.agent)
        session = args.session or (None if args.new else self._chats.get(key))
        stream = project.chat(message, session_id=session, agent=args.agent, model=args.model, stream=True)
        assert isinstance(stream, ChatStream)  # stream=True answers a stream
        self._chats[key] = stream.session_id
        self.last_chat = stream_reply(stream)


def _usage(message: str) -> UsageError:
    return UsageError(f"polpo: {message}\n\nusage:\n{USAGE}\nSee `%polpo?` for every option.")


def _counts(values: Any) -> str:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return f" ({', '.join(f'{n} {k}' for k, n in counts.items())})" if counts else ""


def _quote(name: str) -> str:
    return f'"{name}"' if " " in name else name


def _unquoted(value: str) -> str:
    """`'my mission'` or `"my mission"` as `my mission`: IPython splits a magic's line as Windows' shell
    does (quotes group words and stay; backslashes are not escapes, so `C:\\dir` paths survive), so the
    quotes around a whole value are taken off here, as a POSIX shell would."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(PolpoMagics)
