"""Every malformed case gets a clear, located error; nothing is dropped, nothing guessed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kneerules import Engine, to_dict
from kneerules.cli.main import main
from kneerules.model.errors import CaseError, KneerulesError
from kneerules.model.records import Case, Patient

KNEERULES = Path(sys.executable).parent / "kneerules"
GOOD = {"case_id": "good", "findings": {"pain.behind_knee": True}}


def _case(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


# (id, file content, the exact fragment expected on standard error after "case.json: ", exit code)
MALFORMED: list[tuple[str, bytes, str, int]] = [
    # --- the file itself ---
    ("empty file", b"", "$: the input is empty: expected a JSON object", 1),
    ("only whitespace", b" \n\t\n", "$: the input is empty: expected a JSON object", 1),
    ("truncated", b'{"findings": {',
     "$: invalid JSON at line 1, column 15: the text ends before the JSON value is complete", 1),
    ("trailing comma", b'{"findings": {"sign.redness": true,}}',
     "$: invalid JSON at line 1, column 36: a trailing comma; remove the last comma", 1),
    ("single quotes", b"{'findings': {}}",
     "$: invalid JSON at line 1, column 2: expected a field name in double quotes", 1),
    ("Python True", b'{"findings": {"sign.redness": True}}',
     "$: invalid JSON at line 1, column 31: True is not a JSON value", 1),
    ("missing comma on line 3", b'{\n  "case_id": "a"\n  "findings": {}\n}',
     "$: invalid JSON at line 3, column 3: expected a comma between items", 1),
    ("missing colon", b'{"findings" {}}',
     "$: invalid JSON at line 1, column 13: expected a colon after the field name", 1),
    ("two objects", b"{}\n{}",
     "$: invalid JSON at line 2, column 1: unexpected text after the end of the JSON value", 1),
    ("newline inside a string", b'{"case_id": "a\nb"}',
     "$: invalid JSON at line 1, column 15: a control character (such as a newline or tab) "
     "inside a string", 1),
    ("NaN", b'{"measurements": {"bmi": NaN}}',
     "$: invalid JSON at line 1, column 26: NaN is not a JSON number", 1),
    ("Infinity", b'{"measurements": {"bmi": Infinity}}',
     "$: invalid JSON at line 1, column 26: Infinity is not a JSON number", 1),
    ("-Infinity", b'{"measurements": {"bmi": -Infinity}}',
     "$: invalid JSON at line 1, column 26: -Infinity is not a JSON number", 1),
    ("number overflowing a double", b'{"measurements": {"bmi": 1e400}}',
     "$: the number 1e400 is too large to represent", 1),
    ("integer of 5000 digits", b'{"measurements": {"bmi": 1' + b"0" * 5000 + b"}}",
     "$: invalid JSON: a number has too many digits", 1),
    ("Latin-1, not UTF-8", '{"case_id": "Müller"}'.encode("latin-1"),
     "$: not UTF-8 text: byte 0xfc at line 1 (offset 14) is not valid UTF-8", 1),
    ("UTF-16", "{}".encode("utf-16"), "$: the text is UTF-16, not UTF-8: save it as UTF-8", 1),
    ("binary garbage", b"\x89PNG\r\n\x1a\n\x00\x00",
     "$: not UTF-8 text: byte 0x89 at line 1 (offset 0)", 1),
    ("nested 100 deep", b'{"findings": ' + b"[" * 100 + b"]" * 100 + b"}",
     "$: JSON nested more than 32 levels deep", 1),
    ("nested beyond the stack", b"[" * 200_000, "$: JSON nested more than 32 levels deep", 1),
    ("over 1 MiB", _case(case_id="x" * (1024 * 1024)),
     "$: the input is larger than the limit of 1048576 bytes (1 MiB)", 1),
    ("lone surrogate in case_id", b'{"case_id": "a\\ud800b"}',
     "$.case_id: contains \\ud800, half of a UTF-16 surrogate pair, which is not a character", 1),
    ("lone surrogate in a finding name", b'{"findings": {"sign.\\udc00x": true}}',
     '$.findings["sign.\\udc00x"]: contains \\udc00, half of a UTF-16 surrogate pair', 1),
    ("30,000 misspelt findings", _case(findings={f"sign.redn{i}": True for i in range(30_000)}),
     "$: ... and 29900 more problems not listed", 1),
    ("30,000 unknown fields", _case(**{f"fiel{i}": 1 for i in range(30_000)}),
     "$: ... and 29900 more problems not listed", 1),
    ("30,000 unknown patient fields", _case(patient={f"ag{i}": 1 for i in range(30_000)}),
     "$: ... and 29900 more problems not listed", 1),
    ("a finding given twice", b'{"findings": {"sign.redness": true, "sign.redness": false}}',
     '$.findings["sign.redness"]: given more than once; give each name once', 1),
    # --- the top level ---
    ("a list", b"[]", "$: expected a JSON object, got []", 1),
    ("a string", b'"knee pain"', '$: expected a JSON object, got "knee pain"', 1),
    ("null", b"null", "$: expected a JSON object, got null", 1),
    ("a number", b"42", "$: expected a JSON object, got 42", 1),
    ("format version 2", _case(format="kneerules.case/2"),
     '$.format: expected "kneerules.case/1", got "kneerules.case/2"', 1),
    ("format a number", _case(format=1), "$.format: expected a string, got 1", 1),
    ("misspelt field", _case(findngs={}), '$.findngs: unknown field (did you mean "findings"?)', 1),
    ("unknown field", _case(colour="red"), "$.colour: unknown field\n", 1),
    ("case_id a number", _case(case_id=7), "$.case_id: expected a string, got 7", 1),
    # --- patient, onset, side ---
    ("patient a string", _case(patient="58 years"),
     '$.patient: expected an object, got "58 years"', 1),
    ("age a float", _case(patient={"age": 58.5}),
     "$.patient.age: expected a whole number, got 58.5", 1),
    ("age a string", _case(patient={"age": "58"}),
     '$.patient.age: expected a whole number, got "58"', 1),
    ("age true", _case(patient={"age": True}),
     "$.patient.age: expected a whole number, got true", 1),
    ("age 130", _case(patient={"age": 130}),
     "$.patient.age: expected a whole number from 0 to 120 years, got 130", 1),
    ("age negative", _case(patient={"age": -1}),
     "$.patient.age: expected a whole number from 0 to 120 years, got -1", 1),
    ("sex abbreviated", _case(patient={"sex": "M"}),
     '$.patient.sex: expected one of "female", "male", "other", "unknown", got "M"', 1),
    ("misspelt patient field", _case(patient={"agee": 40}),
     '$.patient.agee: unknown field (did you mean "age"?)', 1),
    ("onset misspelt", _case(onset="suddenly"),
     '$.onset: expected one of "sudden", "gradual", got "suddenly" (did you mean "sudden"?)', 1),
    ("side capitalised", _case(side="Left"),
     '$.side: expected one of "left", "right", "both", got "Left" (did you mean "left"?)', 1),
    # --- findings ---
    ("findings a list", _case(findings=["sign.redness"]),
     '$.findings: expected an object of finding names to true or false, got ["sign.redness"]', 1),
    ("findings null", _case(findings=None),
     "$.findings: expected an object of finding names to true or false, got null", 1),
    ("finding \"yes\"", _case(findings={"sign.redness": "yes"}),
     '$.findings["sign.redness"]: expected true or false, got "yes"', 1),
    ("finding 1", _case(findings={"sign.redness": 1}),
     '$.findings["sign.redness"]: expected true or false, got 1', 1),
    ("finding null", _case(findings={"sign.redness": None}),
     '$.findings["sign.redness"]: expected true or false, got null', 1),
    ("misspelt finding", _case(findings={"sign.redess": True}),
     '$.findings["sign.redess"]: unknown finding name (did you mean "sign.redness"?)\n', 1),
    ("a vignette, not a case", _case(case={"findings": {}}, expect={"triage": "routine"}),
     '$: a vignette ("case" and "expect"), not a case: `kneerules validate FOLDER` scores '
     "vignettes", 1),
    ("unknown finding", _case(findings={"xyzzy": True}),
     '$.findings.xyzzy: unknown finding name\n', 1),
    ("a measurement among findings", _case(findings={"calf_swelling_cm": True}),
     "$.findings.calf_swelling_cm: is a measurement, not a finding: move it to measurements", 1),
    ("a patient field among findings", _case(findings={"patient.age": 40}),
     '$.findings["patient.age"]: is not a finding: give it as $.patient.age', 1),
    # --- measurements ---
    ("measurements a list", _case(measurements=[3.5]),
     "$.measurements: expected an object of measurement names to numbers, got [3.5]", 1),
    ("measurement a string", _case(measurements={"calf_swelling_cm": "3.5"}),
     '$.measurements.calf_swelling_cm: expected a number, got "3.5"', 1),
    ("measurement true", _case(measurements={"calf_swelling_cm": True}),
     "$.measurements.calf_swelling_cm: expected a number, got true", 1),
    ("calf swelling 25 cm", _case(measurements={"calf_swelling_cm": 25}),
     "$.measurements.calf_swelling_cm: expected a number from 0 to 20 cm, got 25", 1),
    ("temperature in Fahrenheit", _case(measurements={"temperature_c": 98.6}),
     "$.measurements.temperature_c: expected a number from 30 to 45 °C, got 98.6", 1),
    ("pain score 11", _case(measurements={"pain_score": 11}),
     "$.measurements.pain_score: expected a number from 0 to 10, got 11\n", 1),
    ("misspelt measurement", _case(measurements={"temprature_c": 38}),
     '$.measurements.temprature_c: unknown measurement name (did you mean "temperature_c"?)', 1),
    ("a finding among measurements", _case(measurements={"sign.fever": 1}),
     '$.measurements["sign.fever"]: is a finding, not a measurement: move it to findings; '
     "expected true or false, got 1", 1),
]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in an empty folder, so file names in messages are short."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _eval(*args: str, stdin: bytes | None = None) -> Any:
    return CliRunner().invoke(main, ["eval", *args], input=stdin, catch_exceptions=False)


@pytest.mark.parametrize(("content", "fragment", "code"),
                         [row[1:] for row in MALFORMED], ids=[row[0] for row in MALFORMED])
def test_malformed_case_is_reported_by_the_cli(in_tmp: Path, content: bytes, fragment: str,
                                               code: int) -> None:
    """The CLI names the file, the JSON path and what was expected, on stderr, and exits 1."""
    (in_tmp / "case.json").write_bytes(content)
    result = _eval("case.json")
    assert result.exit_code == code
    assert f"case.json: {fragment}" in result.stderr + "\n"
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("content", "fragment"), [row[1:3] for row in MALFORMED],
                         ids=[row[0] for row in MALFORMED])
def test_malformed_case_raises_case_error(engine: Engine, content: bytes, fragment: str) -> None:
    """The library raises a CaseError carrying the same problem, for JSON text input."""
    with pytest.raises(CaseError) as caught:
        engine.evaluate_json(content, "case.json")
    assert any(fragment.rstrip("\n") == str(p)[:len(fragment.rstrip("\n"))]
               for p in caught.value.problems), caught.value.problems


def test_count_of_malformed_inputs() -> None:
    """The issue asks for a table of at least 40 malformed inputs, each with its own name."""
    assert len(MALFORMED) >= 40
    assert len({row[0] for row in MALFORMED}) == len(MALFORMED)


USAGE_ERRORS: list[tuple[str, list[str], str]] = [
    ("missing file", ["nope.json"], "File 'nope.json' does not exist"),
    ("a directory", ["."], "is a directory"),
    ("no case at all", [], "Missing argument 'CASE...'"),
    ("zero byte limit", ["--max-bytes", "0", "good.json"],
     "0 is not in the range 1<=x<=1073741824"),
    ("limit of 2**63-1", ["--max-bytes", "9223372036854775807", "good.json"],
     "9223372036854775807 is not in the range 1<=x<=1073741824"),
    ("limit not a number", ["--max-bytes", "lots", "good.json"], "'lots' is not a valid integer"),
    ("unknown format", ["--format", "xml", "good.json"], "'xml' is not one of 'text', 'json'"),
    ("unknown option", ["--colour", "good.json"], "No such option '--colour'"),
]


@pytest.mark.parametrize(("args", "fragment"), [row[1:] for row in USAGE_ERRORS],
                         ids=[row[0] for row in USAGE_ERRORS])
def test_usage_error_exits_2(in_tmp: Path, args: list[str], fragment: str) -> None:
    """A mistake on the command line is a usage error: exit 2, message, no assessment."""
    (in_tmp / "good.json").write_text(json.dumps(GOOD))
    result = CliRunner().invoke(main, ["eval", *args])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert result.stdout == ""


def test_every_problem_is_reported_at_once_in_document_order(in_tmp: Path) -> None:
    """A case with six problems gets six lines, in the order of the file, each once."""
    case = {
        "format": "kneerules.case/1",
        "patient": {"age": 30.5, "sex": "mail"},
        "findings": {"sign.redess": "yes", "sign.redness": 1, "pain.calf": True},
        "measurements": {"calf_swelling_cm": 30},
        "extra": 1,
    }
    (in_tmp / "case.json").write_text(json.dumps(case))
    result = _eval("case.json")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "case.json: $.patient.age: expected a whole number, got 30.5",
        'case.json: $.patient.sex: expected one of "female", "male", "other", "unknown", '
        'got "mail" (did you mean "male"?)',
        'case.json: $.findings["sign.redess"]: unknown finding name (did you mean '
        '"sign.redness"?); expected true or false, got "yes"',
        'case.json: $.findings["sign.redness"]: expected true or false, got 1',
        "case.json: $.measurements.calf_swelling_cm: expected a number from 0 to 20 cm, got 30",
        "case.json: $.extra: unknown field",
    ]


def test_good_files_are_still_assessed_beside_bad_ones(in_tmp: Path) -> None:
    """With several files, each good one is assessed, each bad one reported (on stderr, and
    as an error record in its place on stdout: line N is file N), and exit is 1."""
    (in_tmp / "good.json").write_text(json.dumps(GOOD))
    (in_tmp / "bad.json").write_text('{"findings": {"sign.redness": "yes"}}')
    (in_tmp / "also-good.json").write_text(json.dumps({**GOOD, "case_id": "also-good"}))
    result = _eval("--format", "json", "good.json", "bad.json", "also-good.json")
    assert result.exit_code == 1
    assessed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a.get("case_id") for a in assessed] == ["good", None, "also-good"]
    assert assessed[1] == {"source": "bad.json", "error": {"problems": [
        {"path": '$.findings["sign.redness"]', "message": 'expected true or false, got "yes"'}]}}
    assert result.stderr == ('bad.json: $.findings["sign.redness"]: expected true or false, '
                             'got "yes"\n')


def test_all_good_files_exit_0(in_tmp: Path) -> None:
    """Exit code 0 only when every case was assessed."""
    (in_tmp / "good.json").write_text(json.dumps(GOOD))
    result = _eval("good.json", "good.json")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_bad_case_on_standard_input_is_named_stdin() -> None:
    """A case piped on standard input is reported as <stdin>."""
    result = _eval("-", stdin=b'{"side": "up"}')
    assert result.exit_code == 1
    assert result.stderr.startswith('<stdin>: $.side: expected one of "left", "right", "both"')


def test_max_bytes_option_sets_the_size_limit(in_tmp: Path) -> None:
    """--max-bytes refuses a case above the limit and accepts one at it."""
    text = json.dumps(GOOD)
    (in_tmp / "good.json").write_text(text)
    small = _eval("--max-bytes", str(len(text) - 1), "good.json")
    assert small.exit_code == 1
    assert f"good.json: $: the input is larger than the limit of {len(text) - 1} bytes" in (
        small.stderr)
    assert _eval("--max-bytes", str(len(text)), "good.json").exit_code == 0


def test_engine_max_bytes_raises_the_limit(tmp_path: Path) -> None:
    """Engine(max_bytes=...) lets a larger case through, and the default refuses it."""
    big = json.dumps({**GOOD, "case_id": "x" * (1024 * 1024)})
    with pytest.raises(CaseError, match="larger than the limit of 1048576 bytes"):
        Engine().evaluate_json(big)
    assert Engine(max_bytes=2 * 1024 * 1024).evaluate_json(big).case_id == "x" * (1024 * 1024)


def test_byte_order_mark_is_accepted(engine: Engine) -> None:
    """A UTF-8 byte order mark, as Windows editors write, is not an error."""
    assessment = engine.evaluate_json(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert assessment.case_id == "good"


def test_case_without_findings_is_routine_with_a_note(in_tmp: Path) -> None:
    """A case with no findings at all is valid: routine, with a note saying so."""
    (in_tmp / "empty.json").write_text('{"format": "kneerules.case/1", "findings": {}}')
    result = _eval("--format", "json", "empty.json")
    assert result.exit_code == 0
    assessment = json.loads(result.stdout)
    assert assessment["triage"]["level"] == "routine"
    assert len(assessment["notes"]) == 1
    assert assessment["notes"][0]["id"] == "input.no_findings"
    assert assessment["notes"][0]["message"].startswith("No findings were given")


def test_case_error_is_a_kneerules_error_with_problems(engine: Engine) -> None:
    """CaseError derives from KneerulesError and lists each problem with path and message."""
    with pytest.raises(KneerulesError) as caught:
        engine.evaluate({"findings": {"sign.redness": "yes"}, "side": "up"})
    error = caught.value
    assert isinstance(error, CaseError)
    assert [(p.path, p.message) for p in error.problems] == [
        ('$.findings["sign.redness"]', 'expected true or false, got "yes"'),
        ("$.side", 'expected one of "left", "right", "both", got "up"'),
    ]
    assert str(error).startswith("2 problems:")


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


# Values only a Python caller can pass: keys that are not strings, types JSON lacks.
PYTHON_INPUTS: list[tuple[str, Any, str]] = [
    ("finding name an int", {"findings": {1: True}}, "$.findings[1]: finding names must be "
     "strings, got 1"),
    ("top-level key an int", {1: 2}, "$[1]: field names must be strings, got 1"),
    ("finding name a tuple", {"findings": {("a",): True}}, "$.findings[('a',)]: finding names "
     "must be strings"),
    ("finding 1.0", {"findings": {"sign.redness": 1.0}},
     '$.findings["sign.redness"]: expected true or false, got 1.0'),
    ("measurement NaN", {"measurements": {"bmi": float("nan")}},
     "$.measurements.bmi: expected a finite number, got NaN"),
    ("measurement infinite", {"measurements": {"bmi": float("inf")}},
     "$.measurements.bmi: expected a finite number, got Infinity"),
    ("age a huge integer", {"patient": {"age": 10**400}},
     "$.patient.age: expected a whole number from 0 to 120 years, got an integer of about 400"),
    ("findings a set", {"findings": {"sign.redness"}},
     "$.findings: expected an object of finding names to true or false, got {'sign.redness'} "
     "(a Python set)"),
    ("age an unprintable object", {"patient": {"age": _Unprintable()}},
     "$.patient.age: expected a whole number, got <_Unprintable instance at "),
    ("patient a list", {"patient": [40]}, "$.patient: expected an object, got [40]"),
    ("a list", [GOOD], "$: expected a JSON object, got [{"),
    ("None", None, "$: expected a JSON object, got null"),
    ("Case with a string finding", Case(findings={"sign.redness": "yes"}),  # type: ignore[dict-item]
     '$.findings["sign.redness"]: expected true or false, got "yes"'),
    ("Case with a string age", Case(patient=Patient(age="40")),  # type: ignore[arg-type]
     '$.patient.age: expected a whole number, got "40"'),
    ("Case with findings None", Case(findings=None),  # type: ignore[arg-type]
     "$.findings: expected an object of finding names to true or false, got null"),
    ("Case with findings a list", Case(findings=["sign.redness"]),  # type: ignore[arg-type]
     '$.findings: expected an object of finding names to true or false, got ["sign.redness"]'),
    ("Case with an int finding name", Case(findings={1: True}),  # type: ignore[dict-item]
     "$.findings[1]: finding names must be strings, got 1"),
    ("Case with a misspelt finding", Case(findings={"sign.redess": True}),
     '$.findings["sign.redess"]: unknown finding name (did you mean "sign.redness"?)'),
    ("Case with onset bad", Case(onset="slow"),  # type: ignore[arg-type]
     '$.onset: expected one of "sudden", "gradual", got "slow"'),
    ("Case with patient a string", Case(patient="old"),  # type: ignore[arg-type]
     '$.patient: expected an object, got "old"'),
    ("Case with format 5", Case(format=5),  # type: ignore[arg-type]
     "$.format: expected a string, got 5"),
    ("Case with measurement out of range", Case(measurements={"bmi": 5}),
     "$.measurements.bmi: expected a number from 10 to 80 kg/m², got 5"),
]


@pytest.mark.parametrize(("value", "fragment"), [row[1:] for row in PYTHON_INPUTS],
                         ids=[row[0] for row in PYTHON_INPUTS])
def test_python_input_gives_case_error(engine: Engine, value: Any, fragment: str) -> None:
    """Dicts and Case objects from Python are validated as strictly as JSON: CaseError only."""
    with pytest.raises(CaseError) as caught:
        engine.evaluate(value)
    assert any(str(p).startswith(fragment) for p in caught.value.problems), caught.value.problems


def test_valid_case_object_is_assessed(engine: Engine) -> None:
    """A correct Case built in Python is assessed as its JSON would be."""
    from_object = engine.evaluate(Case(case_id="c", patient=Patient(age=40),
                                       findings={"pain.behind_knee": True}))
    from_dict = engine.evaluate({"case_id": "c", "patient": {"age": 40},
                                 "findings": {"pain.behind_knee": True}})
    assert to_dict(from_object) == to_dict(from_dict)


@pytest.mark.parametrize(("content", "code", "fragment"), [
    (b"{not json", 1, "case.json: $: invalid JSON at line 1, column 2"),
    (b"\xff\xfe\x00\x00garbage", 1, "case.json: $: the text is UTF-32, not UTF-8"),
    (b'{"findings": {"sign.redness": "yes"}}', 1, 'case.json: $.findings["sign.redness"]'),
    (b"[" * 200_000, 1, "case.json: $: JSON nested more than 32 levels deep"),
])
def test_real_command_never_prints_a_traceback(tmp_path: Path, content: bytes, code: int,
                                               fragment: str) -> None:
    """The installed kneerules command, run as a process, reports bad input without a traceback."""
    (tmp_path / "case.json").write_bytes(content)
    (tmp_path / "good.json").write_text(json.dumps(GOOD))
    done = subprocess.run([str(KNEERULES), "eval", "--format", "json", "case.json", "good.json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == code
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    error, good = (json.loads(line) for line in done.stdout.splitlines())
    assert error["source"] == "case.json"
    assert good["case_id"] == "good"


def test_real_command_missing_file_is_usage_error(tmp_path: Path) -> None:
    """A case file that does not exist is a usage error: exit 2, no traceback."""
    done = subprocess.run([str(KNEERULES), "eval", "missing.json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "'missing.json' does not exist" in done.stderr
    assert "Traceback" not in done.stderr
