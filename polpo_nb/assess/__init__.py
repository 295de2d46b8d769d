"""Assessment: expectations scored 1-5 (by judges or typed checks) and expected outcomes checked.

`assess(task, result, ...)` is the one entry point the engine calls; judges plug in through the `Judge`
protocol (FunctionJudge for plain Python callables).
"""

from __future__ import annotations

from .assessor import assess
from .judges import AssessmentConfigError, FunctionJudge, Judge, JudgeFunction, JudgeRequest

__all__ = ["AssessmentConfigError", "FunctionJudge", "Judge", "JudgeFunction", "JudgeRequest", "assess"]
