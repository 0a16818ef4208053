"""The performance shortcuts give exactly what the general code gives."""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kneerules import Engine, Interview
from kneerules.cases.validation import fast_case, parse_case, quick_case
from kneerules.model.converter import structure
from kneerules.model.records import Case
from kneerules.model.rules import walk_tests
from kneerules.reasoning.conditions import holds
from kneerules.reasoning.durable.runner import dump_fact, dump_fact_general
from kneerules.reasoning.scores import compile_tally

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
VALUES = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=5), st.none(), st.lists(st.booleans(), max_size=2))
SCALARS = st.one_of(st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
CASES = st.fixed_dictionaries({}, optional={
    "format": st.one_of(st.just("kneerules.case/1"), VALUES),
    "case_id": st.one_of(st.text(max_size=5), VALUES),
    "patient": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "age": st.one_of(st.integers(-5, 130), VALUES),
        "sex": st.one_of(st.sampled_from(["female", "male", "other", "unknown", "x"]), VALUES),
    }), VALUES),
    "onset": st.one_of(st.sampled_from(["sudden", "gradual", "slow"]), VALUES),
    "side": st.one_of(st.sampled_from(["left", "right", "both"]), VALUES),
    "findings": st.one_of(st.dictionaries(st.sampled_from(["pain.calf", "sign.fever", "x"]),
                                          st.one_of(st.booleans(), VALUES)), VALUES),
    "measurements": st.one_of(st.dictionaries(st.sampled_from(["calf_swelling_cm", "y"]),
                                              st.one_of(st.floats(), st.integers(), VALUES)),
                              VALUES),
})


@settings(max_examples=400, deadline=None)
@given(CASES)
def test_quick_case_builds_what_cattrs_builds(data: dict[str, Any]) -> None:
    """Where the fast case parser answers, cattrs builds an equal Case with equal types."""
    quick = quick_case(data)
    if quick is None:
        return
    slow, problems = structure(data, Case)
    assert problems == []
    assert quick == slow
    assert [type(v) for v in quick.measurements.values()] == [
        type(v) for v in slow.measurements.values()]  # type: ignore[union-attr]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=6), SCALARS, max_size=8))
def test_dump_fact_writes_every_number_in_plain_decimals(fact: dict[str, Any]) -> None:
    """The one-call encoder writes facts exactly as the per-value writer does (no 1e-06)."""
    assert dump_fact(fact) == dump_fact_general(fact)


def _case_fact_as_dict(pack: Any, facts: dict[str, Any], uid: str) -> str:
    """The case fact as the runner built it before it had a compiled writer: a dict, encoded
    (each computed group that holds, as true)."""
    fact: dict[str, Any] = {"kind": "case", "sid": pack.sid, "uid": uid, **pack.bucket_props}
    fact.update({k: v for k, v in facts.items() if k in pack.facts})
    fact.update({name: True for name, check in pack.groups if check(facts)})
    return dump_fact(fact)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_compiled_case_fact_writer_writes_what_the_dict_encoder_writes(
        engine: Engine, data: st.DataObject) -> None:
    """Each pack's generated writer gives the very text of the dict-and-encoder path."""
    pack = engine._runner.packs[0]
    names = [*sorted(pack.facts), "not.read.by.any.rule"]
    facts = data.draw(st.dictionaries(st.sampled_from(names), SCALARS, max_size=30))
    assert pack.write(facts, "u42") == _case_fact_as_dict(pack, facts, "u42")


def test_compiled_case_fact_writer_on_every_example(engine: Engine) -> None:
    """On the shipped examples (computed groups true and false) both paths agree too."""
    pack = engine._runner.packs[0]
    assert pack.groups, "the built-in rule set computes groups in Python"
    for path in sorted(EXAMPLES.glob("*.json")):
        facts, _ = engine.case_facts(engine.parse(path.read_text(encoding="utf-8")))
        assert pack.write(facts, "u1") == _case_fact_as_dict(pack, facts, "u1"), path.name


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_compiled_score_tally_counts_as_the_items_say(engine: Engine, data: st.DataObject) -> None:
    """Each score's generated tally gives, item by item, what the conditions' meaning gives."""
    for spec in engine.knowledge.scores:
        names = sorted({t.fact for item in spec.items for t in walk_tests(item.when)})
        facts = data.draw(st.dictionaries(st.sampled_from(names), SCALARS, max_size=12))
        total, items, unknown = compile_tally(spec)(facts)
        expected_total = 0.0
        for item, result in zip(spec.items, items, strict=True):
            tested = {t.fact for t in walk_tests(item.when)}
            if holds(item.when, facts):
                expected, expected_total = "counted", expected_total + item.points
            elif item.points > 0 and any(facts.get(name) is None for name in tested):
                expected = "unknown"
            else:
                expected = "not_counted"
            assert (result.id, result.status) == (item.id, expected)
        assert total == expected_total
        assert unknown == tuple(r.id for r in items if r.status == "unknown")


