"""Population audits on a real Dask LocalCluster (2 workers x 1 thread, one per module).

The cluster is the one ``kneerules audit`` starts (kneerules.population.run.local_cluster);
tests that need no cluster are in test_population_parts.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from html import escape
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
from kneerules.population.run import OutputNotEmpty, local_cluster  # noqa: E402
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
        case = engine.read("fhir", bundle, at=AT)[0]
        expected = expected_row(engine, case)
        assert row_view(row) == expected
        if case.findings.get("pain.behind_knee") is True:  # else evaluate_fhir: NotTriaged
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
    """Every element of report.html that carries data-figure, read back as the summary
    (its data-value), and every tag and link of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[tuple[str, ...], str] = {}
        self.tags: list[str] = []
        self.scripts_with_src: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        for name, value in attrs:
            # Nothing fetched: no source, stylesheet or image; links only within the page.
            assert not (name == "src" and value), f"{tag} {name}={value}"
            assert not (name == "href" and not (value or "").startswith("#")), \
                f"{tag} {name}={value}"
        if "data-figure" in values:
            key = tuple(str(values[k]) for k in ("data-figure", "data-band", "data-key")
                        if k in values)
            self.figures[key] = str(values["data-value"])


def summary_figures(summary: Mapping[str, Any]) -> dict[tuple[str, ...], str]:
    """The figures the report must show, taken from summary.json."""
    want = {(key,): str(summary[key]) for key in ("cases", "assessed", "errors")}
    want[("errors-count",)] = str(summary["errors"])
    sides = [("", summary)]
    if "compare" in summary:
        sides.append(("compare.", summary["compare"]))
        other = summary["compare"]
        want[("compare.changed",)] = str(other["changed"])
        want[("compare.errors",)] = str(other["errors"])
        want.update({("compare.timeframe_changes", f"{t['from']} -> {t['to']}"): str(t["cases"])
                     for t in other["timeframe_changes"]})
    for prefix, side in sides:
        for section in ("level", "timeframe", "red_flags", "must_not_miss", "level_rules"):
            keys = set(side[section])
            if prefix:  # side by side: every key of either release, 0 where it has none
                keys |= set(summary[section])
            want.update({(prefix + section, k): str(side[section].get(k, 0)) for k in keys})
        for band, counts in side["leading_condition_by_age_band"].items():
            want.update({(prefix + "leading_condition_by_age_band", band, k): str(n)
                         for k, n in counts.items()})
        for engine in side["engines"]:
            key = f"{engine['ruleset']} {engine['ruleset_version']}"
            want[(prefix + "engines", key)] = str(engine["cases"])
    return want


@pytest.mark.parametrize("which", ["jsonl", "parquet"])
def test_report_figures_equal_the_summary(audits: dict[str, Any], which: str) -> None:
    """report.html shows exactly summary.json's figures, its script inline, nothing fetched."""
    result = audits[which]
    assert json.loads((result.out / "summary.json").read_text()) == result.summary
    parser = _Figures()
    parser.feed(result.report.read_text())
    assert parser.figures == summary_figures(result.summary)
    assert "svg" not in parser.tags, "bars are HTML: no SVG text to clip"


def test_summary_says_when_the_audit_ran_and_how_long(audits: dict[str, Any]) -> None:
    """summary.json carries the start time (UTC) and the duration; the report shows both."""
    summary = audits["jsonl"].summary
    started = datetime.fromisoformat(summary["started"])
    assert started.tzinfo is not None
    assert started.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - started).total_seconds()) < 3600
    assert 0 < summary["duration_seconds"] < 600
    html = audits["jsonl"].report.read_text()
    assert f"{started:%Y-%m-%d %H:%M:%S} UTC" in html
    assert 'data-meta="duration"' in html


def test_level_rules_are_the_rules_that_set_the_timeframe(audits: dict[str, Any],
                                                          engine: Engine) -> None:
    """Each row's level_rules are its triage.because rules whose own timeframe is the
    case's; the summary counts them, and names each by its because."""
    setters = {r.id: r.then.triage.timeframe for r in engine.knowledge.rules
               if r.then.triage is not None}
    lines = audits["lines"]
    counted: dict[str, int] = {}
    for row in audits["jsonl"].rows():
        if row["status"] != "assessed":
            assert row["level_rules"] == []
            continue
        assessment = engine.evaluate(lines[row["position"] - 1])
        want = [r for r in assessment.triage.because
                if setters.get(r) == assessment.triage.timeframe]
        assert row["level_rules"] == want
        assert want, "every assessed case has a rule that set its timeframe"
        for rule in set(want):
            counted[rule] = counted.get(rule, 0) + 1
    summary = audits["jsonl"].summary
    assert summary["level_rules"] == dict(sorted(counted.items(),
                                                 key=lambda i: (-i[1], i[0])))
    because = {r.id: r.because for r in engine.knowledge.rules}
    assert {k: v["because"] for k, v in summary["names"]["rules"].items()} == \
        {k: because[k] for k in counted}


def test_the_report_names_what_it_counts(audits: dict[str, Any], engine: Engine) -> None:
    """Conditions by name (id on hover), rules by their because, error rows searchable."""
    html = audits["jsonl"].report.read_text()
    for condition in audits["jsonl"].summary["must_not_miss"]:
        name = engine.knowledge.conditions[condition].name
        assert f"{escape(name)}<span class=\"id\">" in html
    assert 'data-filter="errors-table"' in html
    assert html.count("<tr><td class=\"id\">") == len(BAD_LINES)


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


