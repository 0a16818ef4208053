"""The engine's guarantees: priority order, isolation between cases, threads, numbers."""

from __future__ import annotations

import itertools
import random
import resource
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kneerules import Engine, hookimpl, to_json
from kneerules.model.errors import CaseError
from kneerules.model.records import Assessment
from kneerules.model.rules import Conclusions, ConditionInfo, FactSpec, FactTest, Rule
from kneerules.testing import make_test_engine

FINDINGS = [
    "pain.behind_knee", "pain.calf", "pain.sharp", "pain.tightness", "pain.dull_ache",
    "worse.bending_knee", "worse.walking", "worse.tiptoe", "worse.straightening_knee",
    "injury.twisting", "injury.pop", "injury.overstretch", "sign.calf_swelling",
    "sign.redness", "sign.warmth", "sign.knee_swelling", "sign.swelling_behind_knee",
    "sign.locking", "sign.difficulty_straightening", "sign.fever", "sign.pulsatile_mass",
    "sign.breathlessness", "risk.long_haul_travel", "risk.recent_surgery",
    "test.dorsiflexion_pain", "activity.running", "activity.cycling", "sign.morning_stiffness",
]


def random_case(rng: random.Random, case_id: str) -> dict[str, Any]:
    findings = {name: rng.random() < 0.6 for name in rng.sample(FINDINGS, rng.randint(0, 10))}
    case: dict[str, Any] = {"case_id": case_id, "findings": findings}
    if rng.random() < 0.5:
        case["side"] = rng.choice(["left", "right", "both"])
    if rng.random() < 0.5:
        case["onset"] = rng.choice(["sudden", "gradual"])
    if rng.random() < 0.5:
        case["patient"] = {"age": rng.randint(0, 120)}
    if rng.random() < 0.3:
        case["measurements"] = {"calf_swelling_cm": round(rng.uniform(0, 6), 2)}
    return case


def cases(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [random_case(rng, f"case-{i}") for i in range(n)]


def fingerprint(assessment: Assessment) -> str:
    return to_json(assessment, indent=None)


def shuffled(case: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    items = list(case["findings"].items())
    rng.shuffle(items)
    keys = list(case)
    rng.shuffle(keys)
    out = {key: case[key] for key in keys}
    out["findings"] = dict(items)
    return out


def test_trace_follows_priority_whatever_the_fact_order(engine: Engine) -> None:
    """Shuffling the findings never changes the trace, and firing order follows priority."""
    rng = random.Random(1)
    checked = 0
    for case in cases(300):
        reference = engine.evaluate(case)
        for _ in range(3):
            assert fingerprint(engine.evaluate(shuffled(case, rng))) == fingerprint(reference)
        # Rules enabled together fire by priority; a rule can only fire out of priority
        # order when a conclusion derived later enabled it (forward chaining).
        trace = reference.trace
        for earlier, later in itertools.pairwise(trace):
            rule = next(r for r in engine.knowledge.rules if r.id == later.rule)
            if not rule.after:
                assert (earlier.priority, earlier.rule) <= (later.priority, later.rule), (
                    f"{earlier.rule} fired before {later.rule}")
        checked += len(trace)
    assert checked > 300


def test_chained_rule_fires_before_lower_priority_rules(engine: Engine) -> None:
    """A conclusion derived by a rule triggers the rule built on it before lower priorities."""
    assessment = engine.evaluate({
        "side": "left",
        "findings": {"pain.calf": True, "sign.calf_swelling": True, "sign.redness": True},
    })
    fired = [step.rule for step in assessment.trace]
    # dvt.scope is derived from three conclusions; rule 1.4 is built on it.
    assert fired.index("dvt.one_leg") < fired.index("dvt.scope") < fired.index("dvt.swollen_leg")
    assert fired.index("dvt.swollen_leg") < fired.index("general.new_pain_review")
    assert assessment.triage.timeframe == "today"
    assert "dvt.swollen_leg" in assessment.triage.because


@pytest.mark.slow
def test_four_threads_match_a_serial_run(engine: Engine) -> None:
    """Evaluations from 4 threads at once give exactly the serial results, case by case."""
    batch = cases(2000, seed=11)
    serial = [fingerprint(engine.evaluate(case)) for case in batch]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda c: fingerprint(engine.evaluate(c)), batch))
    assert threaded == serial


