"""The LLM judge: structured 1-5 verdicts, reviewers and their median, dimensions, and which model judges."""

from __future__ import annotations

import pytest
from llm_script import Script, call, say, verdict
from pydantic_ai.messages import ModelResponse, ToolCallPart

import polpo_nb as polpo
from polpo_nb.assess.llm_judge import combine_scores
from polpo_nb.spec import TaskStatus

WAIT = 30


@pytest.mark.parametrize(("scores", "final", "kept"), [
    ([4.0], 4.0, [0]),
    ([2.0, 3.0], 2.5, [0, 1]),
    ([4.0, 5.0, 1.0], 4.5, [0, 1]),       # 1 is 3 away from the median 4: dropped
    ([3.0, 4.0, 5.0], 4.0, [0, 1, 2]),    # every score within 1.5 of the median
    ([1.0, 5.0, 5.0, 5.0, 1.0], 5.0, [1, 2, 3]),
])
def test_reviewers_scores_combine_as_the_median_without_outliers(scores, final, kept):
    assert combine_scores(scores) == (final, kept)


def _project(project_dir, **config):
    return polpo.Project(project_dir, config=config)


def _mission(expectations, model="worker"):
    return polpo.Mission.model_validate({
        "name": "m", "qualityThreshold": 3,
        "tasks": [{"title": "poem", "description": "Write a poem", "assignTo": "poet", "maxRetries": 0,
                   "expectations": expectations}],
        "team": {"agents": [{"name": "poet", "model": model}]},
    })


def test_three_reviewers_score_a_criterion_with_the_median_and_drop_the_outlier(project_dir):
    project = _project(project_dir, judgeModel="judge", judgeReviewers=3)
    try:
        project.aio.models.register("worker", Script(say("roses are red")).model)
        judge = Script(verdict(4, "good rhythm"), verdict(5, "lovely"), verdict(1, "I hate poems"))
        project.aio.models.register("judge", judge.model)
        task = project.execute(_mission(["The poem rhymes"])).wait(WAIT).tasks[0]

        assert len(judge.calls) == 3
        (criterion,) = task.assessment.criteria
        assert criterion.criterion == "The poem rhymes" and criterion.score == 4.5
        assert "good rhythm" in criterion.feedback and "lovely" in criterion.feedback
        assert "I hate poems" not in criterion.feedback and "outlier score dropped: 1" in criterion.feedback
        assert task.status == TaskStatus.DONE and task.assessment.score == 4.5
    finally:
        project.close()


def test_llm_review_dimensions_are_scored_and_weighted(project_dir):
    def dimensions(messages, info):
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {
            "dimensions": [{"name": "imagery", "score": 5, "feedback": "vivid"},
                           {"name": "meter", "score": 1, "feedback": "uneven"}],
            "feedback": "fix the meter"})])

    project = _project(project_dir, judgeModel="judge")
    try:
        project.aio.models.register("worker", Script(say("a poem")).model)
        judge = Script(dimensions)
        project.aio.models.register("judge", judge.model)
        expectation = {"type": "llm_review", "criterion": "A good poem", "dimensions": [
            {"name": "imagery", "weight": 3, "rubric": "concrete images"}, {"name": "meter", "weight": 1}]}
        task = project.execute(_mission([expectation])).wait(WAIT).tasks[0]

        (criterion,) = task.assessment.criteria
        assert criterion.kind == "llm_review" and criterion.score == 4.0  # (5*3 + 1*1) / 4
        assert "imagery 5/5: vivid" in criterion.feedback and "meter 1/5: uneven" in criterion.feedback
        assert "imagery (weight 3): concrete images" in judge.last_prompt(0)
    finally:
        project.close()


def test_judge_defaults_to_the_model_the_attempt_ran_with(project_dir):
    project = _project(project_dir)
    try:
        # one scripted model plays both the agent (text) and the judge (structured output)
        def both(messages, info):
            if info.output_tools:
                return verdict(3, "acceptable")(messages, info)
            return ModelResponse(parts=[ToolCallPart("write_file", {"path": "p.md", "content": "verse"})]) \
                if len(messages) == 1 else say("done")

        shared = Script(both)
        project.aio.models.register("worker", shared.model)
        task = project.execute(_mission(["Has a verse"])).wait(WAIT).tasks[0]

        judge_calls = [c for c in shared.calls if c["output_tools"]]
        assert len(judge_calls) == 1 and "verse" in shared.last_prompt(-1)
        assert task.assessment.criteria[0].score == 3 and task.status == TaskStatus.DONE
    finally:
        project.close()


def test_a_registered_function_judge_wins_over_the_llm_judge(project_dir):
    project = _project(project_dir, judgeModel="judge")
    try:
        project.aio.models.register("worker", Script(say("a poem")).model)
        judge = Script(verdict(1, "never asked"))
        project.aio.models.register("judge", judge.model)
        project.judge(lambda expectation, task, result: (5, "function judge"))
        task = project.execute(_mission(["anything"])).wait(WAIT).tasks[0]
        assert judge.calls == [] and task.assessment.criteria[0].feedback == "function judge"
    finally:
        project.close()


def test_a_judge_answering_out_of_range_is_retried_then_reported(project_dir):
    project = _project(project_dir, judgeModel="judge")
    try:
        project.aio.models.register("worker", Script(call("list_files"), say("a poem")).model)
        judge = Script(verdict(9, "off the scale"), verdict(4, "fine"))
        project.aio.models.register("judge", judge.model)
        task = project.execute(_mission(["anything"])).wait(WAIT).tasks[0]
        assert len(judge.calls) == 2 and task.assessment.criteria[0].score == 4  # pydantic-ai asked again
    finally:
        project.close()


def test_a_judge_model_that_cannot_run_here_is_refused_at_execute(project_dir, monkeypatch):
    """Its provider's key is missing: the agents ran (and spent) first, then every review failed (what the
    test before this one held). It is refused at execute, as an agent's model is, and nothing runs; a
    registered judge needs no model."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    ran: list[str] = []
    with polpo.Project(project_dir, config={"judgeModel": "anthropic:claude-sonnet-4-5"}) as project:
        project.agent("w")(lambda task, ctx: ran.append(task.title) or "ok")
        mission = polpo.Mission("judged").task("a", assign_to="w", expectations=["It is right"])
        with pytest.raises(polpo.PolpoError, match="judgeModel: model 'anthropic:claude-sonnet-4-5' needs an API "
                                                    "key in the environment variable ANTHROPIC_API_KEY"):
            project.execute(mission)
        assert ran == []
        project.judge(lambda expectation, task, result: 5)
        assert project.execute(mission).wait(30).status.value == "completed" and ran == ["a"]
