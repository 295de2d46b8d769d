"""Reading and writing the data of a mission file (YAML or JSON): below the models, so that
`Mission.load` / `Mission.dump` need nothing from the layers above them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from ..errors import NotFoundError, SpecError


class DuplicateKeyError(ValueError):
    """A mapping of a hand-written file gives a key twice. `json` and PyYAML keep the last value without a
    word: a second `tasks:` block pasted below the first would drop every task of the first."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise DuplicateKeyError(f"duplicate key {key!r} in one object")
        data[key] = value
    return data


def loads_json(text: str | bytes) -> Any:
    """`json.loads`, refusing an object that gives a key twice (DuplicateKeyError)."""
    return json.loads(text, object_pairs_hook=_unique_keys)


class _UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]  # (PyYAML has no type hints)
    """YAML's own rule (a mapping's keys are unique), which PyYAML does not enforce. A merge (`<<: *base`)
    is not a duplicate: the keys written beside it override what it merges, as YAML means."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = lines.get(key)
            except TypeError:  # an unhashable key: the construction below refuses it in YAML's words
                continue
            if first is not None:
                raise DuplicateKeyError(f"duplicate key {key!r} at line {line} (first at line {first})")
            lines[key] = line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping


@contextmanager
def read_as_data(source: str) -> Iterator[None]:
    """What parsing a hand-written file's data raises beyond its syntax, as SpecError naming `source`: a
    key given twice (refused, never overwritten), and nesting thousands deep (Python's parsers recurse)."""
    try:
        yield
    except DuplicateKeyError as exc:
        raise SpecError([{"loc": [source], "msg": str(exc)}]) from None
    except RecursionError:
        raise SpecError([{"loc": [source], "msg": "nested too deeply to read"}]) from None


def mission_data(text: str, *, source: str = "<text>") -> dict[str, Any]:
    """The mapping in YAML or JSON text (JSON is YAML, but JSON first gives better error positions)."""
    with read_as_data(source):
        try:
            data: Any = loads_json(text)
        except json.JSONDecodeError:
            try:
                data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
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
    return mission_data(read_utf8(path), source=str(path)), str(path)


def read_utf8(path: Path) -> str:
    """A file's text; one that is not UTF-8 is an invalid file (SpecError naming the first bad byte)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([{"loc": [str(path)], "msg": f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                                                    f"{exc.start})"}]) from None


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
