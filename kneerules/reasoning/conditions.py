"""What a condition means, evaluated in Python.

The engine fires rules in durable-rules; this module gives the same meaning in
Python for what durable-rules cannot tell: clinical scores with unknown items
(:mod:`kneerules.reasoning.scores`),
``--why-not`` explanations and the linter. A test checks the two agree.

A test on a fact that is not recorded is not satisfied (except ``is:
unknown``); ``none`` holds when none of its items is satisfied, so a finding
that was not recorded counts as "not present" there. To require that a
finding was looked for and found absent, test ``is: false``.
"""

from __future__ import annotations

from collections.abc import Mapping

from kneerules.model.records import FactValue
from kneerules.model.rules import AllOf, AnyOf, Condition, FactTest, NoneOf

_COMPARE = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def fact_test_holds(test: FactTest, facts: Mapping[str, FactValue]) -> bool:
    value = facts.get(test.fact)
    if test.is_ == "unknown":
        return value is None
    if test.is_ == "known":
        return value is not None
    if value is None:
        return False
    if test.is_ is not None:
        return value is test.is_
    if test.equals is not None:
        return value == test.equals
    if test.in_ is not None:
        return value in test.in_
    comparisons = test.comparisons()
    if comparisons:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return all(_COMPARE[op](value, bound) for op, bound in comparisons)
    return value is True


def holds(condition: Condition, facts: Mapping[str, FactValue]) -> bool:
    """Whether ``condition`` is satisfied by the recorded ``facts``."""
    # Plain loops, not all()/any() over generators: this runs for every score item and
    # applies_when of every case, and the generators cost more than the tests.
    if isinstance(condition, FactTest):
        return fact_test_holds(condition, facts)
    if isinstance(condition, AllOf):
        for item in condition.items:  # noqa: SIM110
            if not holds(item, facts):
                return False
        return True
    wanted = isinstance(condition, AnyOf)
    assert wanted or isinstance(condition, NoneOf)
    for item in condition.items:
        if holds(item, facts):
            return wanted
    return not wanted


def first_failure(condition: Condition, facts: Mapping[str, FactValue]) -> str | None:
    """A readable account of the first part of ``condition`` that is not satisfied."""
    if holds(condition, facts):
        return None
    if isinstance(condition, FactTest):
        value = facts.get(condition.fact)
        shown = "not recorded" if value is None else f"is {value!r}"
        return f"{describe_test(condition)}: {condition.fact} {shown}"
    if isinstance(condition, AllOf):
        for item in condition.items:
            failure = first_failure(item, facts)
            if failure:
                return failure
    if isinstance(condition, AnyOf):
        return "none of: " + "; ".join(describe(item) for item in condition.items)
    if isinstance(condition, NoneOf):
        satisfied = [describe(item) for item in condition.items if holds(item, facts)]
        return "excluded by: " + "; ".join(satisfied)
    return describe(condition)  # pragma: no cover


def describe_test(test: FactTest) -> str:
    if test.is_ in ("unknown", "known"):
        return f"{test.fact} is {test.is_}"
    if test.is_ is False:
        return f"{test.fact} is false"
    if test.equals is not None:
        return f"{test.fact} = {test.equals}"
    if test.in_ is not None:
        return f"{test.fact} in ({', '.join(test.in_)})"
    symbols = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    comparisons = test.comparisons()
    if comparisons:
        return " and ".join(f"{test.fact} {symbols[op]} {bound:g}" for op, bound in comparisons)
    return test.fact


def describe(condition: Condition) -> str:
    if isinstance(condition, FactTest):
        return describe_test(condition)
    word = {AllOf: "all", AnyOf: "any", NoneOf: "none"}[type(condition)]
    return f"{word}({', '.join(describe(item) for item in condition.items)})"
