"""Batch evaluation: Engine.evaluate_many and ``kneerules eval --jsonl`` match one-by-one
evaluation, in order, and a bad case does not stop a batch."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kneerules import CaseError, Engine, to_dict
from kneerules.batch.jsonl import assess_lines, write_lines
from kneerules.batch.pool import evaluate_many
from kneerules.cli.main import main
from kneerules.model.records import Assessment

ROOT = Path(__file__).resolve().parent.parent
VIGNETTES = ROOT.parent / "shared" / "vignettes" / "public"


def _cases() -> list[dict[str, Any]]:
    paths = sorted(VIGNETTES.glob("*.json")) if VIGNETTES.is_dir() else []
    cases = [json.loads(p.read_text(encoding="utf-8"))["case"] for p in paths]
    cases += [json.loads(p.read_text(encoding="utf-8"))
              for p in sorted((ROOT / "examples").glob("*.json"))]
    return cases


CASES = _cases()
BAD_LINES = {
    3: '{"findings": {"pain.behnd_knee": true}, "case_id": "typo"}',
    5: "not json at all",
    6: "",
}


@pytest.fixture(scope="module")
def one_by_one(engine: Engine) -> list[dict[str, Any]]:
    """Every case's assessment, evaluated one at a time."""
    return [to_dict(engine.evaluate(case)) for case in CASES]


def _jsonl(cases: list[dict[str, Any]]) -> list[str]:
    lines = [json.dumps(case) for case in cases]
    for number, text in sorted(BAD_LINES.items()):
        lines.insert(number - 1, text)
    return lines


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_evaluate_many_equals_one_by_one(engine: Engine, one_by_one: list[dict[str, Any]],
                                         method: str) -> None:
    """Two worker processes give the one-by-one assessments, in input order."""
    results = list(evaluate_many(engine, CASES, jobs=2, chunksize=4, method=method))
    assert all(isinstance(r, Assessment) for r in results)
    assert [to_dict(r) for r in results] == one_by_one  # type: ignore[union-attr]


def test_engine_method_in_process(engine: Engine, one_by_one: list[dict[str, Any]]) -> None:
    """Engine.evaluate_many with jobs=1 accepts dicts and JSON text and keeps the order."""
    mixed = [json.dumps(c) if i % 2 else c for i, c in enumerate(CASES)]
    results = list(engine.evaluate_many(mixed, jobs=1))
    assert [to_dict(r) for r in results] == one_by_one  # type: ignore[union-attr]


def test_bad_case_yields_its_error_in_place(engine: Engine) -> None:
    """An invalid case yields its CaseError, with its problems, and the batch goes on."""
    cases: list[Any] = [*CASES[:9], {"findings": {"pain.behnd_knee": True}}, *CASES[9:18]]
    results = list(engine.evaluate_many(cases, jobs=2, chunksize=3))
    assert len(results) == len(cases)
    error = results[9]
    assert isinstance(error, CaseError)
    assert error.problems[0].path == '$.findings["pain.behnd_knee"]'
    assert "pain.behind_knee" in error.problems[0].message
    assert all(isinstance(r, Assessment) for i, r in enumerate(results) if i != 9)
    assert results[10].case_id == CASES[9].get("case_id")  # type: ignore[union-attr]


def test_jsonl_lines_match_and_bad_lines_become_records(
        engine: Engine, one_by_one: list[dict[str, Any]]) -> None:
    """JSON Lines output has one line per input line: assessments, and error records."""
    lines = [t.encode() + b"\n" for t in _jsonl(CASES)]
    out = list(assess_lines(engine, lines, jobs=2, chunksize=4))
    assert len(out) == len(lines)
    records = [json.loads(text) for text, _ in out]
    errors = {r["line"]: r for r in records if "error" in r}
    assert sorted(errors) == sorted(BAD_LINES)
    assert [ok for _, ok in out] == ["error" not in r for r in records]
    assert errors[3]["case_id"] == "typo"
    assert errors[3]["error"]["problems"][0]["path"] == '$.findings["pain.behnd_knee"]'
    assert errors[5]["error"]["problems"][0]["message"].startswith("invalid JSON")
    assert [r for r in records if "error" not in r] == one_by_one


def test_cli_jsonl_streams_in_order_and_exits_1_on_a_bad_line(
        tmp_path: Path, one_by_one: list[dict[str, Any]]) -> None:
    """`kneerules eval --jsonl FILE --jobs 2` prints every line and exits 1 for a bad one."""
    source = tmp_path / "cases.jsonl"
    source.write_text("\n".join(_jsonl(CASES)) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", "--jsonl", str(source), "--jobs", "2"])
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("line") for r in records if "error" in r] == sorted(BAD_LINES)
    assert [r for r in records if "error" not in r] == one_by_one


def test_cli_jsonl_from_stdin_one_job(one_by_one: list[dict[str, Any]]) -> None:
    """`--jsonl -` reads standard input and, with only valid cases, exits 0."""
    text = "".join(json.dumps(c) + "\n" for c in CASES[:5])
    result = CliRunner().invoke(main, ["eval", "--jsonl", "-", "--jobs", "1"], input=text)
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == one_by_one[:5]


@pytest.mark.parametrize("extra", [["examples/dvt-same-day.json"], ["--explain"],
                                   ["--format", "text"]])
def test_cli_jsonl_refuses_options_it_cannot_honour(extra: list[str]) -> None:
    """--jsonl with a CASE, --explain or --format text is a usage error (exit 2)."""
    result = CliRunner().invoke(main, ["eval", "--jsonl", "-", *extra], input="")
    assert result.exit_code == 2
    assert "--jsonl" in result.output


def test_cli_eval_without_case_or_jsonl_is_a_usage_error() -> None:
    """`kneerules eval` with neither CASE nor --jsonl says what is missing."""
    result = CliRunner().invoke(main, ["eval"])
    assert result.exit_code == 2
    assert "CASE" in result.output


def test_cli_jsonl_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    """A --jsonl file that does not exist is named in a usage error, with no traceback."""
    result = CliRunner().invoke(main, ["eval", "--jsonl", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("target", ["file", "bytesio"])
def test_spooled_jsonl_output_is_the_one_process_output(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """With workers, each chunk's lines go through a spool file and reach the output (by
    sendfile to a file, copied to a BytesIO) byte for byte as one process writes them, in
    order; the spool folder is gone afterwards."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "spool"))
    (tmp_path / "spool").mkdir()
    lines = [t.encode() + b"\n" for t in _jsonl(CASES)]
    expected = b"".join(line for line, _ in assess_lines(engine, lines, jobs=1))
    expected_oks = [ok for _, ok in assess_lines(engine, lines, jobs=1)]
    if target == "file":
        with open(tmp_path / "out.jsonl", "wb") as out:
            oks = list(write_lines(engine, lines, out, jobs=2, chunksize=4))
        written = (tmp_path / "out.jsonl").read_bytes()
    else:
        buffer = io.BytesIO()
        oks = list(write_lines(engine, lines, buffer, jobs=2, chunksize=4))
        written = buffer.getvalue()
    assert written == expected
    assert oks == expected_oks
    assert not all(oks)
    assert list((tmp_path / "spool").iterdir()) == []
