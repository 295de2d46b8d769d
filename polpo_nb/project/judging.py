"""Who scores a task's criteria: a judge registered in this process, else an LLM judge.

The LLM judge runs on `judgeModel`, else on the model the attempt ran with, else on the task's agent's
model (or `defaultModel`); a task with nothing for a judge to score gets none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from .. import dryrun
from ..agents.models import ModelRegistry, ModelUnavailableError
from ..assess import Judge
from ..spec import CriterionExpectation, LlmReviewExpectation, ProjectConfig, Task, TaskRecord
from .agents import AgentRegistry


class Judging:
    def __init__(self, config: Callable[[], ProjectConfig], models: ModelRegistry, agents: AgentRegistry) -> None:
        self.config = config
        self.models = models
        self.agents = agents
        #: the judge registered with `@project.judge` / `set_judge`, if any
        self.registered: Judge | None = None

    def check(self, tasks: Sequence[Task]) -> None:
        """Raise (ModelUnavailableError, naming judgeModel) when the tasks have criteria an LLM judge would
        score on a `judgeModel` that cannot run here (a provider's key missing): before any agent runs and
        spends. A registered judge, or a dry run's `test`, needs none; the other judge models are the
        agents' own, checked with them."""
        model = self.config().judge_model
        if self.registered is not None or model is None or dryrun.active():
            return
        if any(isinstance(e, CriterionExpectation | LlmReviewExpectation) for t in tasks for e in t.expectations):
            try:
                self.models.check(model)
            except ModelUnavailableError as exc:
                raise ModelUnavailableError(f"judgeModel: {exc.message}") from None

    def judge_for(self, task: TaskRecord) -> Judge | None:
        """The judge of `task`'s criteria; None when it has nothing for a judge to score."""
        if self.registered is not None:
            return self.registered
        if not any(isinstance(e, CriterionExpectation | LlmReviewExpectation) for e in task.expectations):
            return None
        config = self.config()
        model = config.judge_model or (task.result.model if task.result else None)
        if model is None:
            spec = self.agents.stored(task.assign_to)
            model = (spec.model if spec else None) or config.default_model
        if model is None:
            return None
        if dryrun.active():  # a dry run's attempt (the engine's job marks it): judged offline too
            model = dryrun.TEST_MODEL
        from ..assess.llm_judge import LlmJudge

        return LlmJudge(functools.partial(self.models.resolve, model), model_name=model,
                        reviewers=config.judge_reviewers)
