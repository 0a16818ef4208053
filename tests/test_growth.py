"""No case too big, no failure that lingers, rule sets that can grow (issue 17).

durable-rules is checked against the straight-Python forward chaining of
:mod:`kneerules.reasoning.chaining` (the same rules fired in the same order), on the built-in
rules and on a synthetic rule set of 2,000 more rules written by bench/synthetic.py.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kneerules.reasoning.durable.runner as runner_module
from kneerules import Engine, to_dict
from kneerules.batch.jsonl import assess_lines
from kneerules.model.errors import EngineError
from kneerules.output.assessment_json import assessment_json
from kneerules.reasoning.chaining import PythonChain
from kneerules.reasoning.durable.packing import PACK_RULES
from kneerules.testing import data_plugin, make_test_engine

ROOT = Path(__file__).resolve().parent.parent


def _bench_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def engine() -> Engine:
    return make_test_engine()


def _findings(engine: Engine) -> list[str]:
    return sorted(n for n, s in engine.knowledge.facts.items() if s.kind == "finding")


def _fired_in_python(engine: Engine, case: dict[str, Any]) -> list[str]:
    facts, _ = engine.case_facts(engine.parse(case))
    fired, _ = PythonChain(engine.knowledge.rules).run(facts)
    return [engine.knowledge.rules[i].id for i in fired]


@pytest.mark.parametrize("value", [True, False])
def test_a_case_with_every_finding_recorded_is_assessed(engine: Engine, value: bool) -> None:
    """Every finding of the vocabulary recorded (true, or false) is assessed: no error 303."""
    case = {"findings": dict.fromkeys(_findings(engine), value), "side": "left",
            "measurements": {"calf_swelling_cm": 4}}
    assessment = engine.evaluate(case)
    assert [step.rule for step in assessment.trace] == _fired_in_python(engine, case)
    if value:
        assert assessment.triage.level == "emergency"
        assert len(assessment.trace) > 58


class _Faulty:
    """durable-rules' C module, failing one chosen call while a marked case is evaluated."""

    def __init__(self, real: ModuleType, call: str, marker: str) -> None:
        self._real = real
        self._call = call
        self._marker = marker
        self._armed = False

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._real, name)
        if name == "assert_facts":
            def assert_facts(handle: Any, payload: str) -> Any:
                self._armed = self._marker in payload
                if self._armed and self._call == name:
                    real(handle, payload)  # the case is in the session: then it fails
                    raise RuntimeError("injected failure")
                return real(handle, payload)
            return assert_facts
        if name == self._call:
            def failing(*args: Any) -> Any:
                if self._armed:
                    raise RuntimeError("injected failure")
                return real(*args)
            return failing
        return real


INNOCENT = {"findings": {"pain.behind_knee": True, "sign.swelling_behind_knee": True,
                         "pain.dull_ache": True}, "onset": "gradual"}
MARKED = {"findings": {"pain.behind_knee": True, "sign.calf_swelling": True,
                       "sign.redness": True, "sign.fever": True}, "side": "left"}


@pytest.mark.parametrize("call", ["assert_facts", "complete_and_start_action", "assert_fact",
                                  "retract_facts"])
def test_a_failed_case_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    """A case that fails inside durable-rules (wherever it fails) is an EngineError, and the
    cases after it on the same engine are assessed exactly as on a fresh engine."""
    fresh = make_test_engine()
    expected = [to_dict(fresh.evaluate(case)) for case in (INNOCENT, MARKED)]
    engine = make_test_engine()
    engine.evaluate(MARKED)  # the session has held a case before
    faulty = _Faulty(runner_module.durable_rules_engine, call, '"sign.fever":true')
    monkeypatch.setattr(runner_module, "durable_rules_engine", faulty)
    with pytest.raises(EngineError, match="injected failure"):
        engine.evaluate(MARKED)
    for _ in range(3):
        assert to_dict(engine.evaluate(INNOCENT)) == expected[0]
    monkeypatch.setattr(runner_module, "durable_rules_engine", faulty._real)
    assert to_dict(engine.evaluate(MARKED)) == expected[1]


