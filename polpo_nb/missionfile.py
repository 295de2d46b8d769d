"""Mission files: YAML or JSON, the same schema as the API (camelCase keys; the Python names,
`depends_on`, are accepted too). An unknown key is an error that names it and suggests the closest
known one."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .errors import NotFoundError, SpecError
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


MISSION_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def load_mission(path: str | os.PathLike[str]) -> Mission:
    path = Path(path).expanduser()
    if not path.is_file():
        raise NotFoundError(f"No such mission file: {path}")
    return parse_mission_text(path.read_text(encoding="utf-8"), source=str(path))


def looks_like_mission_file(ref: str) -> bool:
    """Whether `run NAME_OR_FILE` (`%polpo run`, `polpo run`, `project.execute`) names a file."""
    return Path(ref).suffix.lower() in MISSION_FILE_SUFFIXES


def run_target(ref: str, find_saved: Callable[[str], object]) -> Mission | str:
    """What `run NAME_OR_FILE` names (`project.execute(str)`, `%polpo run`): a saved mission's name or id
    (returned as is, `find_saved` raising NotFoundError when there is none), else an existing YAML/JSON
    mission file, loaded. Neither: a NotFoundError saying both where it looked."""
    try:
        find_saved(ref)
        return ref
    except NotFoundError:
        if looks_like_mission_file(ref) and Path(ref).expanduser().is_file():
            return load_mission(ref)
        raise missing_mission(ref) from None


def missing_mission(ref: str) -> NotFoundError:
    """The error for a ref that is neither a saved mission nor (when it looks like one) a mission file."""
    if looks_like_mission_file(ref):
        return NotFoundError(f"No mission file {Path(ref).expanduser().resolve()} and no saved mission named {ref!r}")
    return NotFoundError(f"No saved mission named {ref!r}")


def dump_mission(mission: Mission, path: str | os.PathLike[str]) -> None:
    """Write atomically (temp file + rename): a crash never leaves half a mission file. The mission is
    validated first, so a file written here always loads."""
    mission.validate()
    path = Path(path)
    data = mission.to_wire()
    if path.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
