"""Heavy optional machinery stays unloaded until used: Jupyter imports polpo_server at every start-up,
and a project of function agents never needs a model SDK (pydantic-ai alone is ~0.5 s of imports)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys, tempfile
import polpo_server, polpo_nb as polpo
with tempfile.TemporaryDirectory() as tmp:
    project = polpo.Project(tmp)
    project.agent("w")(lambda task, ctx: "ok")
    record = project.execute(polpo.Mission("m").task("a", "do it", assign_to="w")).wait(30)
    project.close()
assert record.status.value == "completed", record.status
print(",".join(sorted(m for m in ("pydantic_ai", "openai", "anthropic", "distributed", "pandas") if m in sys.modules)))
"""


def test_server_extension_and_function_agent_missions_load_no_model_sdk_nor_dask():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
