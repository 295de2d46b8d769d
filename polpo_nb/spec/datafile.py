"""Reading and writing the data of a mission file (YAML or JSON): below the models, so that
`Mission.load` / `Mission.dump` need nothing from the layers above them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import NotFoundError, SpecError


def mission_data(text: str, *, source: str = "<text>") -> dict[str, Any]:
    """The mapping in YAML or JSON text (JSON is YAML, but JSON first gives better error positions)."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError([{"loc": [source], "msg": f"neither valid JSON nor YAML: {exc}"}]) from None
    if not isinstance(data, dict):
        raise SpecError([{"loc": [source], "msg": "a mission file holds one mapping (name, tasks, ...)"}])
    return data


def read_mission_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """(the file's mapping, its path as the source to name in errors)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise NotFoundError(f"No such mission file: {path}")
    return mission_data(path.read_text(encoding="utf-8"), source=str(path)), str(path)


def write_mission_file(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """YAML for `.yaml`/`.yml`, else JSON; atomically (temp file + rename): a crash never leaves half
    a mission file."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
