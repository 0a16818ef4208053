"""Population audits on a real Dask LocalCluster (2 workers x 1 thread, one per module).

The cluster is the one ``kneerules audit`` starts (kneerules.population.run.local_cluster);
tests that need no cluster are in test_population_parts.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="needs kneerules[dask]")  # installed by make test
pa = pytest.importorskip("pyarrow", reason="needs kneerules[parquet]")
pq = pytest.importorskip("pyarrow.parquet")

from distributed import Client  # noqa: E402

from kneerules import Engine  # noqa: E402
from kneerules.knowledge.config import EngineConfig  # noqa: E402
from kneerules.model.errors import EngineError  # noqa: E402
from kneerules.population import audit, inputs  # noqa: E402
from kneerules.population.run import local_cluster  # noqa: E402
from kneerules.population.synthetic import synthetic_cases  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NEXT_RULESET = ROOT / "tests" / "data" / "rulesets" / "posterior-knee-next.yaml"
MALLOC = "MALLOC_TRIM_THRESHOLD_"


def vignette_cases() -> list[dict[str, Any]]:
    return [json.loads(p.read_text())["case"] for p in sorted((ROOT / "tests" / "vignettes")
                                                             .glob("*.json"))]


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The default engine, built here (isolated from other modules' engines)."""
    return Engine.from_config(EngineConfig())


@pytest.fixture(scope="module")
def population(engine: Engine) -> list[dict[str, Any]]:
    """600 made-up cases: the vignettes with findings added at random, and random ones."""
    return list(synthetic_cases(engine.vocabulary, 600, seed=15, base=vignette_cases()))


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The cluster `kneerules audit` starts, 2 workers x 1 thread; its scheduler address.

    The variable is set here first, as an earlier nanny in this process would leave it:
    the cluster must still start its workers without it."""
    os.environ[MALLOC] = "65536"
    with local_cluster(2) as started:
        yield started.scheduler_address


def write_jsonl(path: Path, cases: list[Any]) -> Path:
    path.write_text("".join((c if isinstance(c, str) else json.dumps(c)) + "\n" for c in cases))
    return path


def write_parquet(path: Path, cases: list[dict[str, Any]], engine: Engine,
                  row_group_size: int = 250) -> Path:
    """One column per finding and measurement (null where the case does not say)."""
    columns: dict[str, list[Any]] = {name: [] for name in inputs.CASE_FIELDS}
    types = {"patient.age": pa.int64()}
    for name, spec in sorted(engine.vocabulary.items()):
        if spec.kind in ("finding", "measurement"):
            columns[name] = []
            types[name] = pa.bool_() if spec.kind == "finding" else pa.float64()
    for case in cases:
        patient = case.get("patient") or {}
        values = {"case_id": case.get("case_id"), "patient.age": patient.get("age"),
                  "patient.sex": patient.get("sex"), "onset": case.get("onset"),
                  "side": case.get("side"), **case.get("findings", {}),
                  **case.get("measurements", {})}
        for name, column in columns.items():
            column.append(values.get(name))
    schema = pa.schema([pa.field(n, types.get(n, pa.string())) for n in columns])
    pq.write_table(pa.table(columns, schema=schema), path, row_group_size=row_group_size)
    return path


def expected_row(engine: Engine, case: Mapping[str, Any]) -> dict[str, Any]:
    """What a row must say, read straight off Engine.evaluate for this one case."""
    assessment = engine.evaluate(case)
    level = assessment.triage.level
    return {
        "case_id": assessment.case_id, "status": "assessed", "level": level,
        "timeframe": getattr(assessment.triage, "timeframe", None)
        or {"emergency": "now", "urgent": "within_48_hours", "routine": "routine"}[level],
        "red_flags": [f.id for f in assessment.red_flags],
        "leading_condition": assessment.differential[0].condition
        if assessment.differential else None,
        "engine_version": assessment.engine.version,
        "ruleset_version": assessment.engine.ruleset_version,
    }


def row_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("case_id", "status", "level", "timeframe", "red_flags",
                                      "leading_condition", "engine_version", "ruleset_version")}


@pytest.fixture(scope="module")
def audits(cluster: str, engine: Engine, population: list[dict[str, Any]],
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same population audited from JSON Lines (with bad lines) and from Parquet."""
    folder = tmp_path_factory.mktemp("population")
    lines: list[Any] = [*population[:300], *BAD_LINES, *population[300:]]
    jsonl = write_jsonl(folder / "cases.jsonl", lines)
    parquet = write_parquet(folder / "cases.parquet", population, engine)
    return {
        "lines": lines,
        "jsonl": audit([jsonl], folder / "from-jsonl", scheduler=cluster, partition_size=97),
        "parquet": audit([parquet], folder / "from-parquet", scheduler=cluster,
                         partition_size=120, output_format="jsonl"),
    }