def test_two_engines_with_different_plugins_in_threads() -> None:
    """Two engines with different plugin sets live in one process and do not interfere."""
    full = Engine()
    without = Engine(disable=["bakers_cyst"])
    case = {"findings": {"pain.behind_knee": True, "sign.swelling_behind_knee": True}}
    expected_full = fingerprint(full.evaluate(case))
    expected_without = fingerprint(without.evaluate(case))
    assert "bakers_cyst" in expected_full
    assert "bakers_cyst" not in expected_without

    errors: list[str] = []

    def hammer(engine: Engine, expected: str) -> None:
        for _ in range(300):
            if fingerprint(engine.evaluate(case)) != expected:
                errors.append("mismatch")

    threads = [threading.Thread(target=hammer, args=(full, expected_full)),
               threading.Thread(target=hammer, args=(without, expected_without)),
               threading.Thread(target=hammer, args=(full, expected_full))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


@pytest.mark.slow
def test_memory_stays_flat_and_no_fact_leaks_between_cases(engine: Engine) -> None:
    """20,000 evaluations keep memory flat, and no case ever sees another case's facts."""
    calm = {"case_id": "calm", "findings": {"pain.behind_knee": True}}
    alarming = {"case_id": "alarm", "side": "left", "findings": {
        "pain.calf": True, "sign.calf_swelling": True, "sign.redness": True,
        "risk.long_haul_travel": True, "sign.fever": True, "sign.knee_swelling": True}}
    calm_print = fingerprint(engine.evaluate(calm))
    alarm_print = fingerprint(engine.evaluate(alarming))
    for _ in range(500):  # warm up allocator pools before the baseline
        engine.evaluate(alarming)
    before = _rss_mib()
    for i in range(10_000):
        assert fingerprint(engine.evaluate(alarming)) == alarm_print, f"alarm case {i}"
        # If any fact of the alarming case lingered, the calm case would be escalated.
        assert fingerprint(engine.evaluate(calm)) == calm_print, f"calm case {i}"
    grown = _rss_mib() - before
    assert grown < 10, f"memory grew by {grown:.1f} MiB over 20,000 evaluations"


@pytest.mark.parametrize(
    ("value", "fires"),
    [
        (0.00001, False),
        (1.9999999, False),  # swelling of the calf starts at 2 cm (policy v3, D2)
        (2, True),
        (2.0000001, True),
        (1e-7, False),
        (19.99999999, True),
    ],
)
def test_numbers_never_reach_durable_rules_in_exponent_form(
    engine: Engine, value: float, fires: bool
) -> None:
    """Tiny and long numbers are compared exactly, never dropped or mis-parsed."""
    assessment = engine.evaluate({
        "side": "left",
        "findings": {"pain.calf": True, "sign.calf_tenderness": True},
        "measurements": {"calf_swelling_cm": value},
    })
    fired = {step.rule for step in assessment.trace}
    assert ("dvt.calf_swollen" in fired) is fires
    # Every fact after the number is still seen: the case still reaches its end.
    assert "general.new_pain_review" in fired


def test_huge_number_is_refused_not_dropped(engine: Engine) -> None:
    """1e16 is out of every measurement's range: an error, never a silently dropped fact."""
    with pytest.raises(CaseError, match=r"calf_swelling_cm"):
        engine.evaluate({"findings": {}, "measurements": {"calf_swelling_cm": 1e16}})


class WidePlugin:
    """A plugin with measurements whose ranges allow very large and very small numbers."""

    name = "wide"

    @hookimpl
    def kneerules_facts(self) -> list[FactSpec]:
        return [FactSpec("wide.count", "measurement", "a big count", minimum=0, maximum=1e18),
                FactSpec("wide.tiny", "measurement", "a tiny amount", minimum=0, maximum=1)]

    @hookimpl
    def kneerules_conditions(self) -> list[ConditionInfo]:
        return [ConditionInfo("wide_thing", "Wide thing", "test", "test")]

    @hookimpl
    def kneerules_rules(self) -> list[Rule]:
        return [
            Rule("wide.big", 500, "big", "test", Conclusions(evidence=(("wide_thing", 1.0),)),
                 when=FactTest("wide.count", gte=1e14)),
            Rule("wide.small", 501, "small", "test", Conclusions(evidence=(("wide_thing", 2.0),)),
                 when=FactTest("wide.tiny", gt=0.0001)),
        ]


def test_huge_and_tiny_numbers_of_a_plugin_fact_compare_exactly() -> None:
    """A plugin measurement accepts 1e16 and 0.00001; both compare exactly, none is dropped."""
    engine = make_test_engine(plugins=[WidePlugin()])
    assessment = engine.evaluate({"findings": {"pain.behind_knee": True},
                                  "measurements": {"wide.count": 1e16, "wide.tiny": 0.00001}})
    fired = {step.rule for step in assessment.trace}
    assert "wide.big" in fired
    assert "wide.small" not in fired
    assert "general.new_pain_review" in fired


def test_more_cases_than_session_slots(engine: Engine) -> None:
    """Far more cases than durable-rules' 1,024-session limit run, each in a clean session."""
    for i in range(2000):
        assessment = engine.evaluate({"case_id": str(i), "findings": {}})
        assert assessment.case_id == str(i)
        assert assessment.triage.level == "routine"


def test_case_id_is_echoed_and_facts_are_copied(engine: Engine) -> None:
    """The case id is echoed; the trace shows the facts each rule matched with their values."""
    assessment = engine.evaluate({"case_id": "abc", "onset": "sudden", "findings": {
        "pain.behind_knee": True, "sign.locking": True, "sign.difficulty_straightening": True}})
    assert assessment.case_id == "abc"
    step = next(s for s in assessment.trace if s.rule == "general.locked_knee")
    assert step.matched == {"sign.locking": True, "sign.difficulty_straightening": True,
                            "general.after_injury": True}
    assert step.concluded == ("general.locked_knee", "triage: urgent (within_48_hours)")
    assert assessment.triage.level == "urgent"
