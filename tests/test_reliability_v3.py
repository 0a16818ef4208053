"""Issue 25, reliability v3: bounded reads in validate, audits that never mix runs, a batch
that survives a dead worker or a stuck hook, safe saves, bounded FHIR input, and the
smaller items."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kneerules import CaseError, Engine, hookimpl
from kneerules.batch.jsonl import write_lines
from kneerules.knowledge.plugins import get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
KNEERULES = Path(sys.executable).parent / "kneerules"
DVT = json.loads((ROOT / "examples" / "dvt-same-day.json").read_text())
BAKERS = {"patient": {"age": 55}, "onset": "gradual",
          "findings": {"pain.behind_knee": True, "sign.swelling_behind_knee": True,
                       "worse.bending_knee": True}}
MEMORY_CAP = 2 * 1024 ** 3


def _limited() -> None:
    # A reader without a cap would take all the machine's memory: the child fails instead.
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def kneerules(*args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process, with a memory cap and a time limit."""
    kwargs.setdefault("capture_output", True)
    return subprocess.run([str(KNEERULES), *args], cwd=kwargs.pop("cwd", ROOT), text=True,
                          timeout=timeout, check=False, preexec_fn=_limited, **kwargs)


def vignette(folder: Path, name: str, body: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


# --- 1. validate reads with limits --------------------------------------------------------

@pytest.fixture
def vignettes(tmp_path: Path) -> Path:
    """A folder with one good vignette."""
    folder = tmp_path / "vignettes"
    vignette(folder, "bakers", {"case": BAKERS, "expect": {"triage": "routine"}})
    return folder


def _errors(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["error"] for c in report["cases"] if c["error"]}


@pytest.mark.parametrize(("name", "make", "expected"), [
    ("zero", lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
    ("fifo", lambda p: os.mkfifo(p), "not a regular file"),
    ("big", lambda p: p.write_text('{"case": {}, "expect": {}, "x": "' + "a" * (2 << 20)
                                   + '"}'), "larger than the limit"),
    ("deep", lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "nested more than"),
    ("dup", lambda p: p.write_text('{"case": {}, "expect": {}, "case": {}}'),
     '$.case: given more than once'),
    ("triage-list", lambda p: p.write_text(json.dumps(
        {"case": BAKERS, "expect": {"triage": ["routine"]}})),
     "$.expect.triage: expected one of"),
    ("timeframe-list", lambda p: p.write_text(json.dumps(
        {"case": BAKERS, "expect": {"timeframe": [1]}})),
     "$.expect.timeframe: expected one of"),
])
def test_validate_reads_each_vignette_with_limits(vignettes: Path, name: str, make: Any,
                                                  expected: str) -> None:
    """/dev/zero, a FIFO, a huge or deep file, a duplicate key or a wrong type is a clear
    error for that file, no traceback, and the other vignettes are still scored."""
    make(vignettes / f"{name}.json")
    done = kneerules("validate", str(vignettes), "--format", "json", timeout=60)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 1, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["summary"]["cases"] == 2
    assert report["summary"]["triage_exact"]["ok"] == 1  # bakers still scored
    assert expected in _errors(report)[name]


# --- 3. a dead worker does not end the batch ----------------------------------------------

def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _case_lines(count: int) -> bytes:
    return b"".join((json.dumps({**DVT, "case_id": str(i)}) + "\n").encode()
                    for i in range(count))


@pytest.mark.slow
def test_kill_9_of_a_worker_loses_no_case(tmp_path: Path) -> None:
    """kill -9 of one worker of `eval --jsonl --jobs 2`: exit 0, every case exactly once,
    in input order (34,048 of 300,000 were written, exit 1)."""
    count = 12_000
    feed = tmp_path / "cases.jsonl"
    feed.write_bytes(_case_lines(count))
    out = tmp_path / "out.jsonl"
    with out.open("wb") as sink:
        process = subprocess.Popen([str(KNEERULES), "eval", "--jsonl", str(feed), "--jobs",
                                    "2"], stdout=sink, stderr=subprocess.PIPE)
        workers: set[int] = set()
        while len(workers) < 2 and process.poll() is None:
            workers = _children(process.pid)
        assert len(workers) >= 2, "the batch ended before its workers could be seen"
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr.decode()[-2000:]
    ids = [json.loads(line)["case_id"] for line in out.read_bytes().splitlines()]
    assert ids == [str(i) for i in range(count)]


class Poison:
    """A plugin that kills the process evaluating one case (as a crash in C would)."""

    name = "poison"

    @hookimpl
    def kneerules_case_facts(self, case: Any, facts: Any) -> Mapping[str, Any]:
        if case.case_id == "poison":
            os.kill(os.getpid(), signal.SIGKILL)
        return {}


def _poisoned() -> Engine:
    return Engine(plugin_manager=get_plugin_manager(entry_points=False, extra=[Poison()]))


def test_a_case_that_kills_its_worker_twice_is_an_error_record() -> None:
    """A line that kills every worker it reaches becomes one error record; every other
    line is assessed, in order, once."""
    lines = [json.dumps({**DVT, "case_id": str(i)}).encode() for i in range(40)]
    lines[17] = json.dumps({**DVT, "case_id": "poison"}).encode()
    out = io.BytesIO()
    oks = list(write_lines(_poisoned(), lines, out, jobs=2, chunksize=4))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == 40
    assert oks == [i != 17 for i in range(40)]
    assert records[17]["line"] == 18
    assert records[17]["case_id"] == "poison"
    assert "worker process" in records[17]["error"]["problems"][0]["message"]
    assert [r["case_id"] for r in records] == [str(i) if i != 17 else "poison"
                                               for i in range(40)]


def test_evaluate_many_gives_a_killing_case_its_case_error() -> None:
    """evaluate_many(jobs=2): the case that kills workers twice is a CaseError in its place."""
    cases = [{**DVT, "case_id": str(i)} for i in range(30)]
    cases[5] = {**DVT, "case_id": "poison"}
    results = list(_poisoned().evaluate_many(cases, jobs=2, chunksize=4))
    assert len(results) == 30
    assert isinstance(results[5], CaseError)
    assert [r.case_id for i, r in enumerate(results) if i != 5] == [
        str(i) for i in range(30) if i != 5]


# --- 4. a hook that never returns costs one case ------------------------------------------

class Stuck:
    """A plugin whose per-case hook never returns for one case."""

    name = "stuck"

    @hookimpl
    def kneerules_case_facts(self, case: Any, facts: Any) -> Mapping[str, Any]:
        if case.case_id == "stuck":
            time.sleep(3600)
        return {}


def _stuck() -> Engine:
    return Engine(plugin_manager=get_plugin_manager(entry_points=False, extra=[Stuck()]))


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.slow
def test_a_hook_that_never_returns_costs_that_case_an_error(jobs: int) -> None:
    """The stuck case is a CaseError naming the plugin and the deadline; the 5 others are
    assessed (the batch stopped with a PluginError, 3 of 6 never assessed)."""
    cases = [{**DVT, "case_id": str(i)} for i in range(6)]
    cases[2] = {**DVT, "case_id": "stuck"}
    results = list(_stuck().evaluate_many(cases, jobs=jobs, chunksize=2, deadline=1))
    assert len(results) == 6
    assert isinstance(results[2], CaseError)
    assert "'stuck'" in str(results[2])
    assert "deadline of 1 s" in str(results[2])
    assert [r.case_id for i, r in enumerate(results) if i != 2] == ["0", "1", "3", "4", "5"]


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.slow
def test_a_hook_that_never_returns_is_one_error_record_in_jsonl(jobs: int) -> None:
    """--jsonl: the stuck line is an error record, the others are assessed in order."""
    lines = [json.dumps({**DVT, "case_id": str(i)}).encode() for i in range(6)]
    lines[4] = json.dumps({**DVT, "case_id": "stuck"}).encode()
    out = io.BytesIO()
    oks = list(write_lines(_stuck(), lines, out, jobs=jobs, chunksize=2, deadline=1))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert oks == [True, True, True, True, False, True]
    assert "deadline" in records[4]["error"]["problems"][0]["message"]
    assert [r["case_id"] for r in records] == ["0", "1", "2", "3", "stuck", "5"]


# --- 6. FHIR input ------------------------------------------------------------------------

R4_PATIENT = ROOT / ".cache" / "fhir" / "hl7.fhir.r4.examples-4.0.1" / "package" / \
    "Patient-example.json"
AT = "2026-01-10T10:00:00Z"


def _response(items: list[dict[str, Any]], authored: str = "2026-01-09T10:00:00Z",
              **more: Any) -> dict[str, Any]:
    from kneerules.fhir.questionnaire import QUESTIONNAIRE_URL

    return {"resourceType": "QuestionnaireResponse", "questionnaire": QUESTIONNAIRE_URL,
            "status": "completed", "subject": {"reference": "Patient/p1"},
            "authored": authored, "item": items, **more}


def _answer(name: str, value: bool) -> dict[str, Any]:
    return {"linkId": name, "answer": [{"valueBoolean": value}]}


KNEE = [_answer("pain.behind_knee", True), _answer("sign.swelling_behind_knee", True),
        _answer("worse.bending_knee", True), _answer("sign.calf_swelling", False),
        _answer("sign.redness", False)]


def _bundle(*resources: dict[str, Any], pad: int = 0) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "gender": "female",
                               "birthDate": "1970-01-01"}
    if pad:
        patient["text"] = {"status": "generated", "div": "<div>" + "x" * pad + "</div>"}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in (patient, *resources)]}


