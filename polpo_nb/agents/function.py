"""Function agents: any Python callable `(task, ctx) -> str | dict | TaskResult` playing an agent.

They make the toolkit useful without any model and make tests deterministic. Sync callables run on a
worker thread so they never block the engine's loop.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PolpoError
from ..spec import TaskResult
from ..spec.results import Usage
from ..spec.validation import parse

AgentFn = Callable[..., Any]

_RESULT_KEYS = {name for name in TaskResult.model_fields} | {f.alias for f in TaskResult.model_fields.values() if f.alias}


class AgentUnavailableError(PolpoError):
    """An agent exists in the spec but nothing in this process can run it."""

    code = "BAD_REQUEST"


class FunctionAgent:
    def __init__(self, name: str, fn: AgentFn) -> None:
        if not callable(fn):
            raise TypeError(f"function agent {name!r}: {fn!r} is not callable")
        self.name = name
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004

    def __repr__(self) -> str:
        return f"FunctionAgent({self.name!r}, {getattr(self.fn, '__qualname__', self.fn)!r})"


def to_task_result(value: Any) -> TaskResult:
    """Normalise what an agent returned. A dict whose keys are all TaskResult fields is a TaskResult;
    any other dict, list or number becomes `data` (with its JSON as `content`)."""
    if isinstance(value, TaskResult):
        return value
    if value is None:
        return TaskResult()
    if isinstance(value, str):
        return TaskResult(content=value)
    if isinstance(value, dict) and value and set(value) <= _RESULT_KEYS:
        data = dict(value)
        if isinstance(data.get("usage"), dict):
            data["usage"] = parse(Usage, data["usage"], prefix=("usage",))
        return parse(TaskResult, data)  # a SpecError in the agent's terms, as for the other shapes
    try:
        content = json.dumps(value, default=str)
    except (TypeError, ValueError):
        content = repr(value)
    return TaskResult(content=content, data=value)


def load_handler(spec: str, project_dir: Path) -> AgentFn:
    """Import `package.module:function`, with the project directory first on the import path."""
    module_name, _, attr = spec.partition(":")
    root = project_dir.resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise AgentUnavailableError(f"cannot load handler {spec!r}: {exc}") from exc
    elsewhere = _imported_elsewhere(module_name, module, root)
    if elsewhere is not None:
        raise AgentUnavailableError(
            f"cannot load handler {spec!r}: this process imported a different module {module_name!r} from "
            f"{elsewhere} before (another project's), and Python keeps one module per name; rename the "
            f"project's module {module_name.split('.')[0]!r}, or run this project in a process of its own")
    if not callable(obj):
        raise AgentUnavailableError(f"handler {spec!r} is not callable")
    return obj


def is_project_module(top: str, root: Path) -> bool:
    """Whether the project directory `root` holds a top-level module `top` (a `.py` file or a package)."""
    return (root / f"{top}.py").is_file() or (root / top).is_dir()


def _imported_elsewhere(module_name: str, module: Any, root: Path) -> str | None:
    """Where `module` (what importing `module_name` gave) was loaded from, when the project has a module of
    that name whose code differs: a server serving two projects with handler modules of the same name
    would otherwise run the first one's code for the second one's tasks. The same file in both (two
    projects made by `polpo init`, left as made) runs the same code either way."""
    if not is_project_module(module_name.split(".")[0], root):
        return None  # not the project's module: an installed one is what the handler names
    origin = getattr(module, "__file__", None)
    if origin is None or Path(origin).resolve().is_relative_to(root):
        return None
    own = root.joinpath(*module_name.split("."))
    own = own.with_suffix(".py") if own.with_suffix(".py").is_file() else own / "__init__.py"
    if own.is_file() and own.read_bytes() == Path(origin).read_bytes():
        return None
    return str(origin)
