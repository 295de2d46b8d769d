"""Notebook tasks: a task whose body is a parameterized notebook, run by nbclient in a fresh kernel.

The registry plays a task that names a `notebook` with `NotebookRuntime` (one body beside function and
LLM agents, called by the engine like any agent), so retries, the fix phase, expectations, gates and
approvals apply unchanged. One attempt:

- the notebook is resolved inside the project (the sandbox's one definition) and read;
- a cell tagged `injected-parameters` is inserted right after the cell tagged `parameters`
  (papermill's convention), else at the top: the task's `parameters` as variables, `polpo_upstream`
  (the results of the tasks it depends on, by title, as JSON: `content`, `data`, `filesCreated`, ...)
  and `polpo_feedback` (the failed assessment's feedback in the fix phase, else None). The cell is Python:
  a kernel of another language (its kernelspec's `language`) gets no injected cell, and a task with
  `parameters` fails at once saying so, rather than running without them;
- a fresh kernel (the notebook's kernelspec, else `python3`) runs it with the project as its cwd; each
  executed code cell streams a `task:output` event (`cell N: <first line of its output>`, N counted from 1
  in the notebook as written; the injected cell is `injected parameters`);
- the result is what the notebook passed to `polpo_nb.result(value)` (a file the kernel writes, named by
  the `POLPO_NB_RESULT` environment variable: see `polpo_nb.notebook_result`), else the text of the last
  cell that produced output; the executed copy is saved as `.polpo/outputs/<taskId>-<attempt>.ipynb`
  (on failure too) and listed in `filesCreated`.

A cell that raises, a kernel that dies or a notebook that cannot be found fails the attempt with a
`NotebookError` in the user's terms. However the attempt ends (done, failed, timed out, killed,
aborted: the last three cancel this coroutine) the kernel is interrupted if still busy and shut down
before the attempt returns: no kernel outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, PolpoError
from ..notebook_result import RESULT_ENV, read_result
from ..sandbox import resolve_in_project
from ..spec import TaskRecord, TaskResult
from .function import to_task_result

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from .context import AgentContext

#: Where executed copies go, relative to the project.
OUTPUTS_DIR = ".polpo/outputs"
#: The tag of the cell whose next cell receives the injected parameters (papermill's convention).
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
DEFAULT_KERNEL = "python3"
#: Seconds an interrupted cell has to stop before its kernel is shut down under it.
INTERRUPT_GRACE = 5.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_COPY_NAME = re.compile(r"(?P<task>.+)-(?P<attempt>[0-9]+)\.ipynb")
_SHORT = 120


class NotebookError(PolpoError):
    """A notebook task's attempt failed: its notebook is missing or invalid, a cell raised, or its kernel died."""

    code = "BAD_REQUEST"
    #: The message is the whole report (a cell's error ends with the kernel's traceback): the attempt
    #: stores it without polpo's own frames in front (`polpo_nb.tracebacks.attempt_error`).
    own_traceback = True


class NotebookRuntime:
    """Plays notebook tasks: an async `(task, ctx)` callable like any agent's. Stateless (the task says
    which notebook and parameters), so one instance serves every task and pickles for remote executors."""

    __name__ = "notebook"
    __qualname__ = "NotebookRuntime"

    async def __call__(self, task: TaskRecord, ctx: AgentContext) -> TaskResult:
        return await run_notebook(task, ctx)

    def __repr__(self) -> str:
        return "NotebookRuntime()"


def executed_copy_path(task_id: str, attempt: int) -> str:
    """The project-relative path of an attempt's executed notebook."""
    return f"{OUTPUTS_DIR}/{task_id}-{attempt}.ipynb"


def latest_executed_copies(project_dir: Path, task_ids: Iterable[str]) -> dict[str, str]:
    """Task id -> the project-relative path of its latest attempt's executed notebook, for the tasks that
    have one. Read from `.polpo/outputs/` (one listing), not from the task's result: a failed, timed-out,
    killed or aborted attempt saves its copy too, and that is the copy worth opening."""
    wanted = set(task_ids)
    try:
        names = os.listdir(Path(project_dir) / OUTPUTS_DIR)
    except OSError:  # no notebook task has run yet
        return {}
    latest: dict[str, int] = {}
    for name in names:
        found = _COPY_NAME.fullmatch(name)
        if found and found["task"] in wanted:
            latest[found["task"]] = max(latest.get(found["task"], 0), int(found["attempt"]))
    return {tid: executed_copy_path(tid, attempt) for tid, attempt in latest.items()}


