async def test_health(http):
    r = await http.get("api/v1/health")
    print(r.status_code, r.text)
    assert r.status_code == 200

async def test_tasks(http, project):
    project.agent("w")(lambda t, c: "ok")
    r = await http.post("v1/tasks", json={"title": "a", "assignTo": "w"})
    print(r.status_code, r.text)
    r = await http.get("api/v1/projects/root_dir/tasks")
    print(r.status_code, r.text)
    assert r.status_code == 200
