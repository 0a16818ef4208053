"""The DVT safety plugin: first priority, never lowered, never skipped, fails closed."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kneerules import Engine, hookimpl
from kneerules.cli.main import main
from kneerules.knowledge.dataplugin import DataPlugin
from kneerules.knowledge.plugins import BUILTIN_PLUGINS, get_plugin_manager
from kneerules.model.errors import PluginError, SafetyError
from kneerules.model.rules import LEVEL_RANK, SAFETY_PRIORITY_LIMIT

DVT_FINDINGS = [
    "pain.behind_knee", "pain.calf", "sign.calf_swelling", "sign.whole_leg_swelling",
    "sign.redness", "sign.warmth", "sign.calf_tenderness", "sign.pitting_oedema",
    "sign.visible_superficial_veins", "sign.breathlessness", "sign.chest_pain",
    "risk.long_haul_travel", "risk.recent_surgery", "risk.bedridden", "risk.leg_in_plaster",
    "risk.pregnancy", "risk.active_cancer", "risk.previous_dvt", "risk.obesity",
    "test.dorsiflexion_pain", "test.d_dimer_positive",
]
OTHER_FINDINGS = [
    "sign.fever", "sign.knee_swelling", "sign.swelling_behind_knee", "sign.locking",
    "sign.difficulty_straightening", "sign.unable_to_bear_weight", "injury.pop",
    "injury.twisting", "sign.pulsatile_mass", "worse.bending_knee", "activity.cycling",
    "pain.sharp", "activity.running", "sign.morning_stiffness",
]
TESTS = ["test.dorsiflexion_pain", "test.d_dimer_positive"]
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

cases = st.fixed_dictionaries(
    {"findings": st.dictionaries(st.sampled_from(DVT_FINDINGS + OTHER_FINDINGS), st.booleans(),
                                 max_size=12)},
    optional={
        "side": st.sampled_from(["left", "right", "both"]),
        "onset": st.sampled_from(["sudden", "gradual"]),
        "measurements": st.fixed_dictionaries({}, optional={
            "calf_swelling_cm": st.floats(0, 20, allow_nan=False),
            "temperature_c": st.floats(35, 41, allow_nan=False),
        }),
    },
)


def level(engine: Engine, case: Mapping[str, Any]) -> int:
    return LEVEL_RANK[engine.evaluate(case).triage.level]


def with_finding(case: Mapping[str, Any], name: str, value: bool | None) -> dict[str, Any]:
    findings = dict(case["findings"])
    if value is None:
        findings.pop(name, None)
    else:
        findings[name] = value
    return {**case, "findings": findings}


def _negated(condition: Any, under_none: bool = False) -> set[str]:
    """Facts a condition tests under ``none`` (their presence can switch a rule off)."""
    from kneerules.model.rules import FactTest, NoneOf

    if isinstance(condition, FactTest):
        return {condition.fact} if under_none or condition.is_ is False else set()
    inner = under_none or isinstance(condition, NoneOf)
    return set().union(*(_negated(item, inner) for item in condition.items))


def _narrowing(engine: Engine) -> set[str]:
    """Facts that policy v3 lets remove a DVT suspicion: D5's clear calf-muscle injury (read
    by the Wells score's minus-2 item) and the complements the dvt plugin derives for D5,
    D6 and D6b. Recording them can lower the level by design (v3 replaces "never lower" for
    suspected DVT only)."""
    from kneerules.model.rules import walk_tests

    names: set[str] = set()
    for score in engine.knowledge.scores:
        for item in score.items:
            if item.points < 0:
                names |= {t.fact for t in walk_tests(item.when)}
    for rule in engine.knowledge.rules:
        if any(d.startswith(("dvt.not_", "dvt.no_")) for d in rule.then.derive):
            names |= set(rule.facts())
    return names


def emergency_findings(engine: Engine) -> list[str]:
    """Every finding read by a rule of the safety plugin or a rule that sets emergency, except
    those a policy rule reads as absent (rule 10 needs no acute injury recorded: recording
    one moves the case to the injury rules, which is the policy, not a lowering) and those
    policy v3 lets narrow a DVT suspicion (D5, D6, D6b)."""
    names: set[str] = set()
    negated: set[str] = _narrowing(engine)
    for rule in engine.knowledge.rules:
        triage = rule.then.triage
        if triage is not None:
            negated |= _negated(rule.when)
        if rule.plugin == engine.ruleset.safety or (triage and triage.level == "emergency"):
            names.update(n for n in rule.facts() if engine.knowledge.facts[n].kind == "finding")
    return sorted(names - negated)


@SETTINGS
@given(case=cases, seed=st.integers(0, 2**32 - 1))
def test_level_and_trace_do_not_depend_on_finding_order(engine: Engine, case: dict[str, Any],
                                                        seed: int) -> None:
    """Triage and trace are identical whatever the order of the findings."""
    items = list(case["findings"].items())
    random.Random(seed).shuffle(items)
    a = engine.evaluate(case)
    b = engine.evaluate({**case, "findings": dict(items)})
    assert a.triage == b.triage
    assert a.trace == b.trace


@SETTINGS
@given(case=cases, data=st.data())
def test_adding_an_emergency_finding_never_lowers_the_level(engine: Engine, case: dict[str, Any],
                                                             data: st.DataObject) -> None:
    """Recording any finding of the emergency rules as present never lowers the level."""
    name = data.draw(st.sampled_from(emergency_findings(engine)))
    assert level(engine, with_finding(case, name, True)) >= level(engine, case)


@SETTINGS
@given(case=cases, test=st.sampled_from(TESTS))
def test_a_negative_test_never_lowers_below_the_other_findings(
    engine: Engine, case: dict[str, Any], test: str
) -> None:
    """A negative test never lowers the level below what the other findings require, except
    a negative D-dimer that excludes DVT by D6 (worst-case Wells 1 or less, not pregnant, no
    blood thinner)."""
    without = level(engine, with_finding(case, test, None))
    negative_case = with_finding(case, test, False)
    negative = level(engine, negative_case)
    positive = level(engine, with_finding(case, test, True))
    assert positive >= negative
    if negative < without:
        assert test == "test.d_dimer_positive"
        assessment = engine.evaluate(negative_case)
        worst = next(s for s in assessment.scores if s.id == "wells_worst_case")
        assert worst.score <= 1
        assert not case["findings"].get("risk.pregnancy")
        assert not case["findings"].get("risk.anticoagulant")


@SETTINGS
@given(case=cases)
def test_safety_red_flags_fire_before_any_other_rule(engine: Engine, case: dict[str, Any]
                                                     ) -> None:
    """The safety plugin's red flags fire before any rule of another plugin (after only its
    own definitions); DVT is then must-not-miss."""
    assessment = engine.evaluate(case)
    flag_rules = {f.rule for f in assessment.red_flags if f.rule.startswith("dvt.")}
    steps = [s.rule for s in assessment.trace]
    last = max((steps.index(r) for r in flag_rules), default=-1)
    for step in assessment.trace[: last + 1]:
        assert step.plugin == "dvt"
        assert step.priority < SAFETY_PRIORITY_LIMIT
    if flag_rules:
        entry = next(e for e in assessment.differential if e.condition == "dvt")
        assert entry.must_not_miss
        assert entry.likelihood in ("possible", "likely")
        assert assessment.triage.level in ("emergency", "urgent")


@pytest.mark.parametrize(
    ("findings", "side", "expected"),
    [
        # 1.4: leg pain with swelling of the calf (from 2 cm); 1.5: a red, warm painful calf.
        ({"pain.calf": True, "sign.calf_swelling": True, "sign.warmth": True}, "left",
         "today"),
        ({"pain.calf": True, "sign.redness": True, "sign.warmth": True}, "left", "today"),
        ({"pain.behind_knee": True, "sign.whole_leg_swelling": True,
          "sign.calf_tenderness": True}, None, "today"),
        # 1.3: calf pain with a Wells risk item, long-haul travel or pregnancy.
        ({"pain.calf": True, "sign.calf_swelling": True, "risk.pregnancy": True}, "right",
         "today"),
        ({"pain.calf": True, "test.dorsiflexion_pain": True, "risk.bedridden": True}, "left",
         "today"),
        ({"pain.behind_knee": True, "test.dorsiflexion_pain": True,
          "risk.long_haul_travel": True}, "left", "today"),
        # 1.1: a raised D-dimer.
        ({"pain.behind_knee": True, "test.d_dimer_positive": True}, None, "today"),
        # 1w: calf pain whose only risk factor is weak: a clinician within 48 hours.
        ({"pain.calf": True, "risk.obesity": True}, "left", "within_48_hours"),
        # Both legs with nothing one-sided: not the one-leg routes.
        ({"pain.calf": True, "sign.redness": True, "sign.warmth": True,
          "sign.calf_swelling": False}, "both", "routine"),
        # D3: a swollen calf with "both legs" still counts as one leg.
        ({"pain.calf": True, "sign.calf_swelling": True, "sign.redness": True}, "both",
         "today"),
        # A positive self-test, or calf tenderness, alone is not enough (v3 narrows DVT).
        ({"pain.calf": True, "test.dorsiflexion_pain": True}, "left", "routine"),
        ({"pain.calf": True, "sign.calf_tenderness": True}, "left", "routine"),
        # Phlegmasia: now.
        ({"sign.whole_leg_swelling": True, "sign.cold_pale_foot": True}, "left", "now"),
        # A clot in the lung: breathlessness or chest pain, with or without a leg finding.
        ({"pain.calf": True, "sign.chest_pain": True}, "both", "now"),
        ({"sign.calf_swelling": True, "sign.breathlessness": True}, None, "now"),
        ({"sign.breathlessness": True}, None, "now"),
    ],
)
def test_suspected_dvt_routes(engine: Engine, findings: dict[str, bool], side: str | None,
                              expected: str) -> None:
    """Each branch of policy v3's suspected DVT (rules 1, 1w, 1p), PE, and their boundaries."""
    case: dict[str, Any] = {"findings": findings}
    if side:
        case["side"] = side
    assessment = engine.evaluate(case)
    assert assessment.triage.timeframe == expected
    if expected != "routine":
        assert assessment.red_flags
        named = {f.condition for f in assessment.red_flags}
        assert named & {"dvt", "pulmonary_embolism"}
        assert {e.condition for e in assessment.differential if e.must_not_miss} == named