BAD_LINES: list[Any] = [
    "{not json",
    "",
    {"case_id": "bad-age", "patient": {"age": 150}, "findings": {"pain.calf": True}},
    {"case_id": "bad-finding", "findings": {"pain.calff": True}},
    {"case_id": "bad-value", "findings": {"pain.calf": "yes"}},
]


def test_jsonl_rows_equal_evaluate_one_by_one(audits: dict[str, Any], engine: Engine) -> None:
    """Every good line of the JSON Lines input has the row Engine.evaluate gives it."""
    got = list(audits["jsonl"].rows())
    assert [r["position"] for r in got] == list(range(1, len(audits["lines"]) + 1))
    for line, row in zip(audits["lines"], got, strict=True):
        if isinstance(line, dict) and not line["case_id"].startswith("bad"):
            assert row_view(row) == expected_row(engine, line)


def test_parquet_rows_equal_evaluate_one_by_one(audits: dict[str, Any], engine: Engine,
                                                population: list[dict[str, Any]]) -> None:
    """Each Parquet row (nulls left unknown, never false) is assessed as its case is."""
    got = list(audits["parquet"].rows())
    assert [r["position"] for r in got] == list(range(1, len(population) + 1))
    assert [row_view(r) for r in got] == [expected_row(engine, c) for c in population]


@pytest.mark.parametrize(("offset", "case_id", "problem"), [
    (0, None, "$: invalid JSON"),
    (1, None, "$: "),
    (2, "bad-age", "$.patient.age: expected a whole number from 0 to 120"),
    (3, "bad-finding", 'did you mean "pain.calf"?'),
    (4, "bad-value", '$.findings["pain.calf"]'),
])
def test_bad_lines_become_error_rows(audits: dict[str, Any], offset: int, case_id: str | None,
                                     problem: str) -> None:
    """A bad line is an error row naming the JSON path, where the case would have been."""
    row = list(audits["jsonl"].rows())[300 + offset]
    assert (row["status"], row["case_id"], row["level"]) == ("error", case_id, None)
    assert any(problem in text for text in row["problems"]), row["problems"]


def test_summary_counts_the_errors_and_the_rest(audits: dict[str, Any]) -> None:
    """The rest of the population goes on: the summary counts both."""
    summary = audits["jsonl"].summary
    assert (summary["cases"], summary["errors"]) == (len(audits["lines"]), len(BAD_LINES))
    assert summary["assessed"] == sum(summary["timeframe"].values())


IPS_EXAMPLES = ROOT / ".cache" / "fhir" / "hl7.fhir.uv.ips-2.0.0" / "package" / "example"
AT = datetime(2026, 6, 1, tzinfo=UTC)
OTHER_PATIENT = {"resourceType": "Bundle", "id": "mixed", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "id": "p1"}},
    {"resource": {"resourceType": "Observation", "id": "o1", "status": "final",
                  "subject": {"reference": "Patient/p2"}, "code": {"text": "x"}}}]}


