"""The orchestrator: state machine, DAG scheduling, retries and escalation, gates, checkpoints."""

from .engine import Engine, EngineDeps
from .states import TRANSITIONS, check_transition

__all__ = ["TRANSITIONS", "Engine", "EngineDeps", "check_transition"]
