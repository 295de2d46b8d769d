"""`GET tasks` in pages (`limit`, `cursor`) and from per-record renderings (tasklist.TaskList, and
cache.RecordCache for missions): pages walk the list's creation order exactly once, bad page parameters
are refused naming the field, and a list after a change shows the change (in this process or another
one, deletions included) while reading and rendering only the records that changed (counted, not
timed)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from server_helpers import Api

from polpo_nb import AsyncProject
from polpo_server import PolpoServerApp
from polpo_server.pages import MAX_LIMIT, NEXT_CURSOR, encode_cursor


async def make_tasks(api: Api, count: int, prefix: str = "t") -> list[str]:
    await api.call("POST", "agents", 201, json={"name": "w"})
    return [(await api.call("POST", "tasks", 201, json={"title": f"{prefix}{i}", "assignTo": "w"}))["id"]
            for i in range(count)]


async def walk(api: Api, limit: int, **params: str) -> tuple[list[list[str]], list[str | None]]:
    """Every page of `GET tasks` at `limit`: the ids of each page, and each page's next cursor."""
    pages: list[list[str]] = []
    cursors: list[str | None] = []
    cursor: str | None = None
    while True:
        query = {"limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        response = await api.request("GET", "tasks", params=query)
        pages.append([t["id"] for t in api.data(response)])
        cursor = response.headers.get(NEXT_CURSOR)
        cursors.append(cursor)
        if cursor is None:
            return pages, cursors
        assert len(pages) <= 100, "the cursor does not advance"


async def test_pages_walk_the_whole_list_once_in_its_order(api: Api):
    ids = await make_tasks(api, 7)
    everything = await api.request("GET", "tasks")
    assert NEXT_CURSOR not in everything.headers  # no limit: the seed's whole list, nothing else
    assert [t["id"] for t in api.data(everything)] == ids

    pages, cursors = await walk(api, 3)
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    assert cursors[-1] is None and len(set(cursors[:-1])) == 2

    exact, _ = await walk(api, 7)  # a last page that is exactly full says so: no cursor, no empty page
    assert exact == [ids]
    single, _ = await walk(api, 1)
    assert single == [[i] for i in ids]


async def test_a_cursor_stays_valid_while_tasks_come_and_go(api: Api):
    ids = await make_tasks(api, 5)
    first = await api.request("GET", "tasks", params={"limit": "2"})
    cursor = first.headers[NEXT_CURSOR]
    await api.call("DELETE", f"tasks/{ids[2]}")  # the next page's first task
    late = (await api.call("POST", "tasks", 201, json={"title": "late", "assignTo": "w"}))["id"]
    rest: list[str] = []
    while cursor:
        response = await api.request("GET", "tasks", params={"limit": "2", "cursor": cursor})
        rest += [t["id"] for t in api.data(response)]
        cursor = response.headers.get(NEXT_CURSOR)
    assert [t["id"] for t in api.data(first)] + rest == [ids[0], ids[1], ids[3], ids[4], late]


async def test_a_task_created_after_the_newest_were_deleted_comes_on_a_later_page(api: Api):
    """Its place in the order (seq) was the largest left plus one: the deleted tasks' numbers again, behind
    a cursor already given out, so the next page was empty and it was never listed."""
    first, second = await make_tasks(api, 2)
    page = await api.request("GET", "tasks", params={"limit": "1"})
    cursor = page.headers[NEXT_CURSOR]
    await api.call("DELETE", f"tasks/{first}")
    await api.call("DELETE", f"tasks/{second}")
    late = (await api.call("POST", "tasks", 201, json={"title": "late", "assignTo": "w"}))["id"]
    rest = await api.request("GET", "tasks", params={"limit": "1", "cursor": cursor})
    assert [t["id"] for t in api.data(rest)] == [late]


async def test_pages_of_a_filtered_list(api: Api):
    ids = await make_tasks(api, 6)
    await api.call("POST", "agents", 201, json={"name": "other"})
    await api.call("PATCH", f"tasks/{ids[1]}", json={"assignTo": "other"})
    await api.call("PATCH", f"tasks/{ids[4]}", json={"assignTo": "other"})
    pages, _ = await walk(api, 1, assignTo="other")
    assert pages == [[ids[1]], [ids[4]]]
    pages, _ = await walk(api, 2, assignTo="w")
    assert pages == [[ids[0], ids[2]], [ids[3], ids[5]]]


@pytest.mark.parametrize("limit", ["0", "-1", str(MAX_LIMIT + 1), "ten", "2.5", ""])
async def test_a_bad_limit_is_refused_naming_it(api: Api, limit: str):
    body = api.error(await api.request("GET", "tasks", params={"limit": limit}), 400)
    assert [e["loc"] for e in body["errors"]] == [["limit"]], body


@pytest.mark.parametrize("cursor", ["nope", "!!", encode_cursor(3)[:-2], "c2VxOi0x"])
async def test_a_cursor_this_list_did_not_give_is_refused_naming_it(api: Api, cursor: str):
    body = api.error(await api.request("GET", "tasks", params={"limit": "2", "cursor": cursor}), 400)
    assert [e["loc"] for e in body["errors"]] == [["cursor"]], body
    assert NEXT_CURSOR in body["errors"][0]["msg"]


async def test_the_largest_page_is_accepted(api: Api):
    ids = await make_tasks(api, 2)
    assert [t["id"] for t in await api.get("tasks", params={"limit": str(MAX_LIMIT)})] == ids


async def test_a_list_after_a_write_shows_it(api: Api):
    ids = await make_tasks(api, 3)
    assert [t["description"] for t in await api.get("tasks")] == [""] * 3
    await api.call("PATCH", f"tasks/{ids[1]}", json={"description": "changed"})
    listed = await api.get("tasks")
    assert [t["description"] for t in listed] == ["", "changed", ""]
    assert listed[1] == await api.get(f"tasks/{ids[1]}")  # the list's record is the record's own answer
    await api.call("DELETE", f"tasks/{ids[0]}")
    assert [t["id"] for t in await api.get("tasks")] == ids[1:]


async def test_a_list_after_another_process_wrote_shows_it(api: Api, root_dir: Path):
    ids = await make_tasks(api, 3)
    assert (await api.get("tasks"))[2]["description"] == ""
    script = ("import sys, polpo_nb as polpo\n"
              "with polpo.Project(sys.argv[1]) as p:\n"
              "    p.update_task(sys.argv[2], {'description': 'from elsewhere'})\n"
              "    p.create_task({'title': 'new', 'assignTo': 'w'})\n")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(root_dir), ids[2])
    assert await proc.wait() == 0
    listed = await api.get("tasks")
    assert [t["title"] for t in listed] == ["t0", "t1", "t2", "new"]
    assert listed[2]["description"] == "from elsewhere"
    page = await api.get("tasks", params={"limit": "1", "cursor": encode_cursor(listed[1]["seq"])})
    assert page == [listed[2]]


