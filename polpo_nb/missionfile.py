"""Mission files: YAML or JSON, the same schema as the API (camelCase keys; the Python names,
`depends_on`, are accepted too). An unknown key is an error that names it and suggests the closest
known one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .errors import NotFoundError
from .spec import Mission, parse
from .spec.datafile import mission_data


def parse_mission_text(text: str, *, source: str = "<text>") -> Mission:
    """A mission from YAML or JSON text (a `%%polpo mission` cell, a request body)."""
    return parse(Mission, mission_data(text, source=source))


MISSION_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def load_mission(path: str | os.PathLike[str]) -> Mission:
    return Mission.load(path)


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
    """Validated, then written atomically (`Mission.dump`)."""
    mission.dump(path)