async def run_notebook(task: TaskRecord, ctx: AgentContext) -> TaskResult:
    """Run `task.notebook` for one attempt (see the module docstring) and return its result."""
    import nbformat  # imported for the first notebook task only: function-agent projects never pay for it

    if task.notebook is None:
        raise NotebookError(f"task {task.title!r} names no notebook")
    root = Path(ctx.project_dir)
    try:
        source = resolve_in_project(root, task.notebook, must_exist=True)
    except NotFoundError:
        raise NotebookError(f"notebook {task.notebook!r} does not exist in the project") from None
    try:
        nb = nbformat.read(source, as_version=4)
    except Exception as exc:  # noqa: BLE001 - unreadable JSON, an unknown format: the user's file, said so
        raise NotebookError(f"notebook {task.notebook!r} cannot be read: {type(exc).__name__}: {exc}") from None
    kernel, language = _kernel_of(nb, task.notebook)
    injected: int | None = None
    if language == "python":
        upstream = {title: r.model_dump(mode="json", by_alias=True, exclude_none=True)
                    for title, r in ctx.upstream.items()}
        injected = inject_parameters(nb, task.parameters or {}, upstream=upstream, feedback=ctx.feedback)
    elif task.parameters:
        raise NotebookError(f"notebook {task.notebook!r} runs the {kernel!r} kernel ({language}): polpo injects "
                            f"parameters into Python notebooks only, so this task cannot have parameters")
    copy = executed_copy_path(task.id, ctx.attempt)
    with tempfile.TemporaryDirectory(prefix="polpo-nb-") as tmp:
        result_file = Path(tmp) / "result.json"
        try:
            last_text = await _execute(nb, kernel, root, result_file, ctx, task.notebook, copy, injected)
        finally:
            _save_copy(nb, root / copy)
        found, value = read_result(result_file)
    result = to_task_result(value) if found else TaskResult(content=last_text or "")
    files = [f for f in result.files_created if f != copy]
    return result.model_copy(update={"files_created": [*files, copy]})


def _save_copy(nb: NotebookNode, target: Path) -> None:
    """Write the executed copy whole or not at all (a temporary file renamed over it): the widget's link,
    `GET files/read` and a test may read it while a stopped attempt is still saving it."""
    import nbformat

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    nbformat.write(nb, partial)
    os.replace(partial, target)


def inject_parameters(nb: NotebookNode, parameters: dict[str, Any], *, upstream: dict[str, Any],
                      feedback: str | None) -> int:
    """Insert the injected cell after the cell tagged `parameters`, else at the top; return its index.
    Values are JSON, so their Python `repr` is a literal that evaluates back to them."""
    import nbformat

    lines = ["# Parameters injected by polpo"]
    lines += [f"{name} = {value!r}" for name, value in parameters.items()]
    lines += [f"polpo_upstream = {upstream!r}", f"polpo_feedback = {feedback!r}"]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [INJECTED_TAG]})
    index = next((i + 1 for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])), 0)
    nb.cells.insert(index, cell)
    return index


def _kernel_of(nb: NotebookNode, name: str) -> tuple[str, str]:
    """(kernel name, its language): the notebook's kernelspec, else `python3`, as installed here."""
    from jupyter_client.kernelspec import NoSuchKernel, get_kernel_spec

    kernel = (nb.metadata.get("kernelspec") or {}).get("name") or DEFAULT_KERNEL
    try:
        spec = get_kernel_spec(kernel)
    except NoSuchKernel:
        raise NotebookError(f"notebook {name!r} asks for the kernel {kernel!r}, which is not installed here "
                            f"(`jupyter kernelspec list` shows those that are)") from None
    return kernel, (spec.language or "").lower()


