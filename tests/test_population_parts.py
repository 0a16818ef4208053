"""Population audits without a cluster: the command's start-up and usage errors, planning
and reading inputs, rows, and the worker plugin's checks (test_population.py runs the
audits themselves on a real LocalCluster)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

pytest.importorskip("distributed", reason="needs kneerules[dask]")  # installed by make test
pa = pytest.importorskip("pyarrow", reason="needs kneerules[parquet]")
pq = pytest.importorskip("pyarrow.parquet")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kneerules import Engine  # noqa: E402
from kneerules.knowledge.config import EngineConfig  # noqa: E402
from kneerules.model.errors import CaseError, EngineError  # noqa: E402
from kneerules.model.records import EngineInfo  # noqa: E402
from kneerules.population import inputs, rows  # noqa: E402
from kneerules.population.worker import EnginePlugin  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The default engine, built here (isolated from other modules' engines)."""
    return Engine.from_config(EngineConfig())


def write_jsonl(path: Path, cases: list[Any]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    return path


def test_eval_imports_no_audit_code_and_no_dask() -> None:
    """`kneerules eval` with the extras installed loads no population code at all: the
    integrations load only for a command the core lacks or a hook it does not define."""
    code = ("import sys; from kneerules.cli.main import main\n"
            "try:\n    main(['eval', 'examples/dvt-same-day.json'])\n"
            "except SystemExit:\n    pass\n"
            "heavy = ['dask', 'distributed', 'pyarrow', 'pandas', 'kneerules.population.run',"
            " 'kneerules.population.worker', 'kneerules.population.inputs']\n"
            "print([m for m in heavy if m in sys.modules], "
            "'kneerules.population.commands' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip().splitlines()[-1] == "[] False"


@pytest.mark.parametrize(("module", "extra"), [("distributed", "dask"), ("pyarrow", "parquet")])
def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str,
                                  extra: str) -> None:
    """Without the extra, audit says which one to install (usage error, no traceback)."""
    import importlib.util

    from click.testing import CliRunner

    from kneerules.cli.main import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == module else real(name, *a))
    jsonl = write_jsonl(tmp_path / "cases.jsonl", [{"findings": {}}])
    result = CliRunner().invoke(main, ["audit", str(jsonl), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"pip install '.[{extra}]' in a clone" in result.output


@pytest.mark.parametrize(("argv", "message"), [
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers sizes the cluster"),
    (["--at", "2026-01-01T00:00:00"], "give the time zone too"),
    (["--at", "yesterday"], "expected an ISO 8601 date and time"),
])
def test_usage_errors(tmp_path: Path, argv: list[str], message: str) -> None:
    """Options that cannot work together, or a bad --at, are usage errors (exit 2)."""
    from click.testing import CliRunner

    from kneerules.cli.main import main

    jsonl = write_jsonl(tmp_path / "cases.jsonl", [{"findings": {}}])
    result = CliRunner().invoke(main, ["audit", str(jsonl), "--out", str(tmp_path), *argv])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(("column", "kind", "message"), [
    ("pain.calff", pa.bool_(), 'column \'pain.calff\' is not a case field, finding or '
     'measurement (did you mean "pain.calf"?)'),
    ("pain.calf", pa.int64(), "column 'pain.calf' holds int64; expected booleans"),
    ("patient.age", pa.string(), "column 'patient.age' holds string; expected integers"),
])
def test_a_bad_parquet_column_refuses_the_input(engine: Engine, tmp_path: Path, column: str,
                                                kind: Any, message: str) -> None:
    """A column that no case has, or of the wrong type, is refused before any work."""
    path = tmp_path / "cases.parquet"
    pq.write_table(pa.table({column: pa.array([None], type=kind)}), path)
    with pytest.raises(inputs.InputError) as raised:
        inputs.plan([path], 10, engine.vocabulary)
    assert message in str(raised.value)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")),
                      max_size=40),
       size=st.integers(1, 9), final_newline=st.booleans())
def test_jsonl_partitions_cover_every_line_once(tmp_path_factory: pytest.TempPathFactory,
                                                lines: list[bytes], size: int,
                                                final_newline: bool) -> None:
    """Partitions read back every line once, in order, numbered as eval --jsonl numbers them."""
    path = tmp_path_factory.mktemp("plan") / "cases.jsonl"
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    path.write_bytes(data)
    parts = inputs.plan([path], size, {})
    found = [item for part in parts for item in inputs.read(part, {})]
    assert {where for where, _, _ in found} <= {str(path.resolve())}
    read = [(position, item) for _, position, item in found]
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    assert read == list(enumerate(expected, start=1))
    assert all(part.stop - part.start >= 0 for part in parts)