def test_fhir_case_caps_the_problems_of_40000_misspelt_link_ids(tmp_path: Path) -> None:
    """40,000 misspelt linkIds: at most 100 problems and one line saying how many more
    (it printed 40,002 lines, after 122 s of looking for the closest names)."""
    items = [_answer(f"pain.behind_kne{i}", True) for i in range(40_000)]
    record = tmp_path / "record.json"
    record.write_text(json.dumps(_bundle(_response(items))))
    done = kneerules("fhir-case", str(record), "--at", AT)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 101
    assert "39900 more problems" in lines[-1]


def test_conflict_warnings_are_capped(tmp_path: Path) -> None:
    """300 responses at one time that disagree: the one conflict names a few and counts
    the rest (one bundle gave a single warning line of 8.5 MB)."""
    responses = [_response([_answer("sign.redness", i % 2 == 0)], id=f"r{i}")
                 for i in range(300)]
    record = tmp_path / "record.json"
    record.write_text(json.dumps(_bundle(*responses)))
    done = kneerules("fhir-case", str(record), "--at", AT)
    assert done.returncode == 0, done.stderr
    [problem] = json.loads(done.stdout)["problems"]
    assert len(problem["message"]) < 1000
    assert "and 295 more" in problem["message"]


@pytest.mark.parametrize("command", ["eval", "fhir-case"])
@pytest.mark.parametrize(("pad", "refused"), [(2 << 20, False), (17 << 20, True)])
def test_eval_fhir_and_fhir_case_share_one_size_limit(tmp_path: Path, command: str,
                                                      pad: int, refused: bool) -> None:
    """A 2 MiB record is read by both commands, a 17 MiB one refused by both, alike."""
    record = tmp_path / "record.json"
    record.write_text(json.dumps(_bundle(_response(KNEE), pad=pad)))
    args = ["eval", "--fhir"] if command == "eval" else ["fhir-case"]
    done = kneerules(*args, str(record), "--at", AT)
    if refused:
        assert done.returncode == 1
        assert "larger than the limit of 16777216 bytes (16 MiB)" in done.stderr
    else:
        assert done.returncode == 0, done.stderr


