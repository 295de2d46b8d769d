"""schemathesis over every operation of the OpenAPI document, both dialects, against a real `polpo serve`.

Bounded so it belongs in the suite: a few positive and a few negative examples per operation, with a
fixed seed (`derandomize`), about a minute on two cores. Every response must not be a server error
and must conform to the document: its status, content type, headers and body. The endless SSE
route (`events`) is left out: a generated request would stream until the client gives up (the
bad-input corpus covers its refusals).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from server_helpers import WAIT, free_port, start_serve, stop_serve

KEY = "sk_schemathesis"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROJECT = "fuzzed"
EXAMPLES = 5  # per operation and generation mode
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("fuzz") / PROJECT
    root.mkdir()
    (root / "notes.txt").write_text("a file to list, read and preview\n")
    log = root.parent / "serve.log"
    port = free_port()
    proc = start_serve(root, port=port, key=KEY, log=log, cli=False)
    url = f"http://127.0.0.1:{port}"
    try:
        # something to find: an agent generated tasks may name, a task, a mission
        assert httpx.post(url + "/v1/agents", json={"name": "dev"}, headers=AUTH).status_code == 201
        assert httpx.post(url + "/v1/tasks", json={"title": "t", "assignTo": "dev"}, headers=AUTH).status_code == 201
        mission = {"name": "m", "tasks": [{"title": "a", "assignTo": "dev"}]}
        assert httpx.post(url + "/v1/missions", json=mission, headers=AUTH).status_code == 201
        yield url
    finally:
        code = stop_serve(proc)
    assert code == 0, log.read_text()


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(served: str):
    document = httpx.get(served + "/v1/openapi.json", headers=AUTH, timeout=WAIT).json()
    schema = schemathesis.openapi.from_dict(document)
    tally: collections.Counter[str] = collections.Counter({"requests": 0, "5xx": 0, "non-conforming": 0})
    problems: dict[tuple[str, str, int], str] = {}

    def exercise(operation: Any, mode: GenerationMode) -> None:
        pinned = {"projectId": PROJECT} if "{projectId}" in operation.path else None
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=pinned)

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: Any) -> None:
            response = case.call(base_url=served, headers=AUTH, timeout=WAIT)
            tally["requests"] += 1
            tally["5xx"] += response.status_code >= 500
            for check in CHECKS:
                try:
                    case.validate_response(response, checks=[check])
                except (FailureGroup, AssertionError) as exc:
                    tally["non-conforming"] += 1
                    problems.setdefault((operation.label, check.__name__, response.status_code), str(exc)[:800])

        with contextlib.suppress(Unsatisfiable):  # negative examples of an operation that takes no input
            run()

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        if operation.path.endswith("/events"):
            continue
        tally["operations"] += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            exercise(operation, mode)
    print(f"\nschemathesis: {dict(tally)}")
    assert len(operations) == sum(len(methods) for methods in document["paths"].values())
    assert tally["requests"] >= 2 * tally["operations"], tally
    assert not problems, "\n\n".join(f"{key}:\n{text}" for key, text in problems.items())
    assert tally["5xx"] == 0 and tally["non-conforming"] == 0, tally