def test_negative_self_test_advice(engine: Engine) -> None:
    """A negative self-test keeps the same-day DVT pathway and says it rules nothing out."""
    assessment = engine.evaluate({"side": "right", "findings": {
        "pain.calf": True, "sign.calf_swelling": True, "sign.warmth": True,
        "test.dorsiflexion_pain": False}})
    assert (assessment.triage.level, assessment.triage.timeframe) == ("urgent", "today")
    texts = " ".join(a.text for a in assessment.advice)
    assert "does not rule out a DVT" in texts


def test_red_flags_come_first_in_the_trace(engine: Engine) -> None:
    """The DVT red flags are the first conclusions in the trace, before any other plugin."""
    assessment = engine.evaluate({"side": "left", "onset": "sudden", "findings": {
        "pain.calf": True, "sign.calf_swelling": True, "sign.redness": True,
        "injury.twisting": True, "sign.swelling_behind_knee": True, "sign.locking": True}})
    plugins = [s.plugin for s in assessment.trace]
    assert plugins[: plugins.index("general")] == ["dvt"] * plugins.index("general")
    assert "dvt" not in plugins[plugins.index("general"):]


# --- Fails closed ---------------------------------------------------------------------------

def _pm_with_dvt(replacement: object | None) -> Any:
    pm = get_plugin_manager(entry_points=False)
    pm.unregister(name="dvt")
    if replacement is not None:
        pm.register(replacement, name="dvt")
    return pm