def test_answers_left_out_for_their_age_are_said_so(tmp_path: Path) -> None:
    """Five answers older than the 7-day window: the notes say five inputs were left out
    and why, in the JSON and in every text view (it said "No findings were given")."""
    record = tmp_path / "record.json"
    record.write_text(json.dumps(_bundle(_response(KNEE, authored="2025-12-01T10:00:00Z"))))
    note = "5 inputs of the record were left out: 5 outside the time window"
    done = kneerules("eval", "--fhir", str(record), "--at", AT, "--format", "json")
    # No current knee complaint is left once they are out: not triaged, and said why.
    assert done.returncode == 3, done.stderr
    assert note in done.stderr
    bundle = _bundle(_response(KNEE, authored="2025-12-01T10:00:00Z"),
                     _response(KNEE[:1]))  # the knee pain, answered yesterday
    record.write_text(json.dumps(bundle))
    done = kneerules("eval", "--fhir", str(record), "--at", AT, "--format", "json")
    assert done.returncode == 0, done.stderr
    notes = json.loads(done.stdout)["notes"]
    assert any("5 inputs of the record were left out" in n["message"] for n in notes), notes
    for audience in ("any", "patient", "clinician"):
        text = kneerules("eval", "--fhir", str(record), "--at", AT, "--audience", audience,
                         env={**os.environ, "COLUMNS": "300"})
        assert text.returncode == 0, text.stderr
        assert "left out: 5 outside the time window" in text.stdout, audience


