"""The server's engine fires due schedules by itself: nothing but the HTTP API is used to set one up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server_helpers import Api

from polpo_nb import AsyncProject


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_one_shot_schedule_saved_over_http_fires_on_the_server(fapi: Api, project: AsyncProject):
    @project.agent("w")
    def work(task, ctx):
        return f"ran {task.title}"

    at = datetime.now(UTC) + timedelta(seconds=2)
    mission = await fapi.call("POST", "missions", 201, json={
        "name": "nightly", "schedule": _iso(at),
        "tasks": [{"title": "Report", "description": "write it", "assignTo": "w"}]})
    assert mission["status"] == "scheduled" and mission["nextRunAt"] == _iso(at)
    listed = {m["name"]: m for m in await fapi.get("missions")}
    assert listed["nightly"]["nextRunAt"] == _iso(at)

    events = await fapi.stream("GET", "events?filter=schedule:*,mission:completed",
                               until=lambda name, data: name == "mission:completed")
    names = [name for name, _, _ in events]
    assert names == ["schedule:triggered", "mission:completed"]
    assert events[0][1]["missionId"] == mission["id"]

    after = await fapi.get(f"missions/{mission['id']}")
    assert after["executionCount"] == 1 and after["status"] == "completed"
    assert after.get("nextRunAt") is None  # a one-shot schedule does not fire again
    assert after["tasks"][0]["result"]["content"] == "ran Report"


async def test_missions_list_a_cron_schedule_with_its_next_occurrence(papi: Api):
    mission = await papi.call("POST", "missions", 201, json={
        "name": "weekly", "schedule": "0 9 * * 1",
        "tasks": [{"title": "Digest", "description": "sum up the week", "assignTo": "w"}],
        "team": {"name": "t", "agents": [{"name": "w", "model": "test"}]}})
    listed = {m["name"]: m for m in await papi.get("missions")}
    next_run = datetime.fromisoformat(listed["weekly"]["nextRunAt"].replace("Z", "+00:00"))
    assert next_run > datetime.now(UTC) and next_run.weekday() == 0 and (next_run.hour, next_run.minute) == (9, 0)
    assert listed["weekly"]["status"] == "scheduled" and mission["executionCount"] == 0
