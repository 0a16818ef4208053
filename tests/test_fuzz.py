"""Fuzzing: whatever comes in, the answer is an assessment or a CaseError, never a crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kneerules import Engine
from kneerules.cli.main import main
from kneerules.model.errors import CaseError
from kneerules.model.records import Assessment

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

VALID_CASES: list[dict[str, Any]] = [
    {"format": "kneerules.case/1", "case_id": "dvt", "patient": {"age": 58, "sex": "male"},
     "onset": "gradual", "side": "left",
     "findings": {"pain.behind_knee": True, "pain.calf": True, "sign.calf_swelling": True,
                  "risk.long_haul_travel": True, "test.dorsiflexion_pain": False},
     "measurements": {"calf_swelling_cm": 3.5}},
    {"case_id": "cyst", "patient": {"age": 45}, "side": "right",
     "findings": {"pain.behind_knee": True, "sign.swelling_behind_knee": True,
                  "worse.bending_knee": True}},
    {"findings": {"pain.behind_knee": True, "injury.twisting": True, "sign.locking": True},
     "measurements": {"pain_score": 6, "temperature_c": 37.2}},
    {},
]

NAMES = ["format", "case_id", "patient", "age", "sex", "onset", "side", "findings",
         "measurements", "sign.redness", "sign.redess", "pain.behind_knee", "calf_swelling_cm",
         "temperature_c", "patient.age", "", "sign.fever"]

scalars = (st.none() | st.booleans() | st.integers() | st.integers(-(10**30), 10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["kneerules.case/1", "male", "left", "sudden", "yes", "true"]))
keys = st.sampled_from(NAMES) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
# What only a Python caller can pass: tuples, sets, bytes, non-string keys.
python_values = st.recursive(
    scalars | st.binary(max_size=8) | st.frozensets(st.integers(), max_size=3),
    lambda inner: (st.tuples(inner, inner)
                   | st.dictionaries(keys | st.integers() | st.none(), inner, max_size=4)),
    max_leaves=15,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    return found


@st.composite
def mutated_cases(draw: st.DrawFn) -> Any:
    """A valid case with a few edits: a value replaced, a key dropped, added or misspelt."""
    case = json.loads(json.dumps(draw(st.sampled_from(VALID_CASES))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(case)))
        if not path:
            continue
        parent = case
        for key in path[:-1]:
            parent = parent[key]
        if not isinstance(parent, dict):
            continue
        key = path[-1]
        action = draw(st.sampled_from(["replace", "drop", "add", "misspell"]))
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "drop":
            del parent[key]
        elif action == "add":
            parent[draw(keys)] = draw(json_values)
        else:
            cut = draw(st.integers(0, max(0, len(key) - 1)))
            parent[key[:cut] + key[cut + 1:]] = parent.pop(key)
    return case


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    """A valid case's JSON text with bytes flipped, inserted or cut."""
    raw = bytearray(json.dumps(draw(st.sampled_from(VALID_CASES))).encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "flip" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif action == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=4)
                              | st.sampled_from([b",", b"}", b"]", b'"', b"NaN", b"1e999", b"[{"]))
        else:
            del raw[at:at + draw(st.integers(1, 5))]
    return bytes(raw)


def _check_case_error(error: CaseError) -> None:
    assert error.problems
    for problem in error.problems:
        assert problem.path.startswith("$")
        assert problem.message
    assert len(set(error.problems)) == len(error.problems)


def _outcome_is_clean(evaluate: Callable[[], Assessment]) -> None:
    """``evaluate`` gives an assessment or a well-formed CaseError, and nothing else."""
    try:
        result: Assessment | CaseError = evaluate()
    except CaseError as error:
        result = error
    if isinstance(result, CaseError):
        _check_case_error(result)
    else:
        assert isinstance(result, Assessment)


def _assess_or_case_error(engine: Engine, value: Any) -> None:
    _outcome_is_clean(lambda: engine.evaluate(value))


def _parse_and_assess(engine: Engine, raw: bytes) -> None:
    _outcome_is_clean(lambda: engine.evaluate(engine.parse(raw)))


@FUZZ
@given(value=json_values)
def test_any_json_value(engine: Engine, value: Any) -> None:
    """An arbitrary JSON value gives an assessment or a CaseError."""
    _assess_or_case_error(engine, value)


@FUZZ
@given(case=mutated_cases())
def test_mutated_case(engine: Engine, case: Any) -> None:
    """A valid case with random edits gives an assessment or a CaseError."""
    _assess_or_case_error(engine, case)


@FUZZ
@given(value=python_values)
def test_any_python_value(engine: Engine, value: Any) -> None:
    """Python values JSON cannot hold (tuples, sets, bytes, non-string keys) give a CaseError."""
    _assess_or_case_error(engine, value)


@FUZZ
@given(raw=mutated_text() | st.binary(max_size=64))
def test_mutated_json_text(engine: Engine, raw: bytes) -> None:
    """Corrupted JSON text or random bytes give an assessment or a CaseError."""
    _parse_and_assess(engine, raw)


@settings(max_examples=40, deadline=None)
@given(raw=mutated_text())
@pytest.mark.slow
def test_cli_never_shows_a_traceback(raw: bytes) -> None:
    """The command answers corrupted input with exit 0 or 1 and never a traceback."""
    result = CliRunner().invoke(main, ["eval", "-"], input=raw)
    assert result.exit_code in (0, 1), result.exception
    assert "Traceback" not in result.stderr
    if result.exit_code == 1:
        assert result.stderr.startswith("<stdin>: $")