def _dvt_data() -> DataPlugin:
    return DataPlugin("dvt", BUILTIN_PLUGINS / "dvt.yaml")


class RaisingAtEvaluation(DataPlugin):
    """The real DVT plugin, except that its per-case hook raises."""

    @hookimpl
    def kneerules_case_facts(self, case: Any, facts: Any) -> Mapping[str, Any]:
        raise RuntimeError("clot detector unplugged")


class RaisingAtLoad(DataPlugin):
    @hookimpl
    def kneerules_rules(self) -> list[Any]:
        raise RuntimeError("rules unavailable")


def test_switching_the_safety_plugin_off_is_refused() -> None:
    """Disabling the safety plugin is an error, not an assessment without it."""
    with pytest.raises(SafetyError, match="safety plugin"):
        Engine(disable=["dvt"])


def test_a_missing_safety_plugin_is_an_error() -> None:
    """Without the safety plugin installed, no engine can be built."""
    with pytest.raises(SafetyError, match="not installed"):
        Engine(plugin_manager=_pm_with_dvt(None))


def test_a_safety_plugin_raising_at_load_is_an_error() -> None:
    """The safety plugin failing to give its rules stops the engine."""
    plugin = RaisingAtLoad("dvt", _dvt_data().data_file)
    with pytest.raises(SafetyError, match="rules unavailable"):
        Engine(plugin_manager=_pm_with_dvt(plugin))


def test_a_safety_plugin_raising_during_evaluation_is_an_error() -> None:
    """The safety plugin failing on a case gives an error, never an assessment."""
    engine = Engine(plugin_manager=_pm_with_dvt(RaisingAtEvaluation("dvt", _dvt_data().data_file)))
    with pytest.raises(SafetyError, match="clot detector unplugged"):
        engine.evaluate({"findings": {"pain.behind_knee": True}})


def test_a_safety_plugin_whose_rules_do_not_compile_is_an_error(tmp_path: Any) -> None:
    """A safety rule reading an undeclared fact stops the engine with a SafetyError."""
    broken = tmp_path / "dvt.yaml"
    text = _dvt_data().data_file.read_text().replace("- test.d_dimer_positive",
                                                     "- test.d_dimer_positiv")
    broken.write_text(text)
    with pytest.raises(SafetyError, match="d_dimer_positiv"):
        Engine(plugin_manager=_pm_with_dvt(DataPlugin("dvt", broken)))