def test_a_jsonl_batch_goes_on_past_a_case_the_engine_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In a JSON Lines batch, a case durable-rules fails on gets an error record and every
    other line is assessed as it would be alone."""
    engine = make_test_engine()
    cases = [INNOCENT, MARKED, INNOCENT, {"case_id": "x", **MARKED}, INNOCENT]
    expected = [assessment_json(engine.evaluate(case)) for case in cases]
    faulty = _Faulty(runner_module.durable_rules_engine, "complete_and_start_action",
                     '"sign.fever":true')
    monkeypatch.setattr(runner_module, "durable_rules_engine", faulty)
    lines = [json.dumps(case).encode() for case in cases]
    out = list(assess_lines(engine, lines, jobs=1))
    assert [ok for _, ok in out] == [True, False, True, False, True]
    assert [line.decode() for line, ok in out if ok] == [e + "\n" for e in expected[0::2]]
    failed = json.loads(out[3][0])
    assert failed["line"] == 4
    assert failed["case_id"] == "x"
    assert "engine could not assess" in failed["error"]["problems"][0]["message"]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
@pytest.mark.slow
def test_durable_rules_fires_what_python_chaining_fires(engine: Engine, data: st.DataObject,
                                                        ) -> None:
    """On random cases, the built-in rules fire in durable-rules exactly as in straight
    Python: the same rules, the same order, the same derived conclusions."""
    names = _findings(engine)
    chosen = data.draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True))
    case = {"findings": {name: data.draw(st.booleans()) for name in chosen},
            "side": data.draw(st.sampled_from(["left", "right", "both"])),
            "measurements": {"calf_swelling_cm": data.draw(st.sampled_from([0, 2.5, 3, 6]))}}
    facts, _ = engine.case_facts(engine.parse(case))
    firing = engine._runner.run(facts)
    fired, derived_by = PythonChain(engine.knowledge.rules).run(facts)
    assert firing.fired == fired
    assert firing.derived_by == derived_by


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_jsonl_output_is_the_assessment_json(engine: Engine, data: st.DataObject) -> None:
    """The directly written JSON Lines text is byte for byte json.dumps of to_dict."""
    names = _findings(engine)
    chosen = data.draw(st.lists(st.sampled_from(names), max_size=30, unique=True))
    case = {"case_id": data.draw(st.text(max_size=8)),
            "findings": {name: data.draw(st.booleans()) for name in chosen}}
    assessment = engine.evaluate(case)
    assert assessment_json(assessment) == json.dumps(to_dict(assessment), ensure_ascii=False)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, ModuleType]:
    generator = _bench_module("synthetic")
    path = generator.write(tmp_path_factory.mktemp("synthetic") / "synthetic.yaml", 2000)
    return make_test_engine(plugins=[data_plugin(path, "synthetic")]), generator


@pytest.mark.slow
def test_a_2000_rule_set_builds_in_packs(synthetic: tuple[Engine, ModuleType]) -> None:
    """2,000 synthetic rules on top of the built-in ones build (no error 108, no
    MAX_ACTIONS), spread over several durable-rules rulesets of bounded size."""
    engine, _ = synthetic
    runner = engine._runner
    assert len(engine.knowledge.rules) >= 2000
    assert len(runner.packs) > 1
    assert all(len(pack.pack.members) <= PACK_RULES for pack in runner.packs)


@pytest.mark.slow
def test_a_2000_rule_set_agrees_with_python(synthetic: tuple[Engine, ModuleType]) -> None:
    """On 400 random cases the 2,000-rule set fires in durable-rules what straight Python
    fires, in the same order, and a case runs only some of the packs."""
    engine, generator = synthetic
    chain = PythonChain(engine.knowledge.rules)
    cases = generator.random_cases(400, seed=random.Random(8).randrange(1000))
    selected = []
    for case in cases:
        facts, _ = engine.case_facts(engine.parse(case))
        firing = engine._runner.run(facts)
        assert (firing.fired, firing.derived_by) == chain.run(facts)
        selected.append(len(engine._runner.select(facts)))
    assert sum(selected) < len(cases) * len(engine._runner.packs) / 2


def test_jsonl_output_carries_questions_when_asked_for(engine: Engine) -> None:
    """With questions computed, the direct JSON text still equals json.dumps of to_dict."""
    case = engine.parse(json.loads((ROOT / "examples" / "ligament-sprain.json").read_text()))
    assessment = attrs.evolve(engine.evaluate(case), questions=engine.questions(case))
    assert assessment.questions
    text = assessment_json(assessment)
    assert text == json.dumps(to_dict(assessment), ensure_ascii=False)
    assert json.loads(text)["safety_net"] == list(assessment.safety_net)
