"""The Makefile as a new user meets it: `make demo` starts JupyterLab on the quickstart (as root too) and
prints a URL that answers; `make test` and `.ci/run` install what the suite needs through one target."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path

import httpx
from support import wait_for

ROOT = Path(__file__).resolve().parent.parent
STAMP = ".venv/.installed-dev"  # `-o STAMP`: never reinstall the virtualenv from a test


def _make_n(*args: str) -> str:
    return subprocess.run(["make", "-n", "-o", STAMP, *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def test_demo_allows_root_exactly_when_running_as_root() -> None:
    command = _make_n("demo")
    assert "jupyter lab notebooks/quickstart.ipynb" in command
    assert ("--allow-root" in command) == (os.geteuid() == 0)


def test_demo_passes_jupyter_args() -> None:
    assert "--no-browser --port=9999" in _make_n("demo", "JUPYTER_ARGS=--no-browser --port=9999")


def test_test_and_ci_install_through_one_target() -> None:
    assert "pytest -n auto --dist loadfile" in _make_n("test")  # the files spread over the cores
    assert "pytest -n 0 " in _make_n("test", "TEST_WORKERS=0")  # or all in one process
    assert any(dep.startswith("pytest-xdist") for dep in _dev_extra())
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: test-deps$", makefile, re.M)
    assert re.search(r"^test-deps: \$\(STAMP\) \$\(CHROMIUM\)$", makefile, re.M)
    assert "CHROMIUM := /usr/bin/chromium" in makefile
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test-deps" in ci and "make test" in ci and "apt-get" not in ci


def _dev_extra() -> list[str]:
    import tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_demo_starts_jupyterlab_and_prints_a_url_that_answers(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0"
    proc = subprocess.Popen(["make", "-o", STAMP, "demo", f"JUPYTER_ARGS={args}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    url_pattern = re.compile(rf"http://127\.0\.0\.1:{port}/lab\S*\?token=\w+")
    try:
        wait_for(lambda: proc.poll() is not None or any(url_pattern.search(line) for line in list(lines)), timeout=60)
        assert proc.poll() is None, "".join(lines)
        url = next(m.group(0) for line in list(lines) if (m := url_pattern.search(line)))
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "JupyterLab" in page.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
