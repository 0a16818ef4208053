"""`kneerules validate FOLDER...`: the report a clinical team runs before a sign-off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kneerules import Engine
from kneerules.cli.main import main
from kneerules.cli.vignettes import robustness, validate

BAKERS = {"patient": {"age": 55}, "onset": "gradual",
          "findings": {"pain.behind_knee": True, "sign.swelling_behind_knee": True,
                       "worse.bending_knee": True}}
CALF_LUNGE = {"patient": {"age": 38}, "onset": "sudden", "side": "left",
              "findings": {"pain.calf": True, "injury.overstretch": True,
                           "worse.tiptoe": True}}
# A suspected DVT with breathlessness: a possible clot in the lung, an emergency (policy v3).
DVT = {"patient": {"age": 60}, "onset": "gradual", "side": "left",
       "findings": {"pain.calf": True, "sign.calf_swelling": True, "sign.redness": True,
                    "risk.long_haul_travel": True, "sign.breathlessness": True}}


def write(folder: Path, name: str, case: dict[str, Any], expect: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"case": case, "expect": expect}))


@pytest.fixture
def passing(tmp_path: Path) -> Path:
    """Three vignettes the default rule set gets right."""
    folder = tmp_path / "passing"
    write(folder, "bakers", BAKERS, {"triage": "routine", "top": ["bakers_cyst"]})
    write(folder, "calf", CALF_LUNGE, {"triage": "routine", "top": ["calf_tear"],
                                       "not_top": ["hamstring_injury"]})
    write(folder, "dvt", DVT, {"triage": "emergency", "top3": ["dvt"],
                               "must_not_miss": ["dvt", "pulmonary_embolism"]})
    return folder


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["validate", *args])


def test_text_report_when_everything_passes(passing: Path) -> None:
    """All expectations met: exit 0, 100 % top-1 and top-3, no under-triage, a confusion row."""
    result = run(str(passing))
    assert result.exit_code == 0, result.output
    assert "Every case passed." in result.output
    assert "top-1 100% (2/2); top-3 100% (3/3)" in result.output
    assert "under-triage 0; over-triage 0; emergency sensitivity 100% (1/1)" in result.output
    assert "Confusion" in result.output
    assert "calf_tear" in result.output


def test_json_report_has_summary_cases_and_confusion(passing: Path) -> None:
    """--format json gives the summary figures, each case and the confusion table."""
    result = run(str(passing), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["format"] == "kneerules.validation/1"
    assert report["summary"]["top1"] == {"ok": 2, "n": 2, "rate": 1.0}
    assert report["summary"]["must_not_miss"]["n"] == 2
    assert report["confusion"] == {"bakers_cyst": {"bakers_cyst": 1},
                                   "calf_tear": {"calf_tear": 1}}
    names = [case["name"] for case in report["cases"]]
    assert names == ["bakers", "calf", "dvt"]
    assert all(case["misses"] == [] for case in report["cases"])


def test_under_triage_exits_1_and_names_the_case(tmp_path: Path) -> None:
    """A case expected urgent that comes out routine is an under-triage: exit 1."""
    folder = tmp_path / "under"
    write(folder, "should-be-urgent", BAKERS, {"triage": "urgent"})
    result = run(str(folder))
    assert result.exit_code == 1
    assert "should-be-urgent: UNDER-TRIAGE: routine, expected urgent" in result.output
    assert "under-triage 1" in result.output


def test_over_triage_and_wrong_top_are_reported_without_failing(tmp_path: Path) -> None:
    """Over-triage and a wrong first condition are misses, but only under-triage fails."""
    folder = tmp_path / "over"
    write(folder, "over", BAKERS, {"triage": "emergency"})
    write(folder, "wrong-top", BAKERS, {"triage": "routine", "top": ["calf_tear"]})
    write(folder, "over2", DVT, {"triage": "routine", "top": ["dvt"]})
    result = run(str(folder), "--format", "json")
    report = json.loads(result.output)
    assert report["summary"]["under_triage"] == 1  # "over": emergency expected
    assert report["summary"]["over_triage"] == 1
    assert report["confusion"]["calf_tear"] == {"bakers_cyst": 1}
    assert result.exit_code == 1


def test_bad_vignette_is_reported_and_the_others_scored(passing: Path) -> None:
    """A vignette that is not JSON, or lacks expect, is an error; the rest are scored."""
    (passing / "broken.json").write_text("{not json")
    (passing / "no-expect.json").write_text(json.dumps({"case": BAKERS}))
    result = run(str(passing), "--format", "json")
    report = json.loads(result.output)
    assert report["summary"]["errors"] == 2
    assert report["summary"]["top1"]["ok"] == 2
    errors = {c["name"]: c["error"] for c in report["cases"] if c["error"]}
    assert errors["no-expect"] == "$.expect: expected an object"
    assert result.exit_code == 1


def test_robustness_names_the_finding_a_case_hinges_on(tmp_path: Path) -> None:
    """Dropping or flipping the swelling behind the knee changes the leader: it is reported."""
    folder = tmp_path / "robust"
    write(folder, "bakers", BAKERS, {"top": ["bakers_cyst"]})
    result = run(str(folder), "--robustness", "--format", "json")
    assert result.exit_code == 0, result.output
    rob = json.loads(result.output)["robustness"]
    case = rob["cases"][0]
    assert case["leading"] == "bakers_cyst"
    assert case["perturbations"] == 6  # three findings, each dropped and flipped
    assert "sign.swelling_behind_knee" in case["hinges_on"]
    assert rob["findings"]["sign.swelling_behind_knee"] == 2
    text = run(str(folder), "--robustness").output
    assert "Robustness" in text
    assert "sign.swelling_behind_knee dropped ->" in text


def test_library_calls_agree_with_the_command(engine: Engine, passing: Path) -> None:
    """validate() and robustness() are the library behind the command."""
    report = validate(engine, [passing])
    assert report["summary"]["passed"] == 3
    rob = robustness(engine, [passing])
    assert rob["perturbations"] == sum(c["perturbations"] for c in rob["cases"])


def test_missing_folder_is_a_usage_error() -> None:
    """A folder that does not exist is refused before anything is scored."""
    result = run("/nonexistent/vignettes")
    assert result.exit_code == 2
