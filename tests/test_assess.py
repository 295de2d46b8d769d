"""Assessment: typed checks, outcome checks, judges and the verdict (ARCHITECTURE.md §2)."""

from __future__ import annotations

import asyncio
import shlex
import socket
import struct
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from polpo_nb.assess import AssessmentConfigError, FunctionJudge, JudgeRequest, assess
from polpo_nb.spec import Assessment, CriterionScore, TaskRecord, TaskResult
from polpo_nb.spec.validation import STORED

PY = shlex.quote(sys.executable)


def py(code: str) -> str:
    """A shell command running `code` with this interpreter (no dependence on `python` being on PATH)."""
    return f"{PY} -c {shlex.quote(code)}"


def make_task(expectations: list[Any] | None = None, outcomes: list[dict[str, Any]] | None = None) -> TaskRecord:
    return TaskRecord(id="task_1", title="t", assign_to="a", expectations=expectations or [],
                      expected_outcomes=outcomes or [])


async def run(tmp_path: Path, expectations: list[Any] | None = None, outcomes: list[dict[str, Any]] | None = None,
              *, result: TaskResult | None = None, threshold: float = 3.0, **kw: Any) -> Assessment:
    return await assess(make_task(expectations, outcomes), result or TaskResult(), project_dir=tmp_path,
                        threshold=threshold, **kw)