def test_a_safety_plugin_without_rules_is_an_error(tmp_path: Any) -> None:
    """A safety plugin that contributes no rules cannot vouch for the safety check."""
    empty = tmp_path / "dvt.yaml"
    empty.write_text("conditions: []\n")
    with pytest.raises(SafetyError, match="no rules"):
        Engine(plugin_manager=_pm_with_dvt(DataPlugin("dvt", empty)))


class RaisingCondition:
    name = "flaky_condition"

    @hookimpl
    def kneerules_case_facts(self, case: Any, facts: Any) -> Mapping[str, Any]:
        raise ValueError("lookup table missing")


def test_a_raising_plugin_makes_the_assessment_an_error_naming_it() -> None:
    """A non-safety plugin raising during evaluation is an error naming it, not a partial answer."""
    pm = get_plugin_manager(entry_points=False, extra=[RaisingCondition()])
    engine = Engine(plugin_manager=pm)
    with pytest.raises(PluginError, match="flaky_condition") as caught:
        engine.evaluate({"findings": {"pain.behind_knee": True}})
    assert not isinstance(caught.value, SafetyError)
    assert caught.value.plugin == "flaky_condition"


@pytest.mark.parametrize("how", ["option", "env"])
def test_cli_refuses_to_run_without_the_safety_plugin(how: str, tmp_path: Any) -> None:
    """The CLI exits non-zero, with a message and no traceback, when DVT is switched off."""
    case = tmp_path / "case.json"
    case.write_text('{"findings": {"pain.calf": true}}')
    runner = CliRunner()
    if how == "option":
        result = runner.invoke(main, ["eval", str(case), "--disable", "dvt"])
    else:
        result = runner.invoke(main, ["eval", str(case)], env={"KNEERULES_DISABLE": "dvt"})
    assert result.exit_code == 1
    assert "safety plugin" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_unrecorded_calf_swelling_is_not_treated_as_absent(engine: Engine) -> None:
    """Unrecorded calf swelling with a DVT sign gives advice to check the calves (a swollen
    calf would make the tender calf a suspected DVT, today)."""
    case = {"side": "left", "patient": {"age": 58}, "findings": {
        "pain.calf": True, "sign.calf_tenderness": True}}
    assessment = engine.evaluate(case)
    assert assessment.triage.timeframe == "routine"
    assert "dvt.check_calf_swelling" in [a.id for a in assessment.advice]
    swollen = engine.evaluate({**case, "findings": {**case["findings"],
                                                    "sign.calf_swelling": True}})
    assert swollen.triage.timeframe == "today"
    not_swollen = engine.evaluate({**case, "findings": {**case["findings"],
                                                        "sign.calf_swelling": False}})
    assert "dvt.check_calf_swelling" not in [a.id for a in not_swollen.advice]


BENIGN_FINDINGS = [
    "pain.behind_knee", "pain.back_of_thigh", "pain.behind_kneecap", "pain.sharp",
    "pain.dull_ache", "pain.tightness", "pain.at_rest", "worse.walking", "worse.running",
    "worse.kneeling", "worse.bending_knee", "worse.straightening_knee", "worse.stairs_up",
    "worse.stairs_down", "worse.squatting", "worse.standing", "worse.tiptoe",
    "worse.speed_change", "worse.after_sitting", "worse.cold_weather", "injury.twisting",
    "injury.large_force", "injury.hyperextension", "injury.direction_change",
    "injury.overstretch", "injury.overuse", "sign.swelling_behind_knee", "sign.knee_swelling",
    "sign.bruising", "sign.instability", "sign.stiffness", "sign.morning_stiffness",
    "sign.clicking_grinding", "sign.restricted_movement", "sign.difficulty_walking",
    "activity.running", "activity.cycling", "activity.pivoting_sport", "history.knee_arthritis",
    "history.knee_injury",
]

benign_cases = st.fixed_dictionaries(
    {"findings": st.dictionaries(st.sampled_from(BENIGN_FINDINGS), st.booleans(), max_size=15)},
    optional={"side": st.sampled_from(["left", "right", "both"]),
              "onset": st.sampled_from(["sudden", "gradual"]),
              "patient": st.fixed_dictionaries({"age": st.integers(0, 120)})},
)


@SETTINGS
@given(case=benign_cases)
def test_musculoskeletal_findings_alone_follow_the_policy(engine: Engine,
                                                          case: dict[str, Any]) -> None:
    """Musculoskeletal findings raise the level only where policy v3 says (Ottawa, rule 17,
    rule 10, the children's rules...); anything else stays routine with no red flag."""
    from policy_v3 import expected

    level, timeframe, _, _ = expected(case)
    assessment = engine.evaluate(case)
    assert (assessment.triage.level, assessment.triage.timeframe) == (level, timeframe), \
        assessment.triage.because
    if timeframe == "routine":
        assert assessment.red_flags == ()