def test_no_current_knee_complaint_is_not_triaged(tmp_path: Path) -> None:
    """The R4 Patient-example holds no knee complaint: no triage, exit 3, a plain message
    (it printed a ROUTINE triage "about this new knee pain"); the library raises
    NotTriaged; a record with the complaint is still triaged."""
    from kneerules.model.errors import NotTriaged

    done = kneerules("eval", "--fhir", str(R4_PATIENT), "--at", AT)
    assert done.returncode == 3, done.stderr
    assert "no current posterior-knee complaint to triage" in done.stderr
    assert "ROUTINE" not in done.stdout
    assert done.stdout == ""
    engine = Engine()
    with pytest.raises(NotTriaged, match="no current posterior-knee complaint"):
        engine.evaluate_fhir(json.loads(R4_PATIENT.read_text()), at=datetime.fromisoformat(AT))
    assessment = engine.evaluate_fhir(_bundle(_response(KNEE)), at=datetime.fromisoformat(AT))
    assert assessment.triage.level == "routine"


# --- 5. ask --save does not overwrite -------------------------------------------------------

def test_ask_save_refuses_an_existing_file_without_force(tmp_path: Path) -> None:
    """`ask --save FILE` with FILE there: refused (exit 2), the file untouched; with --force
    the file is replaced whole, by a rename (never rewritten in place, no temporary left)."""
    from click.testing import CliRunner

    from kneerules.cli.main import main

    saved = tmp_path / "case.json"
    saved.write_text("my notes, not a case\n")
    inode = saved.stat().st_ino
    refused = CliRunner().invoke(main, ["ask", "--save", str(saved)], input="")
    assert refused.exit_code == 2, refused.output
    assert "--force" in refused.output
    assert saved.read_text() == "my notes, not a case\n"
    forced = CliRunner().invoke(main, ["ask", "--save", str(saved), "--force"], input="")
    assert forced.exit_code == 130, forced.output  # the input ended: stopped, answers kept
    assert json.loads(saved.read_text())["findings"] == {}
    assert saved.stat().st_ino != inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json"]


# --- 7. smaller items -----------------------------------------------------------------------

INVISIBLE = ["\u200b", "\u200f", "\u202e", "\u2066", "\ufeff"]