def png_bytes() -> bytes:
    """A real 1x1 grayscale PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
            + chunk(b"IEND", b""))


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SVG = b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n'


# --- test and script expectations -------------------------------------------------------------------


async def test_test_command_exiting_zero_scores_5(tmp_path: Path) -> None:
    a = await run(tmp_path, [{"type": "test", "command": py("print('ok')")}])
    assert a.criteria[0].score == 5
    assert a.criteria[0].kind == "test"


async def test_test_command_failing_scores_1_with_exit_code_and_output(tmp_path: Path) -> None:
    cmd = py("import sys; print('assertion blew up'); sys.exit(3)")
    a = await run(tmp_path, [{"type": "test", "command": cmd}])
    score = a.criteria[0]
    assert score.score == 1
    assert "exit code 3" in score.feedback
    assert "assertion blew up" in score.feedback


async def test_test_criterion_names_the_command(tmp_path: Path) -> None:
    a = await run(tmp_path, [{"type": "test", "command": "true"}])
    assert a.criteria[0].criterion == "test: true"


async def test_test_feedback_includes_stderr(tmp_path: Path) -> None:
    a = await run(tmp_path, [{"type": "test", "command": py("import sys; sys.exit('bad thing on stderr')")}])
    assert "bad thing on stderr" in a.criteria[0].feedback


async def test_command_output_in_feedback_is_the_truncated_tail(tmp_path: Path) -> None:
    cmd = py("import sys; print('x' * 20000 + 'THE-END'); sys.exit(1)")
    feedback = (await run(tmp_path, [{"type": "test", "command": cmd}])).criteria[0].feedback
    assert feedback.rstrip().endswith("THE-END")
    assert len(feedback) < 2500


async def test_script_runs_in_the_project_directory(tmp_path: Path) -> None:
    (tmp_path / "marker.txt").write_text("here")
    a = await run(tmp_path, [{"type": "script", "script": "set -e\ntest -f marker.txt\necho found"}])
    assert a.criteria[0].score == 5
    assert a.criteria[0].kind == "script"


async def test_failing_script_scores_1(tmp_path: Path) -> None:
    a = await run(tmp_path, [{"type": "script", "script": "echo checking\nexit 2"}])
    assert a.criteria[0].score == 1
    assert "exit code 2" in a.criteria[0].feedback


async def test_commands_do_not_see_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    a = await run(tmp_path, [{"type": "script", "script": 'test -z "$OPENAI_API_KEY"'}])
    assert a.criteria[0].score == 5


async def test_command_timeout_kills_and_scores_1(tmp_path: Path) -> None:
    a = await run(tmp_path, [{"type": "test", "command": "sleep 30", "timeout": 0.5}])
    assert a.criteria[0].score == 1
    assert "timed out" in a.criteria[0].feedback


async def test_command_timeout_argument_caps_the_expectation_timeout(tmp_path: Path) -> None:
    a = await run(tmp_path, [{"type": "script", "script": "sleep 30"}], command_timeout=0.5)
    assert "timed out after 0.5 s" in a.criteria[0].feedback


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    script = "(sleep 1; touch survivor.txt) &\nsleep 30"
    await run(tmp_path, [{"type": "script", "script": script, "timeout": 0.3}])
    await asyncio.sleep(1.5)
    assert not (tmp_path / "survivor.txt").exists()


# --- metrics ----------------------------------------------------------------------------------------


async def test_metrics_at_threshold_scores_5(tmp_path: Path) -> None:
    a = await run(tmp_path, [{"type": "metrics", "command": py("print(0.8)"), "threshold": 0.8}])
    assert a.criteria[0].score == 5


async def test_metrics_below_threshold_scores_1(tmp_path: Path) -> None:
    a = await run(tmp_path, [{"type": "metrics", "command": py("print(0.5)"), "threshold": 0.8}])
    assert a.criteria[0].score == 1
    assert "below the threshold 0.8" in a.criteria[0].feedback


async def test_metrics_reads_the_last_non_empty_stdout_line(tmp_path: Path) -> None:
    cmd = py("import sys; print('accuracy follows'); print('0.93'); print(); print('warn', file=sys.stderr)")
    a = await run(tmp_path, [{"type": "metrics", "command": cmd, "threshold": 0.9}])
    assert a.criteria[0].score == 5


async def test_metrics_non_number_scores_1(tmp_path: Path) -> None:
    a = await run(tmp_path, [{"type": "metrics", "command": py("print('great')"), "threshold": 0.5}])
    assert a.criteria[0].score == 1
    assert "not a finite number" in a.criteria[0].feedback


async def test_metrics_failing_command_scores_1(tmp_path: Path) -> None:
    cmd = py("import sys; print(0.99); sys.exit(1)")
    a = await run(tmp_path, [{"type": "metrics", "command": cmd, "threshold": 0.5}])
    assert a.criteria[0].score == 1
    assert "exit code 1" in a.criteria[0].feedback


# --- file_exists ------------------------------------------------------------------------------------


async def test_file_exists_passes_when_every_path_is_a_non_empty_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("b")
    a = await run(tmp_path, [{"type": "file_exists", "paths": ["a.txt", "docs/b.md", "docs"]}])
    assert a.criteria[0].score == 5


async def test_file_exists_lists_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    a = await run(tmp_path, [{"type": "file_exists", "paths": ["a.txt", "missing.txt"]}])
    assert a.criteria[0].score == 1
    assert "missing.txt does not exist" in a.criteria[0].feedback


async def test_file_exists_fails_on_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").touch()
    a = await run(tmp_path, [{"type": "file_exists", "paths": ["empty.txt"]}])
    assert a.criteria[0].score == 1
    assert "empty" in a.criteria[0].feedback


async def test_file_exists_fails_on_path_escaping_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "outside.txt").write_text("x")
    a = await run(project, [{"type": "file_exists", "paths": ["../outside.txt"]}])
    assert a.criteria[0].score == 1
    assert "not allowed" in a.criteria[0].feedback


async def test_file_exists_finds_files_in_the_output_folder(tmp_path: Path) -> None:
    (tmp_path / ".polpo" / "output").mkdir(parents=True)
    (tmp_path / ".polpo" / "output" / "report.md").write_text("# report")
    a = await run(tmp_path, [{"type": "file_exists", "paths": ["report.md"]}])
    assert a.criteria[0].score == 5


# --- outcomes: file, text, json ---------------------------------------------------------------------


async def test_file_outcome_passes_for_non_empty_file(tmp_path: Path) -> None:
    (tmp_path / "out.csv").write_text("a,b\n1,2\n")
    check = (await run(tmp_path, outcomes=[{"type": "file", "path": "out.csv"}])).checks[0]
    assert check.passed
    assert check.target == "out.csv"


async def test_file_outcome_fails_for_missing_file(tmp_path: Path) -> None:
    check = (await run(tmp_path, outcomes=[{"type": "file", "path": "out.csv"}])).checks[0]
    assert not check.passed
    assert "does not exist" in check.message


async def test_file_outcome_fails_for_empty_file(tmp_path: Path) -> None:
    (tmp_path / "out.csv").touch()
    check = (await run(tmp_path, outcomes=[{"type": "file", "path": "out.csv"}])).checks[0]
    assert not check.passed


async def test_file_outcome_without_path_fails_with_clear_message(tmp_path: Path) -> None:
    """Refused when a task is made now (test_spec.py); one stored by an earlier version says what is missing."""
    task = TaskRecord.model_validate({"id": "task_1", "title": "t", "assignTo": "a", "seq": 1, "createdAt": "x",
                                      "updatedAt": "x", "expectedOutcomes": [{"type": "file"}]}, context=STORED)
    check = (await assess(task, TaskResult(), project_dir=tmp_path, threshold=3.0)).checks[0]
    assert not check.passed
    assert "no `path`" in check.message


async def test_file_outcome_is_found_in_the_output_folder(tmp_path: Path) -> None:
    (tmp_path / ".polpo" / "output").mkdir(parents=True)
    (tmp_path / ".polpo" / "output" / "out.csv").write_text("a\n")
    check = (await run(tmp_path, outcomes=[{"type": "file", "path": "out.csv"}])).checks[0]
    assert check.passed


async def test_file_outcome_rejects_symlink_escape(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "secret.txt").write_text("s")
    (project / "out.txt").symlink_to(tmp_path / "secret.txt")
    check = (await run(project, outcomes=[{"type": "file", "path": "out.txt"}])).checks[0]
    assert not check.passed
    assert "outside the project" in check.message


async def test_text_outcome_passes_for_non_empty_content(tmp_path: Path) -> None:
    a = await run(tmp_path, outcomes=[{"type": "text"}], result=TaskResult(content="The answer is 42."))
    assert a.checks[0].passed


async def test_text_outcome_fails_for_blank_content(tmp_path: Path) -> None:
    a = await run(tmp_path, outcomes=[{"type": "text"}], result=TaskResult(content="  \n\t"))
    assert not a.checks[0].passed


async def test_text_outcome_with_path_passes_for_file_with_text(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\n")
    a = await run(tmp_path, outcomes=[{"type": "text", "path": "notes.md"}])
    assert a.checks[0].passed


async def test_text_outcome_with_path_fails_for_whitespace_file(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("\n\n   \n")
    a = await run(tmp_path, outcomes=[{"type": "text", "path": "notes.md"}])
    assert not a.checks[0].passed
    assert "no text" in a.checks[0].message


async def test_json_outcome_with_path_passes_for_valid_json(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text('{"rows": [1, 2]}')
    a = await run(tmp_path, outcomes=[{"type": "json", "path": "data.json"}])
    assert a.checks[0].passed


async def test_json_outcome_with_path_fails_for_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text('{"rows": [1, 2}')
    a = await run(tmp_path, outcomes=[{"type": "json", "path": "data.json"}])
    assert not a.checks[0].passed
    assert "line 1" in a.checks[0].message


async def test_json_outcome_passes_for_result_data(tmp_path: Path) -> None:
    a = await run(tmp_path, outcomes=[{"type": "json"}], result=TaskResult(data={"k": 1}))
    assert a.checks[0].passed


async def test_json_outcome_passes_for_json_content_in_a_code_fence(tmp_path: Path) -> None:
    content = '```json\n{"k": [1, 2]}\n```'
    a = await run(tmp_path, outcomes=[{"type": "json"}], result=TaskResult(content=content))
    assert a.checks[0].passed


async def test_json_outcome_fails_for_prose_content(tmp_path: Path) -> None:
    a = await run(tmp_path, outcomes=[{"type": "json"}], result=TaskResult(content="Here is the data: k=1"))
    assert not a.checks[0].passed
    assert "not valid JSON" in a.checks[0].message


# --- outcomes: url ----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def _answer(self, body: bool) -> None:
        if self.path == "/nohead" and self.command == "HEAD":
            self.send_response(405)
            self.end_headers()
            return
        status = 200 if self.path in ("/", "/nohead") else 404
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if body:
            self.wfile.write(b"ok")

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_url_outcome_passes_for_well_formed_url(tmp_path: Path) -> None:
    a = await run(tmp_path, outcomes=[{"type": "url", "url": "https://example.com/report?id=1"}])
    assert a.checks[0].passed


@pytest.mark.parametrize("url", ["ftp://example.com/file", "example.com", "https://", "not a url"])
async def test_url_outcome_fails_for_malformed_url(tmp_path: Path, url: str) -> None:
    a = await run(tmp_path, outcomes=[{"type": "url", "url": url}])
    assert not a.checks[0].passed
    assert "not a well-formed URL" in a.checks[0].message


async def test_url_outcome_reads_the_url_from_content(tmp_path: Path) -> None:
    result = TaskResult(content="  https://example.com/deployed\n")
    a = await run(tmp_path, outcomes=[{"type": "url"}], result=result)
    assert a.checks[0].passed
    assert a.checks[0].target == "https://example.com/deployed"


async def test_reachable_url_outcome_passes_when_server_answers(tmp_path: Path, local_server: str) -> None:
    a = await run(tmp_path, outcomes=[{"type": "url", "url": local_server + "/", "reachable": True}])
    assert a.checks[0].passed


async def test_reachable_url_outcome_falls_back_to_get(tmp_path: Path, local_server: str) -> None:
    a = await run(tmp_path, outcomes=[{"type": "url", "url": local_server + "/nohead", "reachable": True}])
    assert a.checks[0].passed


async def test_reachable_url_outcome_fails_on_404(tmp_path: Path, local_server: str) -> None:
    a = await run(tmp_path, outcomes=[{"type": "url", "url": local_server + "/missing", "reachable": True}])
    assert not a.checks[0].passed
    assert "404" in a.checks[0].message


async def test_reachable_url_outcome_fails_without_raising_when_nobody_listens(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    a = await run(tmp_path, outcomes=[{"type": "url", "url": f"http://127.0.0.1:{port}/", "reachable": True}])
    assert not a.checks[0].passed
    assert "not reachable" in a.checks[0].message


# --- outcomes: media --------------------------------------------------------------------------------


async def test_media_outcome_recognises_png(tmp_path: Path) -> None:
    (tmp_path / "chart.png").write_bytes(png_bytes())
    a = await run(tmp_path, outcomes=[{"type": "media", "path": "chart.png", "mediaType": "image/png"}])
    assert a.checks[0].passed


async def test_media_outcome_recognises_pdf(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(PDF)
    a = await run(tmp_path, outcomes=[{"type": "media", "path": "report.pdf"}])
    assert a.checks[0].passed
    assert "application/pdf" in a.checks[0].message


async def test_media_outcome_recognises_svg_after_xml_header(tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_bytes(SVG)
    a = await run(tmp_path, outcomes=[{"type": "media", "path": "logo.svg", "media_type": "image/svg+xml"}])
    assert a.checks[0].passed


async def test_media_outcome_wildcard_matches_any_image(tmp_path: Path) -> None:
    (tmp_path / "chart.png").write_bytes(png_bytes())
    a = await run(tmp_path, outcomes=[{"type": "media", "path": "chart.png", "media_type": "image/*"}])
    assert a.checks[0].passed


async def test_media_outcome_fails_on_type_mismatch(tmp_path: Path) -> None:
    (tmp_path / "chart.png").write_bytes(PDF)  # the extension lies
    a = await run(tmp_path, outcomes=[{"type": "media", "path": "chart.png", "media_type": "image/png"}])
    assert not a.checks[0].passed
    assert "application/pdf, expected image/png" in a.checks[0].message


async def test_media_outcome_fails_for_non_media_file(tmp_path: Path) -> None:
    (tmp_path / "chart.png").write_text("not really an image")
    a = await run(tmp_path, outcomes=[{"type": "media", "path": "chart.png"}])
    assert not a.checks[0].passed
    assert "not a recognised media file" in a.checks[0].message


# --- judges -----------------------------------------------------------------------------------------


async def test_sync_function_judge_runs_off_the_event_loop_thread(tmp_path: Path) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def judge(expectation: Any, task: TaskRecord, result: TaskResult) -> float:
        seen.append(threading.get_ident())
        return 4

    a = await run(tmp_path, ["is clear"], judge=FunctionJudge(judge))
    assert a.criteria[0].score == 4
    assert seen and seen[0] != loop_thread


async def test_async_function_judge_scores_with_feedback(tmp_path: Path) -> None:
    async def judge(expectation: Any, task: TaskRecord, result: TaskResult) -> tuple[float, str]:
        return 2, f"{result.content!r} does not address {expectation.criterion!r}"

    a = await run(tmp_path, ["mentions pricing"], judge=FunctionJudge(judge), result=TaskResult(content="hi"))
    assert a.criteria[0].score == 2
    assert a.criteria[0].feedback == "'hi' does not address 'mentions pricing'"
    assert a.criteria[0].criterion == "mentions pricing"


async def test_function_judge_accepts_dict_verdict(tmp_path: Path) -> None:
    judge = FunctionJudge(lambda e, t, r: {"score": 3.5, "feedback": "adequate"})
    a = await run(tmp_path, ["is adequate"], judge=judge)
    assert (a.criteria[0].score, a.criteria[0].feedback) == (3.5, "adequate")


async def test_function_judge_accepts_criterion_score_verdict(tmp_path: Path) -> None:
    judge = FunctionJudge(lambda e, t, r: CriterionScore(criterion="x", score=5, feedback="great"))
    a = await run(tmp_path, ["is great"], judge=judge)
    assert a.criteria[0].score == 5
    assert a.criteria[0].criterion == "is great"


async def test_llm_review_is_judged_once_with_its_kind(tmp_path: Path) -> None:
    calls: list[Any] = []

    def judge(expectation: Any, task: TaskRecord, result: TaskResult) -> float:
        calls.append(expectation)
        return 5

    review = {"type": "llm_review", "criterion": "code quality",
              "dimensions": [{"name": "naming", "weight": 2}, {"name": "tests"}]}
    a = await run(tmp_path, [review], judge=FunctionJudge(judge))
    assert len(calls) == 1
    assert a.criteria[0].kind == "llm_review"


async def test_judge_score_out_of_range_raises_naming_the_judge(tmp_path: Path) -> None:
    def strict_judge(expectation: Any, task: TaskRecord, result: TaskResult) -> float:
        return 10

    with pytest.raises(AssessmentConfigError, match="strict_judge"):
        await run(tmp_path, ["is correct"], judge=FunctionJudge(strict_judge))


async def test_judge_returning_a_bool_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(AssessmentConfigError, match="expected a number"):
        await run(tmp_path, ["is correct"], judge=FunctionJudge(lambda e, t, r: True, name="yes-man"))


async def test_judge_receives_the_task_and_project_dir(tmp_path: Path) -> None:
    class RecordingJudge:
        def __init__(self) -> None:
            self.requests: list[JudgeRequest] = []

        async def score(self, request: JudgeRequest) -> CriterionScore:
            self.requests.append(request)
            return CriterionScore(criterion=request.expectation.criterion, score=4)

    judge = RecordingJudge()
    await run(tmp_path, ["is correct"], judge=judge)
    assert judge.requests[0].task.id == "task_1"
    assert judge.requests[0].project_dir == tmp_path.resolve()


async def test_missing_judge_raises_config_error_before_running_commands(tmp_path: Path) -> None:
    expectations = ["is correct", {"type": "script", "script": "touch ran.txt"}]
    with pytest.raises(AssessmentConfigError, match="task 't' has criterion expectations but no judge") as info:
        await run(tmp_path, expectations)
    assert info.value.code == "BAD_REQUEST"
    assert not (tmp_path / "ran.txt").exists()


async def test_judge_error_propagates(tmp_path: Path) -> None:
    def broken(expectation: Any, task: TaskRecord, result: TaskResult) -> float:
        raise RuntimeError("model unavailable")

    with pytest.raises(RuntimeError, match="model unavailable"):
        await run(tmp_path, ["is correct", {"type": "test", "command": "sleep 5"}], judge=FunctionJudge(broken))


# --- the verdict ------------------------------------------------------------------------------------


def scores_judge() -> FunctionJudge:
    """A judge that gives each criterion the score named by its text: criterion "4" scores 4."""
    return FunctionJudge(lambda expectation, task, result: float(expectation.criterion))


async def test_score_is_the_mean_rounded_to_two_decimals(tmp_path: Path) -> None:
    a = await run(tmp_path, ["5", "4", "4"], judge=scores_judge())
    assert a.score == 4.33


async def test_passes_when_score_reaches_threshold(tmp_path: Path) -> None:
    a = await run(tmp_path, ["3"], judge=scores_judge(), threshold=3.0)
    assert a.passed


async def test_fails_when_score_is_below_threshold(tmp_path: Path) -> None:
    a = await run(tmp_path, ["5", "2"], judge=scores_judge(), threshold=4.0)
    assert a.score == 3.5
    assert not a.passed


async def test_failed_outcome_check_fails_despite_perfect_score(tmp_path: Path) -> None:
    a = await run(tmp_path, ["5"], [{"type": "file", "path": "report.md"}], judge=scores_judge())
    assert a.score == 5
    assert not a.passed


async def test_no_expectations_means_no_score_and_checks_decide(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("# done")
    a = await run(tmp_path, outcomes=[{"type": "file", "path": "report.md"}])
    assert a.score is None
    assert a.passed


async def test_assessment_records_threshold_and_timestamp(tmp_path: Path) -> None:
    a = await run(tmp_path, threshold=3.5)
    assert a.threshold == 3.5
    assert a.timestamp is not None and a.timestamp.endswith("Z")


async def test_feedback_names_the_failed_check_and_why(tmp_path: Path) -> None:
    a = await run(tmp_path, outcomes=[{"type": "file", "path": "report.md"}])
    assert "report.md" in a.feedback
    assert "does not exist" in a.feedback
    assert a.feedback.startswith("Assessment failed")


async def test_feedback_includes_low_criteria_feedback(tmp_path: Path) -> None:
    judge = FunctionJudge(lambda e, t, r: (1, "the summary omits the Q3 numbers"))
    a = await run(tmp_path, ["covers Q3"], judge=judge)
    assert "[1/5] covers Q3" in a.feedback
    assert "the summary omits the Q3 numbers" in a.feedback


async def test_results_keep_declaration_order_despite_concurrency(tmp_path: Path) -> None:
    async def slow_first(expectation: Any, task: TaskRecord, result: TaskResult) -> float:
        await asyncio.sleep(0.2 if expectation.criterion == "first" else 0)
        return 5

    expectations = ["first", {"type": "test", "command": "true"}, "third"]
    a = await run(tmp_path, expectations, judge=FunctionJudge(slow_first))
    assert [c.criterion for c in a.criteria] == ["first", "test: true", "third"]