def _case_strategy(engine: Engine) -> st.SearchStrategy[dict[str, Any]]:
    """Cases many of which are valid (each field a valid value nine times in ten), with
    wrong types, misspelt and out-of-range names and values mixed in."""
    vocabulary = engine.knowledge.facts
    findings = sorted(n for n, s in vocabulary.items() if s.kind == "finding")[:12]
    measures = sorted(n for n, s in vocabulary.items() if s.kind == "measurement")

    def mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> Any:
        return st.integers(0, 9).flatmap(lambda n: valid if n else invalid)

    return st.fixed_dictionaries({}, optional={
        "format": mostly(st.just("kneerules.case/1"), VALUES),
        "case_id": mostly(st.text(alphabet="abc-1", max_size=4), st.one_of(st.text(max_size=4),
                                                                         VALUES)),
        "patient": mostly(st.fixed_dictionaries({}, optional={
            "age": mostly(st.integers(0, 120), st.one_of(st.integers(-5, 10**400), VALUES)),
            "sex": mostly(st.sampled_from(["female", "male"]), VALUES)}),
            st.one_of(st.none(), VALUES)),
        "onset": mostly(st.sampled_from(["sudden", "gradual"]), VALUES),
        "side": mostly(st.sampled_from(["left", "right", "both"]), VALUES),
        "findings": mostly(st.dictionaries(st.sampled_from(findings), st.booleans()),
                           st.one_of(VALUES, st.dictionaries(
                               st.sampled_from([*findings, *measures, "pain.calff", "é"]),
                               st.one_of(st.booleans(), VALUES)))),
        "measurements": mostly(st.dictionaries(st.sampled_from(measures), st.one_of(
            st.integers(0, 10), st.floats(0, 10), st.floats(30, 45))),
            st.one_of(VALUES, st.dictionaries(
                st.sampled_from([*measures, findings[0], "patient.age"]),
                st.one_of(st.integers(-10, 400), st.integers(10**300), st.floats(), VALUES)))),
    })


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_fast_case_gives_what_the_full_checks_give(engine: Engine, data: st.DataObject) -> None:
    """Where the one-pass case parser answers, the full checks accept the case and build an
    equal Case with values of the same types."""
    raw = data.draw(_case_strategy(engine))
    fast = fast_case(raw, engine.knowledge.facts)
    if fast is None:
        return
    full = parse_case(MappingProxyType(raw), engine.knowledge.facts)  # not a dict: full path
    assert fast == full
    assert [type(v) for v in fast.measurements.values()] == [
        type(v) for v in full.measurements.values()]


def test_fast_case_takes_every_valid_example(engine: Engine) -> None:
    """The shipped examples, all valid, all take the fast path (else it would be dead code)."""
    for path in sorted(EXAMPLES.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert fast_case(raw, engine.knowledge.facts) is not None, path.name


def test_a_dropped_engine_takes_its_compiled_plan_with_it() -> None:
    """What an engine works out once (rule views, advice index, tallies, JSON texts) is
    held by that engine alone: nothing process-wide keeps it after the engine is gone."""
    built = Engine()
    built.json_writer.write(built.evaluate({"findings": {"pain.behind_knee": True}}))
    Interview(built).next_question()  # an interview's settler, held by the engine
    plan, writer = weakref.ref(built.plan), weakref.ref(built.json_writer)
    settler = weakref.ref(built.settler)
    del built
    gc.collect()
    assert (plan(), writer(), settler()) == (None, None, None)