@pytest.mark.parametrize("char", INVISIBLE)
def test_invisible_characters_in_names_are_escaped_in_errors(tmp_path: Path, char: str) -> None:
    """A zero-width or bidi control character in a finding name is shown as its escape in
    the error (on the terminal and in the JSON error record), never as itself."""
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"findings": {f"pain.behind{char}knee": True}},
                               ensure_ascii=False), encoding="utf-8")
    escape = f"\\u{ord(char):04x}"
    done = kneerules("eval", str(case))
    assert done.returncode == 1
    assert char not in done.stderr
    assert f"pain.behind{escape}knee" in done.stderr
    record = kneerules("eval", "--jsonl", str(case))
    [problem] = json.loads(record.stdout)["error"]["problems"]
    assert char not in problem["path"]
    assert escape in problem["path"]


@pytest.mark.parametrize(("text", "where"), [
    ('{"measurements": {"temperature_c": NaN}}', "line 1, column 36"),
    ('{\n  "findings": {},\n  "measurements": {"bmi": -Infinity}\n}', "line 3, column 27"),
    ('{"case_id": "NaN", "measurements": {"temperature_c": Infinity}}', "line 1, column 54"),
])
def test_nan_in_case_json_is_reported_with_its_line_and_column(text: str, where: str) -> None:
    """NaN or Infinity in case JSON: the error says where it is, as other syntax errors do."""
    from kneerules.cases.validation import parse_json

    with pytest.raises(CaseError) as caught:
        parse_json(text)
    [problem] = caught.value.problems
    assert f"invalid JSON at {where}: " in problem.message
    assert "is not a JSON number" in problem.message


def test_new_plugin_with_a_300_character_name_is_a_clear_error(tmp_path: Path) -> None:
    """A 300-character name is refused up front, saying the limit (it failed with "cannot
    write the output: File name too long"); nothing is created."""
    from click.testing import CliRunner

    from kneerules.cli.main import main

    result = CliRunner().invoke(main, ["new-plugin", "a" * 300, "--directory", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "300 characters long; a plugin name has at most 64" in result.output
    assert list(tmp_path.iterdir()) == []


def test_check_refuses_the_scaffolds_placeholder_source(tmp_path: Path) -> None:
    """A scaffold with every "EXAMPLE: ..." text written but its placeholder sources
    ("kneerules local rule: EXAMPLE, ...") left is refused by check, naming each source."""
    from click.testing import CliRunner

    from kneerules.cli.main import main

    made = CliRunner().invoke(main, ["new-plugin", "my_condition", "--directory", str(tmp_path)])
    assert made.exit_code == 0, made.output
    for data in tmp_path.rglob("*.yaml"):
        data.write_text(data.read_text().replace("EXAMPLE: ", "Filled in: "))
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1, result.output
    flagged = [line for line in result.output.splitlines()
               if "source is still the new-plugin placeholder" in line]
    assert len(flagged) == 3, result.output
    assert any('rule "my_condition.example_sign"' in line for line in flagged)


@pytest.mark.parametrize(("expect", "said"), [
    ({"triage": "routine"}, "no vignette names a condition that must not be ranked first"),
    ({"triage": "routine", "not_top": ["dvt"]},
     "a condition ranked first where the vignette says it must not be: 0 of 1 vignettes"),
    ({"triage": "routine", "not_top": ["bakers_cyst"]},
     "a condition ranked first where the vignette says it must not be: 1 of 1 vignettes"),
])
def test_validate_says_plainly_how_often_a_must_not_lead_condition_led(
        tmp_path: Path, expect: dict[str, Any], said: str) -> None:
    """validate's summary line about `not_top` is a sentence a clinician can read (it said
    "not first when it must not be n/a")."""
    from click.testing import CliRunner

    from kneerules.cli.main import main

    folder = tmp_path / "vignettes"
    vignette(folder, "bakers", {"case": BAKERS, "expect": expect})
    result = CliRunner().invoke(main, ["validate", str(folder)])
    assert said in result.output
    assert "not first when it must not be" not in result.output