async def test_a_list_after_one_change_reads_and_renders_only_that_record(api: Api, polpo_app: PolpoServerApp,
                                                                         project: AsyncProject):
    ids = await make_tasks(api, 20)
    await api.get("tasks")
    tasks = polpo_app.render_cache.task_lists.of(project.store)
    read, rendered = tasks.reads, tasks.renders
    await api.get("tasks", params={"status": "draft"})  # another list of the same records: none read or rendered
    await api.get("tasks", params={"limit": "5", "cursor": encode_cursor(3)})
    assert (tasks.reads, tasks.renders) == (read, rendered)

    await api.call("PATCH", f"tasks/{ids[7]}", json={"priority": 3})
    listed = await api.get("tasks")
    assert (tasks.reads, tasks.renders) == (read + 1, rendered + 1)
    assert listed[7]["priority"] == 3

    await api.call("POST", "agents", 201, json={"name": "w2"})  # a commit that changes no task
    assert await api.get("tasks") == listed
    assert (tasks.reads, tasks.renders) == (read + 1, rendered + 1)


async def test_a_list_after_deletions_and_a_change_shows_both(api: Api):
    """Deleting the tasks written last lets the next write reuse their revisions: the list, whose last
    read was before the deletions, must still see that write (and not the deleted tasks)."""
    ids = await make_tasks(api, 4)
    await api.get("tasks")
    await api.call("DELETE", f"tasks/{ids[3]}")
    await api.call("DELETE", f"tasks/{ids[2]}")
    await api.call("PATCH", f"tasks/{ids[0]}", json={"description": "after the deletions"})
    listed = await api.get("tasks")
    assert [t["id"] for t in listed] == ids[:2]
    assert listed[0]["description"] == "after the deletions"
    assert [t["id"] for t in await api.get("tasks", params={"limit": "1", "cursor": encode_cursor(listed[0]["seq"])})] \
        == [ids[1]]


