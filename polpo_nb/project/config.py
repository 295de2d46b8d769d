"""Finding a project's directories and reading its config."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import SpecError
from ..spec import ProjectConfig, parse

POLPO_DIR = ".polpo"


def config_path(root: Path) -> Path | None:
    """`.polpo/config.json`, else `polpo.json` at the project root, else None."""
    for candidate in (root / POLPO_DIR / "config.json", root / "polpo.json"):
        if candidate.is_file():
            return candidate
    return None


def load_config(root: Path, overrides: dict | None = None) -> ProjectConfig:
    data: dict = {}
    path = config_path(root)
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SpecError([{"loc": [str(path)], "msg": f"invalid JSON: {exc}"}]) from None
        if not isinstance(data, dict):
            raise SpecError([{"loc": [str(path)], "msg": "the config file holds one JSON object"}])
    return parse(ProjectConfig, {**data, **(overrides or {})})
