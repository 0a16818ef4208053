"""The kneerules command as a person uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kneerules import __version__
from kneerules.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "dvt-same-day.json"


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_text_output_puts_the_triage_level_first() -> None:
    """The first line of the text output is the triage level, in capitals."""
    code, out, _ = invoke("eval", str(EXAMPLE))
    assert code == 0
    assert out.splitlines()[0].startswith("URGENT: see a doctor today")  # v3: same-day DVT
    assert "Red flags:" in out
    assert "Trace" not in out
    assert "because of:" not in out  # rule ids are for --explain


def test_explain_shows_the_trace() -> None:
    """--explain adds every fired rule with its plugin, priority, matched facts and reason."""
    code, out, _ = invoke("eval", str(EXAMPLE), "--explain")
    assert code == 0
    assert "Trace (rules in the order they fired):" in out
    assert "dvt.one_leg  [plugin dvt, priority 1]" in out
    assert "because of: " in out
    assert "matched: " in out
    assert "because: " in out


def test_json_output_is_the_assessment_format() -> None:
    """--format json prints one assessment object with the contract's fields."""
    code, out, _ = invoke("eval", str(EXAMPLE), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["format"] == "kneerules.assessment/1"
    for key in ("case_id", "triage", "red_flags", "differential", "advice", "trace", "engine"):
        assert key in data
    assert data["triage"]["level"] == "urgent"
    assert data["triage"]["timeframe"] == "today"
    assert data["trace"][0]["step"] == 1


def test_standard_input() -> None:
    """`-` reads the case from standard input."""
    code, out, _ = invoke("eval", "-", "--format", "json", stdin=EXAMPLE.read_text())
    assert code == 0
    assert json.loads(out)["case_id"] == "example-dvt-after-flight"


def test_several_cases_give_one_json_line_each(tmp_path: Path) -> None:
    """With several cases, --format json prints one assessment per line, in order."""
    other = tmp_path / "other.json"
    other.write_text('{"case_id": "second", "findings": {"pain.behind_knee": true}}')
    code, out, _ = invoke("eval", str(EXAMPLE), str(other), "--format", "json")
    assert code == 0
    lines = out.splitlines()
    assert [json.loads(line)["case_id"] for line in lines] == ["example-dvt-after-flight",
                                                                "second"]


def test_version() -> None:
    """--version prints the version."""
    code, out, _ = invoke("--version")
    assert code == 0
    assert __version__ in out


@pytest.mark.parametrize("command", [[], ["eval"], ["plugins"], ["rulesets"]])
def test_every_command_has_help(command: list[str]) -> None:
    """--help works on every command."""
    code, out, _ = invoke(*command, "--help")
    assert code == 0
    assert "Usage:" in out


def test_missing_file_is_a_usage_error() -> None:
    """A case file that does not exist is a usage error (exit 2), without a traceback."""
    code, _, err = invoke("eval", "/nonexistent/case.json")
    assert code == 2
    assert "does not exist" in err
    assert "Traceback" not in err


def test_why_not_names_the_failing_condition() -> None:
    """--why-not explains the first condition of a rule that did not hold."""
    code, out, _ = invoke("eval", str(EXAMPLE), "--why-not",
                          "joint_infection.fever_hot_swollen_knee")
    assert code == 0, out
    assert "joint_infection.fever_hot_swollen_knee" in out
    assert "general.fever" in out
