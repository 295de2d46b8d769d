"""Mission files: YAML or JSON, the same schema as the API (camelCase keys)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError
from .spec import Mission, parse


def parse_mission_text(text: str, *, source: str = "<text>") -> Mission:
    """A mission from YAML or JSON text (JSON is YAML, but JSON first gives better error positions)."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError([{"loc": [source], "msg": f"neither valid JSON nor YAML: {exc}"}]) from None
    if not isinstance(data, dict):
        raise SpecError([{"loc": [source], "msg": "a mission file holds one mapping (name, tasks, ...)"}])
    return parse(Mission, data)


def load_mission(path: str | os.PathLike[str]) -> Mission:
    path = Path(path)
    return parse_mission_text(path.read_text(encoding="utf-8"), source=str(path))


def dump_mission(mission: Mission, path: str | os.PathLike[str]) -> None:
    """Write atomically (temp file + rename): a crash never leaves half a mission file."""
    path = Path(path)
    data = mission.to_wire()
    if path.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