async def test_a_task_another_process_deleted_leaves_the_list(api: Api, root_dir: Path):
    ids = await make_tasks(api, 3)
    assert [t["id"] for t in await api.get("tasks")] == ids
    script = ("import sys, polpo_nb as polpo\n"
              "with polpo.Project(sys.argv[1]) as p:\n"
              "    p.delete_task(sys.argv[2])\n")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(root_dir), ids[1])
    assert await proc.wait() == 0
    assert [t["id"] for t in await api.get("tasks")] == [ids[0], ids[2]]
    assert [t["id"] for t in await api.get("tasks", params={"assignTo": "w", "limit": "5"})] == [ids[0], ids[2]]


def test_a_record_that_became_unreadable_is_left_out_not_answered_from_its_old_rendering():
    from polpo_server.cache import RecordCache

    records = RecordCache()

    def render(rows):  # "bad" docs cannot be read: left out, as the store's lists leave them out
        return {ident: doc.upper().encode() for ident, _, doc in rows if doc != "bad"}

    assert records.wire("p", [("a", 1, "one"), ("b", 2, "two")], render) == [b"ONE", b"TWO"]
    assert records.wire("p", [("a", 1, "bad"), ("b", 2, "two")], render) == [b"TWO"]
    assert records.wire("p", [("a", 1, "one"), ("b", 2, "two")], render) == [b"ONE", b"TWO"]
    assert records.renders == 3
    assert records.wire("p", [("b", 2, "two")], render, whole=True) == [b"TWO"]  # "a" deleted: forgotten
    assert records.wire("p", [("a", 1, "one"), ("b", 2, "two")], render) == [b"ONE", b"TWO"]
    assert records.renders == 4


async def test_the_missions_list_is_each_missions_own_answer_and_renders_only_what_changed(
        api: Api, polpo_app: PolpoServerApp, root_dir: Path):
    await api.call("POST", "agents", 201, json={"name": "w"})
    for name in ("m1", "m2"):
        await api.call("POST", "missions", 201, json={"name": name, "tasks": [
            {"title": f"{name}-{i}", "assignTo": "w"} for i in range(4)]})
    await api.call("POST", "missions", 201, json={"name": "empty"})
    listed = await api.get("missions")
    assert listed == [await api.get(f"missions/{m['id']}") for m in listed]
    assert [m["taskCount"] for m in listed] == [4, 4, 0]

    records = polpo_app.render_cache.records
    rendered = records.renders
    task = listed[1]["tasks"][2]["id"]
    await api.call("PATCH", f"tasks/{task}", json={"description": "changed"})
    again = await api.get("missions")
    assert records.renders == rendered + 1
    assert again[1]["tasks"][2]["description"] == "changed" and again[0] == listed[0]

    script = ("import sys, polpo_nb as polpo\n"
              "with polpo.Project(sys.argv[1]) as p:\n"
              "    p.update_mission('m1', {'prompt': 'from elsewhere'})\n")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(root_dir))
    assert await proc.wait() == 0
    third = await api.get("missions")
    assert third[0]["prompt"] == "from elsewhere" and third[0]["tasks"] == again[0]["tasks"]
    assert third == [await api.get(f"missions/{m['id']}") for m in third]
    assert [m["name"] for m in await api.get("missions", params={"status": "draft"})] == ["m1", "m2", "empty"]