async def _execute(nb: NotebookNode, kernel: str, root: Path, result_file: Path, ctx: AgentContext, name: str,
                   copy: str, injected: int | None) -> str | None:
    """Every code cell in a fresh kernel; the text of the last cell that produced output. `injected`:
    the index of the injected cell, if any, which the cells' names skip (`_cell_name`)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    client = NotebookClient(nb, timeout=None, kernel_name=kernel, allow_errors=False,
                            resources={"metadata": {"path": str(root)}})
    km = client.create_kernel_manager()
    last_text: str | None = None
    index = -1
    try:
        await client.async_start_new_kernel(cwd=str(root), env={**os.environ, RESULT_ENV: str(result_file)})
        await client.async_start_new_kernel_client()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            where = _cell_name(index, injected)
            try:
                await _run_cell(client, km, cell, index)
            except CellExecutionError as exc:
                raise NotebookError(_cell_error(name, where, cell, exc, copy)) from None
            except DeadKernelError:
                raise NotebookError(f"the kernel died while running {where} of notebook {name!r} "
                                    f"(executed copy: {copy})") from None
            text = _cell_text(cell)
            if text is not None:
                last_text = text
            ctx.output(f"{where}: {_short(text) if text else 'ran, no output'}")
    finally:
        await _stop_kernel(client, km)
    return last_text


async def _run_cell(client: Any, km: Any, cell: NotebookNode, index: int) -> None:
    """One cell, as a task of its own: nbclient turns any cancellation of a running cell into
    DeadKernelError, which would make a timeout, kill or abort look like a crash (and retry it). Cancelled
    here, the kernel is interrupted so the cell ends on its own (shut down if it will not), and the
    cancellation goes on."""
    running = asyncio.ensure_future(client.async_execute_cell(cell, index))
    try:
        await asyncio.wait({running})
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await km.interrupt_kernel()
        done, _ = await asyncio.wait({running}, timeout=INTERRUPT_GRACE)
        if not done:
            await km.shutdown_kernel(now=True)
            await asyncio.wait({running})
        if not running.cancelled():
            running.exception()  # the interrupted cell's error is the cancellation's, not the attempt's
        raise
    running.result()


async def _stop_kernel(client: Any, km: Any) -> None:
    """Interrupt the kernel if it is alive (a timed-out, killed or aborted cell stops there), then shut it
    down and wait for its process to end, whatever happened before."""
    try:
        if km.has_kernel and await km.is_alive():
            with contextlib.suppress(Exception):  # a kernel dying right now is what we want anyway
                await km.interrupt_kernel()
            await km.shutdown_kernel(now=True)
    finally:
        with contextlib.suppress(Exception):
            await km.cleanup_resources()
        if getattr(client, "kc", None) is not None:
            client.kc.stop_channels()
            client.kc = None


def _cell_name(index: int, injected: int | None) -> str:
    """`cell N`, N counted from 1 in the notebook as its author wrote it (the executed copy has the
    injected cell too, so its indices would point one cell off below it), or `injected parameters`."""
    if injected is None or index < injected:
        return f"cell {index + 1}"
    return "injected parameters" if index == injected else f"cell {index}"


def _cell_error(name: str, where: str, cell: NotebookNode, exc: Any, copy: str) -> str:
    """`cell N of 'x.ipynb' raised E: value`, then the kernel's traceback (ending with `E: value`)."""
    frames = next((o.get("traceback") for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
    traceback = _ANSI.sub("", "\n".join(frames)) if frames else f"{exc.ename}: {exc.evalue}"
    return f"{where} of notebook {name!r} raised {exc.ename}: {exc.evalue} (executed copy: {copy})\n{traceback}"


def _cell_text(cell: NotebookNode) -> str | None:
    """The text a cell produced: its result's text/plain if it has one, else every output's text joined."""
    outputs = cell.get("outputs", [])
    if not outputs:
        return None
    for output in outputs:
        if output.get("output_type") == "execute_result" and "text/plain" in output.get("data", {}):
            return str(output["data"]["text/plain"])
    parts = [str(o.get("text", "")) if o.get("output_type") == "stream" else str(o.get("data", {}).get("text/plain", ""))
             for o in outputs]
    text = "".join(parts).strip()
    return text or None


def _short(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= _SHORT else line[: _SHORT - 1] + "…"
