"""polpo-nb: notebook-native orchestration of teams of LLM agents.

    import polpo_nb as polpo
    project = polpo.Project(".")
    mission = polpo.Mission("demo", prompt="...").task("Write", assign_to="writer")
    run = project.execute(mission)
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from . import notebook
from .agents.steps import StepInterrupted
from .chat import plug as chat_plug
from .errors import (
    ConflictError,
    ForbiddenError,
    IllegalTransitionError,
    NotFoundError,
    PolpoError,
    ProjectClosedError,
    SpecError,
    StoreError,
    StoreWriteError,
)
from .missionfile import dump_mission, load_mission, parse_mission_text
from .notebook_result import result
from .project import AsyncProject, Project, RunHandle
from .spec import (
    Agent,
    Assessment,
    Checkpoint,
    Delay,
    ExpectedOutcome,
    Mission,
    MissionRecord,
    QualityGate,
    RetryPolicy,
    Task,
    TaskRecord,
    TaskResult,
    Team,
)

AsyncProject.plug_chat(chat_plug.service)  # the chat sits above the project: plugged in here, not imported by it
Mission.plug_renderer(notebook.mission_mimebundle)  # so does the notebook above the spec

try:  # one source of truth: the installed distribution's metadata (pyproject.toml when it was built)
    __version__ = _distribution_version("polpo-nb")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext polpo_nb`: the `%polpo` / `%%polpo` magics (polpo_nb.notebook.magics)."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)

__all__ = [
    "Agent", "Assessment", "AsyncProject", "Checkpoint", "ConflictError", "Delay", "ExpectedOutcome", "ForbiddenError",
    "IllegalTransitionError", "Mission", "MissionRecord", "NotFoundError", "PolpoError", "Project", "ProjectClosedError",
    "QualityGate", "RetryPolicy", "RunHandle", "SpecError", "StepInterrupted", "StoreError", "StoreWriteError", "Task", "TaskRecord",
    "TaskResult",
    "Team", "dump_mission", "load_mission", "load_ipython_extension", "parse_mission_text", "result",
]
