"""Every code block of README.md runs as written, in a temporary project, offline.

How each fenced block is taken, by its info string:
- ```python: run in order, in one namespace, in the temporary project (top-level `await` allowed, as in a
  notebook). A block whose first line is `# name.py` is a file the reader saves: it is written into the
  project instead (`jupyter_server_config.py` is also loaded as Jupyter loads it). A block right after
  `<!-- needs a running server -->` is compiled only: it talks to a server the reader started.
- ```yaml: `# name.yaml` on the first line makes it a file in the project; any other block must parse.
- ```json: must parse; a block of config keys must be a valid `.polpo/config.json`.
- ```sh / ```bash: run with bash in the project (after the file blocks are written); exit status 0.
- ```console, ```text and bare fences are transcripts or layouts, not run; each `$ make TARGET` and
  `$ polpo COMMAND` line in them must name a real target (`make -n`) or command (`polpo COMMAND --help`).
Any other language fails the test, so a new block is a decision, not an accident.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import polpo_nb as polpo
from polpo_nb.spec import ProjectConfig, parse

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
TRANSCRIPTS = ("console", "text", "")
SHELLS = ("sh", "bash", "shell")
KNOWN = (*TRANSCRIPTS, *SHELLS, "python", "yaml", "json")
SERVER_NOTE = "<!-- needs a running server -->"
FILE_LINE = re.compile(r"#\s*([\w./-]+\.(?:py|ya?ml))\s*$")


@dataclass
class Block:
    lang: str
    code: str
    line: int
    note: str  # the line before the opening fence

    @property
    def file(self) -> str | None:
        first = self.code.splitlines()[0] if self.code.strip() else ""
        match = FILE_LINE.fullmatch(first.strip())
        return match.group(1) if match and self.lang in ("python", "yaml") else None

    def __str__(self) -> str:
        return f"README.md:{self.line} ```{self.lang}"


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)```(\S*)", lines[i])
        if not opening:
            i += 1
            continue
        indent, lang = opening.groups()
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        note = lines[start - 1].strip() if start else ""
        blocks.append(Block(lang.lower(), "\n".join(body) + "\n", start + 1, note))
        i += 1
    return blocks


BLOCKS = readme_blocks()


def _of(*langs: str) -> list[Block]:
    return [b for b in BLOCKS if b.lang in langs]


@pytest.fixture
def readme_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary project holding every file block; the current directory while blocks run."""
    for block in BLOCKS:
        if block.file:
            target = tmp_path / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for key in [k for k in os.environ if k.endswith("_API_KEY")]:
        monkeypatch.delenv(key)
    return tmp_path


def test_every_block_is_of_a_known_kind() -> None:
    unknown = [str(b) for b in BLOCKS if b.lang not in KNOWN]
    assert not unknown, f"the README test does not know how to run these (mark transcripts as console): {unknown}"
    assert _of("python") and _of(*SHELLS) and [b for b in BLOCKS if b.file]


def test_the_readme_stands_alone() -> None:
    """No reference to what only the project's makers have: design notes, seeds, issue numbers."""
    text = README.read_text(encoding="utf-8")
    for private in (r"\.\./shared", r"ARCHITECTURE\.md", r"\bseeds? \d{3}", r"\bseeds'", r"\bissues? \d+"):
        found = re.search(private, text, re.IGNORECASE)
        assert not found, f"the README refers to {found.group(0)!r}, which a user does not have"


def _run_python(block: Block, namespace: dict[str, Any]) -> None:
    code = compile(block.code, str(block), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)  # noqa: S307 - the README's own code
    if asyncio.iscoroutine(result):  # a block with top-level await, as a notebook cell runs it
        asyncio.run(result)


def test_python_blocks_run_in_order(readme_project: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    ran = 0
    try:
        for block in _of("python"):
            if block.file:
                continue
            if block.note == SERVER_NOTE:
                compile(block.code, str(block), "exec")
                continue
            try:
                _run_python(block, namespace)
            except Exception as exc:
                raise AssertionError(f"{block} fails: {type(exc).__name__}: {exc}") from exc
            ran += 1
    finally:
        for value in namespace.values():
            if isinstance(value, polpo.Project):
                value.close()
    assert ran >= 2
    assert (readme_project / ".polpo" / "state.db").is_file()


def test_python_file_blocks_are_valid(readme_project: Path) -> None:
    from traitlets.config.loader import PyFileConfigLoader

    from polpo_server.app import PolpoServerApp

    for block in _of("python"):
        if not block.file:
            continue
        compile(block.code, str(block), "exec")
        if block.file == "jupyter_server_config.py":
            config = PyFileConfigLoader(block.file, path=str(readme_project)).load_config()
            settings = dict(config.PolpoServerApp)
            assert settings, f"{block} configures no PolpoServerApp trait"
            app = PolpoServerApp(config=config)
            assert {name: getattr(app, name) for name in settings} == settings


def test_yaml_and_json_blocks_parse() -> None:
    for block in _of("yaml"):
        assert isinstance(yaml.safe_load(block.code), dict), block
    for block in _of("json"):
        data = json.loads(block.code)
        config_keys = {f.alias for f in ProjectConfig.model_fields.values()}
        if isinstance(data, dict) and set(data) <= config_keys:
            parse(ProjectConfig, data)


def test_shell_blocks_run(readme_project: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for block in _of(*SHELLS):
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=readme_project, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{block} exits {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"


def _commands(block: Block) -> list[list[str]]:
    """The `$ ...` lines of a transcript, as argument lists (comments and placeholders dropped)."""
    found = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            command = line[2:].split(" #")[0]
            found.append(shlex.split(re.sub(r"\[[^\]]*\]", "", command)))
    return found


def test_commands_in_transcripts_exist() -> None:
    checked = 0
    for block in _of(*TRANSCRIPTS):
        for argv in _commands(block):
            if argv[0] == "make":
                proc = subprocess.run(["make", "-n", "-o", ".venv/.installed-dev", *argv[1:2]], cwd=ROOT,
                                      capture_output=True, text=True)
            elif argv[0] == "polpo":
                proc = subprocess.run([str(BIN / "polpo"), *argv[1:2], "--help"], capture_output=True, text=True)
            else:
                continue
            assert proc.returncode == 0, f"{block}: {' '.join(argv)}: {proc.stderr}"
            checked += 1
    assert checked >= 2
