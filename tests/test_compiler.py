"""Compiled durable-rules conditions mean exactly what kneerules.reasoning.conditions says."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kneerules import hookimpl
from kneerules.model.rules import (
    AllOf,
    AnyOf,
    Conclusions,
    Condition,
    FactTest,
    NoneOf,
    Rule,
    TriageSpec,
)
from kneerules.reasoning.conditions import holds
from kneerules.reasoning.durable.casefact import json_number
from kneerules.reasoning.durable.compiler import compile_condition
from kneerules.reasoning.durable.runner import DurableRunner, dump_fact

FLAGS = ["f.a", "f.b", "f.c"]
NUMBER = "m.x"
CHOICE = "side"


def random_test(rng: random.Random) -> FactTest:
    kind = rng.randrange(4)
    if kind == 0:
        return FactTest(rng.choice(FLAGS), is_=rng.choice([None, True, False, "unknown", "known"]))
    if kind == 1:
        op = rng.choice(["gt", "gte", "lt", "lte"])
        return FactTest(NUMBER, **{op: rng.choice([0.5, 1, 2.25, 3])})
    if kind == 2:
        return FactTest(CHOICE, equals=rng.choice(["left", "right", "both"]))
    return FactTest(CHOICE, in_=tuple(rng.sample(["left", "right", "both"], rng.randint(1, 2))))


def random_condition(rng: random.Random, depth: int = 0) -> Condition:
    if depth >= 3 or rng.random() < 0.35:
        return random_test(rng)
    group = rng.choice([AllOf, AnyOf, NoneOf])
    return group(tuple(random_condition(rng, depth + 1) for _ in range(rng.randint(1, 3))))


RNG = random.Random(2024)
RULES = tuple(
    Rule(f"r{i:03d}", 100 + i, "test", "test", Conclusions(derive=()), when=random_condition(RNG))
    for i in range(150)
)


@pytest.fixture(scope="module")
def runner() -> DurableRunner:
    return DurableRunner(RULES)


facts_strategy = st.fixed_dictionaries(
    {},
    optional={
        **{name: st.booleans() for name in FLAGS},
        NUMBER: st.sampled_from([0, 0.5, 1, 1.5, 2.25, 3, 4, 0.00001, 2.9999999]),
        CHOICE: st.sampled_from(["left", "right", "both"]),
    },
)


@settings(max_examples=400, deadline=None)
@given(facts=facts_strategy)
def test_durable_rules_fires_exactly_the_rules_python_says_hold(runner: DurableRunner,
                                                              facts: dict[str, Any]) -> None:
    """For 150 random condition trees, durable-rules fires a rule iff logic.holds is true."""
    firing = runner.run(facts, case_id=None)
    fired = {RULES[i].id for i in firing.fired}
    expected = {rule.id for rule in RULES if holds(rule.when, facts)}
    assert fired == expected


def test_empty_condition_always_holds() -> None:
    """A rule without ``when`` compiles to no test at all: it always fires."""
    assert compile_condition(AllOf(())) is None
    assert holds(AllOf(()), {})


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.00001, "0.00001"), (1e16, "10000000000000000"), (3.0, "3"), (2.5, "2.5"),
     (1e-7, "0.0000001"), (12345678.9, "12345678.9"), (7, "7")],
)
def test_numbers_are_written_without_exponents(value: float, text: str) -> None:
    """Numbers are written in plain decimal notation, which durable-rules parses."""
    assert json_number(value) == text
    assert "e" not in dump_fact({"x": value}).lower()


def test_every_condition_within_the_group_budget_compiles() -> None:
    """Any condition the loader accepts (at most 14 nested groups) durable-rules accepts."""
    from kneerules.reasoning.durable.compiler import MAX_NESTED_GROUPS, nested_groups

    rng = random.Random(99)
    accepted = refused = 0
    for i in range(400):
        condition = random_condition(rng, depth=-2)
        rule = Rule(f"deep{i}", 100, "test", "test", Conclusions(derive=()), when=condition)
        if nested_groups(compile_condition(condition)) <= MAX_NESTED_GROUPS:
            DurableRunner((rule,))
            accepted += 1
        else:
            refused += 1
    assert accepted > 100
    assert refused > 10


def test_an_overly_complex_rule_is_refused_at_load() -> None:
    """A rule too deep for durable-rules is refused with its id and a way out, not a crash."""
    from kneerules.model.errors import RuleDataError
    from kneerules.testing import make_test_engine

    nested: Condition = FactTest("pain.calf")
    for i in range(16):
        group = AnyOf if i % 2 else AllOf
        nested = group((nested, FactTest("pain.sharp", is_=bool(i % 3)),
                        NoneOf((FactTest("sign.redness"),))))

    class Deep:
        name = "deep"

        @hookimpl
        def kneerules_rules(self) -> list[Rule]:
            then = Conclusions(triage=TriageSpec("routine", "see a doctor"))
            return [Rule("deep.rule", 500, "because", "source", then, when=nested)]

    with pytest.raises(RuleDataError, match=r'rule "deep.rule".*too complex.*derive and after'):
        make_test_engine(plugins=[Deep()])


@settings(max_examples=300, deadline=None)
@given(facts=facts_strategy)
def test_compiled_python_checks_mean_what_holds_means(facts: dict[str, Any]) -> None:
    """For 150 random condition trees, the compiled Python check agrees with logic.holds."""
    from kneerules.reasoning.chaining import compile_check

    for rule in RULES:
        assert compile_check(rule.when)(facts) == holds(rule.when, facts)
