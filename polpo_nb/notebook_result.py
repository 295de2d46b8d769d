"""`polpo_nb.result(value)`: what a notebook task hands back, called inside the notebook.

The notebook runs in its own kernel process, so the value travels through a file: the runtime
(`polpo_nb.agents.notebook`) starts the kernel with `POLPO_NB_RESULT` naming a JSON file in a temporary
directory of its own, and reads it once the last cell has run. Outside a notebook task (the notebook
opened by hand) there is no such file and the call only checks the value, so the same notebook runs
both ways.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: The environment variable naming the file `result()` writes, set by the notebook runtime.
RESULT_ENV = "POLPO_NB_RESULT"


def result(value: Any) -> None:
    """Make `value` the task's result: a str (its content), a dict with `content`/`filesCreated`/`data`
    (the result's own fields), or any other JSON value (its `data`). Called again, the last value wins.
    Raises TypeError at once for a value JSON cannot carry, naming its type. Returns None, so a last line
    `polpo_nb.result(x)` adds no output of its own to the cell."""
    try:
        text = json.dumps({"value": value}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"polpo_nb.result() takes a str, a dict or another JSON value, not this "
                        f"{type(value).__name__}: {exc}") from None
    target = os.environ.get(RESULT_ENV)
    if target:
        Path(target).write_text(text, encoding="utf-8")


def read_result(path: Path) -> tuple[bool, Any]:
    """(True, value) when the notebook called `result()`, else (False, None)."""
    if not path.exists():
        return False, None
    return True, json.loads(path.read_text(encoding="utf-8"))["value"]
