"""pandas views: tasks_df, missions_df, events_df, run.results_df."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

import polpo_nb as polpo

WAIT = 30


@pytest.fixture
def finished(project):
    """A mission with a fix phase (draft), a failure (broken) and a skipped dependent (appendix)."""
    @project.agent("w")
    def work(task, ctx):
        if task.title == "broken":
            raise RuntimeError("disk on fire")
        if task.title == "draft":
            return "thin" if ctx.feedback is None else "complete text"
        return f"did {task.title}"

    project.agent("editor")(lambda task, ctx: "edited")
    project.judge(lambda e, t, r: 2 if r.content == "thin" else 4.5)
    mission = (polpo.Mission("report").task("research", assign_to="w")
               .task("draft", assign_to="w", depends_on=["research"], expectations=["complete"])
               .task("broken", assign_to="w", max_retries=0).task("appendix", assign_to="editor", depends_on=["broken"]))
    run = project.execute(mission)
    run.wait(WAIT)
    return run


def test_results_df_has_one_row_per_task_with_scores_retries_durations_and_agents(finished):
    df = finished.results_df().set_index("title")
    assert list(df.index) == ["research", "draft", "broken", "appendix"]
    assert df.loc["draft", "score"] == 4.5 and bool(df.loc["draft", "passed"])
    assert df.loc["draft", "retries"] == 1 and df.loc["draft", "output"] == "complete text"
    assert df.loc["research", "agent"] == "w" and df.loc["appendix", "agent"] == "editor"
    assert df.loc["research", "duration_s"] >= 0
    assert df.loc["broken", "status"] == "failed" and "disk on fire" in df.loc["broken", "error"]
    assert pd.isna(df.loc["research", "score"])


def test_tasks_df_filters_by_status_mission_and_agent(project, finished):
    project.execute(polpo.Mission("other").task("solo", assign_to="w")).wait(WAIT)
    every = project.tasks_df()
    assert len(every) == 5 and set(every["mission"]) == {"report", "other"}
    assert list(project.tasks_df(status="failed")["title"]) == ["broken", "appendix"]
    assert list(project.tasks_df(mission="other")["title"]) == ["solo"]
    assert list(project.tasks_df(agent="editor")["title"]) == ["appendix"]
    assert every["updated_at"].dt.tz is not None


def test_missions_df_counts_tasks_and_scores(project, finished):
    row = project.missions_df().set_index("name").loc["report"]
    assert (row["status"], row["tasks"], row["done"], row["failed"]) == ("failed", 4, 2, 2)
    assert row["mean_score"] == 4.5 and row["execution_count"] == 1
    assert project.missions_df(status="completed").empty


def test_events_df_since_an_id_a_time_or_a_window(project, finished):
    every = project.events_df()
    assert list(every["id"]) == sorted(every["id"]) and len(every) > 10
    middle = int(every["id"].iloc[len(every) // 2])
    assert list(project.events_df(since=middle)["id"]) == [i for i in every["id"] if i > middle]
    assert list(project.events_df(since=f"evt_{middle:05d}")["id"]) == [i for i in every["id"] if i > middle]
    stamp = every["timestamp"].iloc[len(every) // 2]
    assert (project.events_df(since=stamp)["timestamp"] >= stamp).all()
    assert len(project.events_df(since=stamp.isoformat())) == len(project.events_df(since=stamp))
    assert len(project.events_df(since=timedelta(hours=1))) == len(every)
    transitions = project.events_df(pattern="task:transition")
    assert set(transitions["event"]) == {"task:transition"} and transitions["task_id"].notna().all()


@pytest.mark.parametrize("since", [3.5, "garbage", "evt_x"])
def test_events_df_rejects_a_since_it_cannot_read(project, since):
    """In the user's terms, naming the argument (a string that is no time was pandas' DateParseError)."""
    with pytest.raises(polpo.SpecError, match=r"since: an event id \(42, 'evt_00042'\), a datetime, an ISO "
                                              r"string or a timedelta, not "):
        project.events_df(since=since)