def vignette_bundle(engine: Engine, case: dict[str, Any], number: int) -> dict[str, Any]:
    """A vignette as a FHIR Bundle: the QuestionnaireResponse kneerules publishes, filled in."""
    from kneerules.fhir import case_to_response

    response = case_to_response(engine.parse(case), engine.vocabulary,
                                subject=f"Patient/v{number}", authored="2026-05-31T10:00:00Z")
    return {"resourceType": "Bundle", "id": f"v{number}", "type": "collection",
            "entry": [{"resource": response}]}


@pytest.fixture(scope="module")
def fhir_audit(cluster: str, engine: Engine, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[list[Any], Any]:
    """The official IPS example Bundles (one file each) and the vignettes as Bundles (one
    per line, with bad lines), audited at a fixed index time."""
    if not IPS_EXAMPLES.is_dir():  # a setup mistake, said loudly (make test fetches them)
        raise RuntimeError(f"no FHIR examples in {IPS_EXAMPLES}: run `make fhir-examples`")
    files = sorted(IPS_EXAMPLES.glob("Bundle-*.json"))
    lines: list[Any] = [vignette_bundle(engine, case, n)
                        for n, case in enumerate(vignette_cases(), start=1)]
    lines[3:3] = ["{not json", OTHER_PATIENT, [1, 2]]
    folder = tmp_path_factory.mktemp("fhir")
    bundles = write_jsonl(folder / "bundles.fhir.jsonl", lines)
    result = audit([*files, bundles], folder / "out", scheduler=cluster, at=AT,
                   partition_size=4)
    inputs_in_order = [(str(f), 1, json.loads(f.read_text())) for f in files]
    inputs_in_order += [(str(bundles), n, line) for n, line in enumerate(lines, start=1)]
    return inputs_in_order, result


def test_fhir_bundles_give_the_assessments_of_evaluate_fhir(fhir_audit: tuple[list[Any], Any],
                                                             engine: Engine) -> None:
    """Each Bundle's row is what Engine.evaluate_fhir says at the same index time; a Bundle
    that is refused (another patient's record, not JSON) is an error row with its path."""
    given, result = fhir_audit
    got = list(result.rows())
    assert [(r["input"], r["position"]) for r in got] == [(i, n) for i, n, _ in given]
    levels = set()
    for (_, _, bundle), row in zip(given, got, strict=True):
        if isinstance(bundle, str) or bundle is OTHER_PATIENT or isinstance(bundle, list):
            assert row["status"] == "error"
            continue
        expected = expected_row(engine, engine.read("fhir", bundle, at=AT)[0])
        assert row_view(row) == expected
        assert expected["case_id"] == engine.evaluate_fhir(bundle, at=AT).case_id
        levels.add(row["level"])
    assert levels == {"emergency", "urgent", "routine"}
    refused = next(r for r in got if r["case_id"] == "Bundle/mixed")
    assert refused["problems"] == ["$.entry[1].resource.subject.reference: 'Patient/p2' is "
                                   "another patient than Patient/p1: refused"]
    assert result.summary["fhir_index_time"] == AT.isoformat()
    assert result.summary["errors"] == 3


def test_bad_parquet_rows_become_error_rows(cluster: str, engine: Engine, tmp_path: Path) -> None:
    """A Parquet row with an impossible value is an error row naming its column."""
    cases = [{"case_id": "ok", "findings": {"pain.calf": True}},
             {"case_id": "old", "patient": {"age": 130}, "findings": {"pain.calf": True}},
             {"case_id": "hot", "findings": {}, "measurements": {"temperature_c": 50.0}}]
    parquet = write_parquet(tmp_path / "cases.parquet", cases, engine)
    got = list(audit([parquet], tmp_path / "out", scheduler=cluster).rows())
    assert [r["status"] for r in got] == ["assessed", "error", "error"]
    assert got[1]["problems"][0].startswith("column 'patient.age': ")
    assert got[2]["problems"][0].startswith("column 'temperature_c': ")


def test_malloc_trim_threshold_is_absent_in_workers(cluster: str, audits: dict[str, Any]
                                                    ) -> None:
    """Workers start without MALLOC_TRIM_THRESHOLD_ (glibc reads it at process start)."""
    with Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
    assert len(pids) == 2
    for pid in pids.values():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not any(entry.startswith(MALLOC.encode() + b"=") for entry in environ)
    assert audits["jsonl"].summary["workers"] == {"count": 2, "with_malloc_trim_threshold": 0}


class _Figures(HTMLParser):
    """Every cell of report.html that carries data-figure, read back as the summary."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[tuple[str, ...], str] = {}
        self.tags: list[str] = []
        self._open: tuple[str, ...] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        for name, value in attrs:
            assert not (name in ("src", "href") and value), f"{tag} {name}={value}"
        if "data-figure" in values:
            self._open = tuple(str(values[k]) for k in ("data-figure", "data-band", "data-key")
                               if k in values)

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.figures[self._open] = data
            self._open = None


def summary_figures(summary: Mapping[str, Any]) -> dict[tuple[str, ...], str]:
    """The figures the report must show, taken from summary.json."""
    want = {(key,): str(summary[key]) for key in ("cases", "assessed", "errors")}
    want[("errors-count",)] = str(summary["errors"])
    for section in ("timeframe", "red_flags", "must_not_miss"):
        want.update({(section, k): str(n) for k, n in summary[section].items()})
    for band, counts in summary["leading_condition_by_age_band"].items():
        want.update({("leading_condition_by_age_band", band, k): str(n)
                     for k, n in counts.items()})
    for engine in summary["engines"]:
        key = f"{engine['ruleset']} {engine['ruleset_version']}"
        want[("engines", key)] = str(engine["cases"])
    if "compare" in summary:
        other = summary["compare"]
        want[("compare.changed",)] = str(other["changed"])
        want.update({("compare.timeframe", k): str(other["timeframe"].get(k, 0))
                     for k in summary["timeframe"]})
        want.update({("compare.timeframe_changes", f"{t['from']} -> {t['to']}"): str(t["cases"])
                     for t in other["timeframe_changes"]})
        for engine in other["engines"]:
            key = f"{engine['ruleset']} {engine['ruleset_version']}"
            want[("compare.engines", key)] = str(engine["cases"])
    return want


@pytest.mark.parametrize("which", ["jsonl", "parquet"])
def test_report_figures_equal_the_summary(audits: dict[str, Any], which: str) -> None:
    """report.html shows exactly summary.json's figures, with no script and nothing fetched."""
    result = audits[which]
    assert json.loads((result.out / "summary.json").read_text()) == result.summary
    parser = _Figures()
    parser.feed(result.report.read_text())
    assert parser.figures == summary_figures(result.summary)
    assert "script" not in parser.tags
    assert "svg" in parser.tags


@pytest.fixture(scope="module")
def compared(cluster: str, population: list[dict[str, Any]],
             tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`kneerules audit --compare` of the population against a next rule set, on the CLI."""
    folder = tmp_path_factory.mktemp("compare")
    jsonl = write_jsonl(folder / "cases.jsonl", population)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "kneerules"), "audit", str(jsonl), "--out",
         str(folder / "out"), "--scheduler", cluster, "--compare", str(NEXT_RULESET),
         "--format", "jsonl"], capture_output=True, text=True, check=False, timeout=300)
    return folder / "out", done


def test_compare_lists_every_changed_case(compared: tuple[Path, Any], engine: Engine,
                                          population: list[dict[str, Any]]) -> None:
    """Exactly the cases whose timeframe or leading condition differs are listed."""
    out, done = compared
    assert done.returncode == 0, done.stderr
    other = Engine.from_config(EngineConfig(NEXT_RULESET))
    want = []
    for number, case in enumerate(population, start=1):
        mine, theirs = expected_row(engine, case), expected_row(other, case)
        if (mine["timeframe"], mine["leading_condition"]) != \
                (theirs["timeframe"], theirs["leading_condition"]):
            want.append((number, mine["leading_condition"], theirs["leading_condition"]))
    changes = [json.loads(line) for part in sorted((out / "changes").glob("part-*"))
               for line in part.read_text().splitlines()]
    got = [(c["position"], c["leading_condition"], c["other_leading_condition"])
           for c in changes]
    assert want, "the next rule set drops bakers_cyst: some cases change"
    assert got == want
    summary = json.loads((out / "summary.json").read_text())
    assert summary["compare"]["changed"] == len(want)
    assert f"{len(want)} cases change" in done.stdout


def test_compare_report_lists_the_changes(compared: tuple[Path, Any]) -> None:
    """The report's comparison shows the summary's figures and a row per changed case."""
    out, _ = compared
    summary = json.loads((out / "summary.json").read_text())
    parser = _Figures()
    html = (out / "report.html").read_text()
    parser.feed(html)
    assert parser.figures == summary_figures(summary)
    listed = [json.loads(line) for part in sorted((out / "changes").glob("part-*"))
              for line in part.read_text().splitlines()]
    assert html.count("<tr data-change=") == summary["compare"]["changed"] == len(listed)
    for change in listed:
        assert f'<tr data-change="{change["input"]}:{change["position"]}">' in html


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
        cluster: str, engine: Engine, tmp_path: Path) -> None:
    """SIGKILL one worker while partitions run: every case is in the output exactly once."""
    cases = list(synthetic_cases(engine.vocabulary, 4000, seed=7))
    jsonl = write_jsonl(tmp_path / "cases.jsonl", cases)
    out = tmp_path / "out"
    with Client(cluster, set_as_default=False) as client:
        before = client.run(os.getpid)
    finished: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: finished.update(
        result=audit([jsonl], out, scheduler=cluster, partition_size=100)))
    runner.start()
    deadline = time.monotonic() + 120
    while not list((out / "assessments").glob("part-*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    victim = sorted(before.values())[0]
    os.kill(victim, signal.SIGKILL)
    assert runner.is_alive(), "the audit ended before a worker could be killed"
    runner.join(timeout=300)
    with Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        after = client.run(os.getpid)
    assert victim not in after.values()
    got = list(finished["result"].rows())
    assert [r["position"] for r in got] == list(range(1, len(cases) + 1))
    assert [r["case_id"] for r in got] == [c["case_id"] for c in cases]
    assert finished["result"].summary["cases"] == len(cases)


@pytest.mark.parametrize("stop", ["ctrl-c", "kill"])
def test_ctrl_c_stops_the_cluster_it_started(engine: Engine, tmp_path: Path, stop: str) -> None:
    """Ctrl-C (SIGINT to the process group) or `kill` (SIGTERM to the command) stops the
    audit and every process it started."""
    psutil = pytest.importorskip("psutil")
    cases = list(synthetic_cases(engine.vocabulary, 30_000, seed=3))
    jsonl = write_jsonl(tmp_path / "cases.jsonl", cases)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "kneerules"), "audit", str(jsonl), "--out",
         str(out), "--workers", "2", "--partition-size", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((out / "assessments").glob("part-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = psutil.Process(process.pid).children(recursive=True)
    assert len(started) >= 2, "the audit started its worker processes"
    if stop == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    _gone, alive = psutil.wait_procs(started, timeout=10)
    assert alive == []
    assert not (out / "summary.json").exists()


def test_a_partition_that_fails_names_its_input(cluster: str, engine: Engine,
                                                tmp_path: Path) -> None:
    """A partition a worker cannot read fails the audit with an error naming the input."""
    from kneerules.population import run

    gone = inputs.Partition(0, "jsonl", str(tmp_path / "gone.jsonl"), 0, 10, 1)
    with Client(cluster, set_as_default=False) as client:
        started = run._start_engines(client, [engine])
        try:
            with pytest.raises(EngineError, match=r"gone\.jsonl from line 1: .*No such file"):
                run._run(client, [gone], started.plugin, tmp_path / "out", "jsonl")
        finally:
            client.unregister_worker_plugin(started.plugin)