async def test_a_big_answer_is_whole_json_with_its_length_and_headers(api: Api):
    """Bodies over BIG_BODY go out after their headers (route_handler): the same answer as a small one."""
    from polpo_server.route_handler import BIG_BODY

    await api.call("POST", "agents", 201, json={"name": "w"})
    long = "x" * (BIG_BODY // 2 + 1)
    ids = [(await api.call("POST", "tasks", 201, json={"title": f"big{i}", "assignTo": "w", "description": long}))["id"]
           for i in range(3)]
    response = await api.request("GET", "tasks")
    assert len(response.content) > BIG_BODY
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["content-length"]) == len(response.content)
    assert [t["id"] for t in api.data(response)] == ids and api.data(response)[2]["description"] == long
    again = await api.request("GET", "tasks", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_kept_list_holds_a_digest_of_each_stored_row_not_the_row():
    """What `TaskList` keeps per task is its rendering and what tells a changed row from its rendering,
    not a copy of the stored JSON (a second ~1 KB per task of a server's memory); a changed row is still
    told apart and rendered again."""
    import tracemalloc

    from polpo_nb.store.revisions import TaskMark, TaskRevRow
    from polpo_server.tasklist import TaskList

    class Table:
        def __init__(self, docs):
            self.docs, self.rev = docs, 1

        def task_mark(self):
            return TaskMark(self.rev, 0)

        def task_rows_since(self, rev):  # as the store reads them: new strings each time
            return [TaskRevRow(f"t{i}", i, "pending", "w", None, (doc + " ")[:-1]) for i, doc in enumerate(self.docs)]

    def render(rows):
        return {ident: b"{}" for ident, _, _ in rows}

    big = 4096
    table, tasks = Table([f'{{"n":{i},"pad":"{"x" * big}"}}' for i in range(500)]), TaskList()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tasks.sync(table, render)
        kept = (tracemalloc.get_traced_memory()[0] - before) / 500
    finally:
        tracemalloc.stop()
    assert kept < big / 4, kept
    table.docs[7] = table.docs[7].replace('"n":7', '"n":"seven"')
    table.rev += 1
    renders = tasks.renders
    tasks.sync(table, render)
    assert tasks.renders == renders + 1


@pytest.mark.parametrize(("path", "renderer"), [("tasks", "render_tasks"), ("missions", "render_missions")])
async def test_a_list_being_rendered_holds_neither_the_server_nor_a_run(
        api: Api, project: AsyncProject, monkeypatch: pytest.MonkeyPatch, path: str, renderer: str):
    """A cold list of many records takes a while to read and render (~0.4 s for 20,000 tasks). It ran on
    the server's loop holding the store: every request, stream and kernel message of the Jupyter server
    waited, and so did every run's commits. Here a mission is run from start to end while a list is held
    in the middle of its rendering."""
    import polpo_nb as polpo
    from polpo_server import lists

    project.agent("quick")(lambda task, ctx: "ok")
    await project.save_mission(polpo.Mission("listed").task("t", assign_to="quick"))
    loop = asyncio.get_running_loop()

    async def a_whole_mission() -> str:
        record = await (await project.execute_mission(polpo.Mission(f"during {path}").task("a", assign_to="quick")
                                                      .task("b", assign_to="quick", depends_on=["a"])))
        return record.status.value

    seen: list[str] = []
    render = getattr(lists, renderer)

    def held(rows):  # type: ignore[no-untyped-def]
        if not seen:  # the first rendering: run a mission meanwhile, and wait for its end (or fail to)
            try:
                seen.append(asyncio.run_coroutine_threadsafe(a_whole_mission(), loop).result(10))
            except TimeoutError:
                seen.append("the mission did not end while the list was rendered")
        return render(rows)
    monkeypatch.setattr(lists, renderer, held)
    response = await api.request("GET", path)
    assert response.status_code == 200
    assert seen == ["completed"]