def out_stderr(compared: tuple[Path, Any]) -> str:
    return str(compared[1].stderr)


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
    assert "\r" not in out_stderr(compared), "no progress line when not on a terminal"
    for change in listed:
        assert f'<tr data-change="{change["input"]}:{change["position"]}">' in html


@pytest.mark.slow
def test_progress_on_a_terminal(cluster: str, engine: Engine, tmp_path: Path) -> None:
    """On a terminal `kneerules audit` draws eval --jsonl's progress line, ending with every
    case done, the rate and the workers; then its usual summary."""
    import io

    import pexpect

    jsonl = write_jsonl(tmp_path / "cases.jsonl",
                        list(synthetic_cases(engine.vocabulary, 3000, seed=3)))
    seen = io.StringIO()
    child = pexpect.spawn(str(Path(sys.executable).parent / "kneerules"),
                          ["audit", str(jsonl), "--out", str(tmp_path / "out"), "--scheduler",
                           cluster, "--format", "jsonl", "--partition-size", "100"],
                          timeout=300, dimensions=(24, 200), encoding="utf-8")
    child.logfile_read = seen
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, seen.getvalue()
    drawn = [part.strip() for part in seen.getvalue().replace("\n", "\r").split("\r")
             if "cases, " in part and "/s" in part]
    assert drawn, seen.getvalue()
    assert re.fullmatch(r"\[#{30}\] 3000/3000 cases, [\d,]+/s, 2 workers", drawn[-1]), drawn
    assert "3000 cases (3000 assessed, 0 errors)" in seen.getvalue()


@pytest.mark.slow
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
    while not list(out.parent.glob("out.unfinished-*/assessments/part-*")) and \
            time.monotonic() < deadline:
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
@pytest.mark.slow
def test_ctrl_c_stops_the_cluster_it_started(engine: Engine, tmp_path: Path, stop: str) -> None:
    """Ctrl-C (SIGINT to the process group) or `kill` (SIGTERM to the command) stops the
    audit and every process it started."""
    psutil = pytest.importorskip("psutil")
    cases = list(synthetic_cases(engine.vocabulary, 30_000, seed=3))
    jsonl = write_jsonl(tmp_path / "cases.jsonl", cases)
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"old": true}')  # a previous run's
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "kneerules"), "audit", str(jsonl), "--out",
         str(out), "--workers", "2", "--partition-size", "200", "--overwrite"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # A suite run as a background job (`make test &`) ignores SIGINT, and so would the
        # command: Ctrl-C must reach it as it would from a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list(out.parent.glob("out.unfinished-*/assessments/part-*")) and \
            time.monotonic() < deadline:
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
    # The previous run is whole, the new rows are not beside it, and the unfinished run
    # says what it is.
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert (out / "summary.json").read_text() == '{"old": true}'
    unfinished = _unfinished(out)
    assert len(unfinished) == 1
    assert "did not finish" in (unfinished[0] / "UNFINISHED.txt").read_text()
    assert str(unfinished[0]) in stderr


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


# --- issue 25.2: audits never mix runs ---------------------------------------------------

def _unfinished(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f"{out.name}.unfinished-*"))


def test_a_non_empty_out_is_refused_without_overwrite(cluster: str, engine: Engine,
                                                       tmp_path: Path) -> None:
    """An --out holding anything is refused (exit 2, nothing touched) unless --overwrite."""
    jsonl = write_jsonl(tmp_path / "cases.jsonl", vignette_cases()[:5])
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputNotEmpty, match="--overwrite"):
        audit([jsonl], out, scheduler=cluster)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "kneerules"), "audit", str(jsonl), "--out",
         str(out), "--scheduler", cluster], capture_output=True, text=True, timeout=300,
        check=False)
    assert done.returncode == 2, done.stderr
    assert "--overwrite" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_overwrite_replaces_the_whole_previous_run(cluster: str, engine: Engine,
                                                   tmp_path: Path) -> None:
    """A second run into the same --out leaves none of the first run's parts or files,
    and never follows a symlink it deletes (an assessments/ link to a folder of mine)."""
    cases = vignette_cases()
    big = write_jsonl(tmp_path / "big.jsonl", cases[:40])
    small = write_jsonl(tmp_path / "small.jsonl", cases[:3])
    out = tmp_path / "out"
    audit([big], out, scheduler=cluster, partition_size=5, output_format="jsonl")
    assert len(list((out / "assessments").glob("part-*"))) == 8
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "part-000000.jsonl").write_text("precious\n")
    (out / "extra").symlink_to(mine, target_is_directory=True)
    result = audit([small], out, scheduler=cluster, partition_size=5, output_format="jsonl",
                   overwrite=True)
    assert [r["case_id"] for r in result.rows()] == [c["case_id"] for c in cases[:3]]
    assert len(list((out / "assessments").glob("part-*"))) == 1
    assert json.loads((out / "summary.json").read_text())["cases"] == 3
    assert not (out / "extra").exists()
    assert (mine / "part-000000.jsonl").read_text() == "precious\n"
    assert _unfinished(out) == []
    # The old run's assessments/ made a link to elsewhere: replaced, never emptied.
    for entry in list((out / "assessments").iterdir()):
        entry.unlink()
    (out / "assessments").rmdir()
    (out / "assessments").symlink_to(mine, target_is_directory=True)
    audit([small], out, scheduler=cluster, output_format="jsonl", overwrite=True)
    assert (mine / "part-000000.jsonl").read_text() == "precious\n"
    assert not (out / "assessments").is_symlink()
