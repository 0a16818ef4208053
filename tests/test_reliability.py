"""Issue 16: nothing crashes, hangs, leaks or is lost, whatever the input or plugin does."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kneerules import CaseError, Engine, KneerulesError, PluginError, hookimpl
from kneerules.cli import main
from kneerules.pluginmanager import get_plugin_manager
from kneerules.ruledata import FactSpec

ROOT = Path(__file__).resolve().parent.parent
DVT = json.loads((ROOT / "examples" / "dvt-emergency.json").read_text())


def _engine(*plugins: object) -> Engine:
    return Engine(plugin_manager=get_plugin_manager(entry_points=False, extra=plugins))


# --- 1. reserved names ------------------------------------------------------------------

class FactNamed:
    """A plugin declaring one finding of the given name."""

    def __init__(self, fact: str) -> None:
        self.name = "reserved_probe"
        self.fact = fact

    @hookimpl
    def kneerules_facts(self) -> Sequence[FactSpec]:
        return [FactSpec(self.fact, "finding", "a probe")]


@pytest.mark.parametrize("name", ["sid", "id", "kind", "uid", "case_id", "name", "$s"])
def test_a_fact_named_like_an_engine_attribute_is_refused_at_load(name: str) -> None:
    """A plugin fact called sid (or kind, uid...) is refused when the engine is built."""
    with pytest.raises(KneerulesError, match="reserved"):
        _engine(FactNamed(name))


def test_check_refuses_a_reserved_fact_name(tmp_path: Path) -> None:
    """`kneerules check` reports a fact named sid in a plugin data file."""
    data = tmp_path / "probe.yaml"
    data.write_text("facts:\n  - name: sid\n    kind: finding\n    meaning: a probe\n")
    result = CliRunner().invoke(main, ["check", str(data)])
    assert result.exit_code == 1
    assert 'fact "sid": the name is reserved' in result.output


# --- 4. numbers that are not plain ------------------------------------------------------

class NumpyLikeFloat(float):
    """Prints as numpy 2 prints its float64, which is no JSON."""

    def __repr__(self) -> str:
        return f"np.float64({float(self)!r})"


class LyingFloat(float):
    """Compares as no number does."""

    def __gt__(self, other: object) -> bool:
        return False

    def __ge__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return True

    def __lt__(self, other: object) -> bool:
        return True


class SubInt(int):
    def __repr__(self) -> str:
        return "SubInt()"


@pytest.mark.parametrize("value", [NumpyLikeFloat(3.25), LyingFloat(3.5), SubInt(4)],
                         ids=["numpy-like repr", "lying comparisons", "int subclass"])
def test_number_subclasses_are_judged_as_plain_numbers(engine: Engine, value: float) -> None:
    """A float or int subclass gives the DVT case the same answer as the plain number.

    Before: the numpy-like float crashed the process (segfault in durable-rules)."""
    case = json.loads(json.dumps(DVT))
    case["measurements"]["calf_swelling_cm"] = value
    case["patient"]["age"] = SubInt(58)
    assert engine.evaluate(case).triage.level == "emergency"


class FloatFacts:
    """A plugin computing a fact as a numpy-like float."""

    name = "float_facts"

    @hookimpl
    def kneerules_facts(self) -> Sequence[FactSpec]:
        return [FactSpec("float_facts.ratio", "measurement", "a computed ratio")]

    @hookimpl
    def kneerules_case_facts(self, case: Any, facts: Any) -> Mapping[str, Any]:
        return {"float_facts.ratio": NumpyLikeFloat(0.125)}


def test_a_computed_numpy_like_fact_is_made_plain() -> None:
    """A plugin's computed float subclass reaches the rules as a plain float, no crash."""
    assessment = _engine(FloatFacts()).evaluate(DVT)
    assert assessment.triage.level == "emergency"


# --- 5. a fact too large for durable-rules ---------------------------------------------

def test_a_huge_case_built_in_python_is_a_case_error(engine: Engine) -> None:
    """A 16 MiB case_id (no JSON size limit applies to a dict) is refused, not a segfault."""
    with pytest.raises(CaseError, match="too large for the rules engine"):
        engine.evaluate({"case_id": "x" * (16 * 1024 * 1024 - 64), "findings": {}})


# --- Messages: many misspelt names -------------------------------------------------------

def test_thirty_thousand_misspelt_names_are_reported_quickly(engine: Engine) -> None:
    """30,000 unknown findings give 100 problems and a count of the rest, in well under 50 s."""
    findings = {f"sign.redn{i}": True for i in range(30_000)}
    started = time.monotonic()
    with pytest.raises(CaseError) as caught:
        engine.evaluate({"findings": findings})
    assert time.monotonic() - started < 10
    problems = caught.value.problems
    assert len(problems) == 101
    assert str(problems[-1]) == "$: ... and 29900 more problems not listed"
