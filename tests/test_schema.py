"""`kneerules schema`: JSON Schemas generated from the model and the vocabulary accept every
example and vignette case and every assessment, and reject the malformed-input table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bad_input import MALFORMED

from kneerules import Engine, to_dict
from kneerules.cases.schema import assessment_schema, case_schema
from kneerules.cli.main import main
from kneerules.model.errors import CaseError

ROOT = Path(__file__).resolve().parent.parent
# The copy in tests/, and the shared public set beside the checkout when it is there.
VIGNETTE_DIRS = [ROOT / "tests" / "vignettes", ROOT.parent / "shared" / "vignettes" / "public",
                 ROOT.parent.parent / "shared" / "vignettes" / "public"]


def _cases() -> dict[str, Any]:
    found = {f"examples/{p.name}": json.loads(p.read_text())
             for p in sorted((ROOT / "examples").glob("*.json"))}
    for folder in VIGNETTE_DIRS:
        for path in sorted(folder.glob("*.json")):
            found[f"vignettes/{path.name}"] = json.loads(path.read_text())["case"]
    return found


CASES = _cases()


@pytest.fixture(scope="module")
def validators(engine: Engine) -> tuple[Any, Any]:
    """Validators of the two schemas, themselves checked against the 2020-12 metaschema."""
    found = []
    for schema in (case_schema(engine.vocabulary), assessment_schema(engine.vocabulary)):
        jsonschema.Draft202012Validator.check_schema(schema)
        found.append(jsonschema.Draft202012Validator(schema))
    return found[0], found[1]


def test_there_are_cases_to_check() -> None:
    """The examples and the public vignettes are found (a guard on the paths)."""
    assert sum(name.startswith("vignettes/") for name in CASES) >= 30
    assert sum(name.startswith("examples/") for name in CASES) >= 10


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_case_and_its_assessment_validate(name: str, engine: Engine,
                                                validators: tuple[Any, Any]) -> None:
    """Each example and vignette case validates, and so does the assessment the engine gives."""
    case_validator, assessment_validator = validators
    case_validator.validate(CASES[name])
    assessment_validator.validate(to_dict(engine.evaluate(CASES[name])))


def _strict_json(raw: bytes) -> Any:
    """What a strict JSON parser in any language reads, or ValueError (duplicates, NaN...)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in items}) != len(items):
            raise ValueError("duplicate key")
        return dict(items)

    def constant(name: str) -> Any:
        raise ValueError(name)

    return json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)


def _json_rows() -> list[tuple[str, Any]]:
    rows = []
    for name, raw, _, _ in MALFORMED:
        try:
            rows.append((name, _strict_json(raw)))
        except (ValueError, RecursionError):
            continue  # not JSON at all: a matter for the JSON parser, not for a schema
    return rows


# A limit on the size of the input, or text that is not Unicode (half a surrogate pair, which
# JSON's \u escapes can write): not its shape, so no schema can say it.
BEYOND_A_SCHEMA = {"over 1 MiB", "lone surrogate in case_id"}
ROWS = [(name, data) for name, data in _json_rows() if name not in BEYOND_A_SCHEMA]


def test_most_of_the_malformed_table_is_json() -> None:
    """The table's JSON cases are nearly all here (only syntax errors are left out)."""
    assert len(ROWS) >= 35


@pytest.mark.parametrize(("name", "data"), ROWS, ids=[name for name, _ in ROWS])
def test_the_case_schema_rejects_each_malformed_case(name: str, data: Any,
                                                     validators: tuple[Any, Any]) -> None:
    """Every well-formed JSON case of the malformed-input table breaks the case schema."""
    assert list(validators[0].iter_errors(data)), name


def test_an_assessment_with_a_wrong_level_is_rejected(engine: Engine,
                                                      validators: tuple[Any, Any]) -> None:
    """The assessment schema is no rubber stamp: an unknown triage level breaks it."""
    data = to_dict(engine.evaluate(CASES["examples/dvt-same-day.json"]))
    data["triage"]["level"] = "whenever"
    assert list(validators[1].iter_errors(data))


@pytest.mark.parametrize("change", ["drop the timeframe", "a note as a string"])
def test_timeframe_is_required_and_notes_have_an_id(engine: Engine, validators: tuple[Any, Any],
                                                    change: str) -> None:
    """Policy v2/v3: triage.timeframe is required; a v3 note is {"id", "message"}."""
    data = to_dict(engine.evaluate({"side": "both", "findings": {
        "pain.calf": True, "sign.calf_swelling": True}}))
    assert data["notes"] == [{"id": "input.side_both_one_sided_swelling",
                              "message": data["notes"][0]["message"]}]
    assert not list(validators[1].iter_errors(data))
    if change == "drop the timeframe":
        del data["triage"]["timeframe"]
    else:
        data["notes"] = [data["notes"][0]["message"]]
    assert list(validators[1].iter_errors(data))


@pytest.mark.parametrize("which", ["case", "assessment"])
def test_schema_command_prints_the_schema(which: str, engine: Engine) -> None:
    """`kneerules schema case|assessment` prints the schema for the installed vocabulary."""
    result = CliRunner().invoke(main, ["schema", which])
    assert result.exit_code == 0, result.output
    expected = (case_schema if which == "case" else assessment_schema)(engine.vocabulary)
    assert json.loads(result.output) == expected


NAMES = ["pain.behind_knee", "sign.fever", "temperature_c", "bmi", "pain_score",
         "calf_swelling_cm", "sign.redness", "nonsense", "patient.age"]
SCALARS = (st.none() | st.booleans() | st.integers(-5, 200)
           | st.floats(-5, 200, allow_nan=False).filter(lambda v: not v.is_integer())
           | st.sampled_from(["left", "right", "both", "sudden", "female", "M", "x", ""]))


@st.composite
def case_like(draw: st.DrawFn) -> dict[str, Any]:
    """Objects shaped like cases, often valid, often wrong in one place."""
    data: dict[str, Any] = {}
    for key in draw(st.sets(st.sampled_from(["format", "case_id", "patient", "onset", "side",
                                             "findings", "measurements", "colour"]))):
        if key in ("findings", "measurements"):
            data[key] = draw(st.dictionaries(st.sampled_from(NAMES), SCALARS, max_size=4)
                             | SCALARS)
        elif key == "patient":
            data[key] = draw(st.dictionaries(st.sampled_from(["age", "sex", "agee"]), SCALARS,
                                             max_size=2) | SCALARS)
        elif key == "format":
            data[key] = draw(st.sampled_from(["kneerules.case/1", "kneerules.case/2", 1]))
        else:
            data[key] = draw(SCALARS)
    return data


@settings(max_examples=300, deadline=None)
@given(data=case_like())
def test_the_case_schema_agrees_with_the_parser(data: dict[str, Any]) -> None:
    """For case-shaped input, the schema accepts exactly what `Engine.parse` accepts."""
    try:
        _ENGINE.parse(data)
        parsed = True
    except CaseError:
        parsed = False
    assert _CASE_VALIDATOR.is_valid(data) == parsed, data


_ENGINE = Engine()
_CASE_VALIDATOR = jsonschema.Draft202012Validator(case_schema(_ENGINE.vocabulary))