def test_a_worker_with_other_versions_refuses(engine: Engine) -> None:
    """A worker whose engine differs from the client's fails to start its engine, clearly."""

    class Worker:
        address = "tcp://127.0.0.1:1"

    wrong = EngineInfo("0.0.0", engine.info.ruleset, engine.info.ruleset_version,
                       engine.info.plugins)
    plugin = EnginePlugin((EngineConfig(),), (wrong,))
    with pytest.raises(EngineError, match=r"built kneerules .* not the client's kneerules 0\.0\.0"):
        plugin.setup(Worker())  # type: ignore[arg-type]
    assert plugin.engines == ()


def test_the_client_sends_recipes_never_an_engine(engine: Engine) -> None:
    """The worker plugin pickles as engine recipes (no Engine, no compiled rules inside)."""
    import pickle
    import pickletools

    plugin = EnginePlugin((attrs.evolve(engine.config, ruleset=engine.ruleset),),
                          (engine.info,))
    pickled = pickle.dumps(plugin)
    globals_named = {str(arg) for op, arg, _ in pickletools.genops(pickled)
                     if op.name in ("GLOBAL", "STACK_GLOBAL", "SHORT_BINUNICODE", "BINUNICODE")}
    assert "Engine" not in globals_named
    assert not any("_durable" in name for name in globals_named)
    assert pickle.loads(pickled).engines == ()


@pytest.mark.parametrize(("row", "case"), [
    ({"pain.calf": None, "pain.sharp": False, "sign.fever": True},
     {"findings": {"pain.sharp": False, "sign.fever": True}}),
    ({"case_id": "a", "patient.age": 40, "patient.sex": None, "onset": "sudden",
      "temperature_c": 38.5, "calf_swelling_cm": None},
     {"case_id": "a", "patient": {"age": 40}, "onset": "sudden", "findings": {},
      "measurements": {"temperature_c": 38.5}}),
    ({"patient.age": None, "pain.calf": None}, {"findings": {}}),
])
def test_a_parquet_null_is_unknown_never_false(engine: Engine, row: dict[str, Any],
                                               case: dict[str, Any]) -> None:
    """A Parquet row's nulls are left out of its case (unknown); false stays false."""
    assert inputs.row_case(row, engine.vocabulary) == case


@pytest.mark.parametrize(("age", "band"), [
    (0, "0-17"), (17, "0-17"), (18, "18-39"), (59, "40-59"), (60, "60-79"), (80, "80+"),
    (120, "80+"), (None, "unknown"), (True, "unknown"),
])
def test_age_bands(age: object, band: str) -> None:
    """Age bands of the report: whole years, unknown when the case has no age."""
    assert rows.age_band(age) == band


def test_error_rows_keep_every_problem() -> None:
    """An error row lists each problem with its path."""
    from kneerules.model.errors import Problem

    error = CaseError([Problem("$.a", "x"), Problem("$.b", "y")])
    info = rows.engine_columns(Engine.from_config(EngineConfig()).info)
    row = rows.error_row(("f", 3), "id", error, info)
    assert row["problems"] == ["$.a: x", "$.b: y"]
    assert row["status"] == "error"


@pytest.mark.parametrize(("done", "total", "workers", "now", "line"), [
    (0, 4000, 2, 1.0, "[------------------------------] 0/4000 cases, 0/s, 2 workers"),
    (1000, 4000, 2, 2.0,
     "[#######-----------------------] 1000/4000 cases, 500/s, 6 s left, 2 workers"),
    (1000, 100_000, 16, 1.0,
     "[------------------------------] 1000/100000 cases, 1,000/s, 1 min 39 s left, "
     "16 workers"),
    (4000, 4000, 1, 4.0, "[##############################] 4000/4000 cases, 1,000/s, 1 worker"),
    (250, None, None, 0.5, "250 cases, 500/s"),
])
def test_the_progress_line(done: int, total: int | None, workers: int | None, now: float,
                           line: str) -> None:
    """eval --jsonl's progress line, which the audit shares: bar, cases, rate, time left
    (while cases remain), workers."""
    from kneerules.batch.jsonl import Progress

    progress = Progress(io.StringIO(), total)
    progress.started, progress.done, progress.workers = 0.0, done, workers
    assert progress.text(now) == line
