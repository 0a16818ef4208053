"""How the data form of a rule's condition (``when``) and evidence is read.

A condition is a fact name, ``{fact: ..., is|equals|in|gt|gte|lt|lte: ...}`` or
``{all|any|none: [...]}``; nothing in it is ever evaluated as code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from kneerules.model.messages import Invalid, describe, did_you_mean, expect, key_path
from kneerules.model.rules import ALWAYS, AllOf, AnyOf, Condition, FactTest, NoneOf

_TEST_KEYS = ("fact", "is", "equals", "in", "gt", "gte", "lt", "lte")
_GROUP_KEYS: dict[str, type[AllOf] | type[AnyOf] | type[NoneOf]] = {
    "all": AllOf,
    "any": AnyOf,
    "none": NoneOf,
}


def structure_condition(value: Any, _: Any = None) -> Condition:
    """A condition from its data form: a fact name, ``{fact: ...}`` or ``{all|any|none: [...]}``."""
    if value is None:
        return ALWAYS
    if isinstance(value, str):
        return FactTest(fact=value)
    if not isinstance(value, Mapping):
        raise expect("a fact name or an object with all, any, none or fact", value)
    groups = [k for k in _GROUP_KEYS if k in value]
    if groups:
        if len(value) != 1:
            others = sorted(k for k in value if k != groups[0])
            raise Invalid([("", f"{groups[0]} must stand alone, found also {others}")])
        key = groups[0]
        items = value[key]
        if not isinstance(items, list):
            raise Invalid([(f".{key}", f"expected a list of conditions, got {describe(items)}")])
        problems: list[tuple[str, str]] = []
        parsed: list[Condition] = []
        for i, item in enumerate(items):
            try:
                parsed.append(structure_condition(item))
            except Invalid as exc:
                problems += [(f".{key}[{i}]{p}", m) for p, m in exc.problems]
        if problems:
            raise Invalid(problems)
        return _GROUP_KEYS[key](tuple(parsed))
    return _structure_fact_test(value)


def _structure_fact_test(value: Mapping[str, Any]) -> FactTest:
    problems: list[tuple[str, str]] = []
    unknown = [k for k in value if k not in _TEST_KEYS]
    for key in unknown:
        hint = did_you_mean(str(key), [*_TEST_KEYS, *_GROUP_KEYS])
        problems.append((key_path("", key), f"unknown operator {describe(key)}{hint}"))
    fact = value.get("fact")
    if not isinstance(fact, str):
        problems.append((".fact", f"expected a fact name, got {describe(fact)}"))
    is_ = value.get("is")
    if "is" in value and is_ not in (True, False, "unknown", "known"):
        problems.append((".is", f"expected true, false, unknown or known, got {describe(is_)}"))
    equals = value.get("equals")
    if "equals" in value and not isinstance(equals, str):
        problems.append((".equals", f"expected a string, got {describe(equals)}"))
    in_ = value.get("in")
    if "in" in value and (
        not isinstance(in_, list) or not in_ or not all(isinstance(v, str) for v in in_)
    ):
        problems.append((".in", f"expected a non-empty list of strings, got {describe(in_)}"))
    numbers: dict[str, float] = {}
    for op in ("gt", "gte", "lt", "lte"):
        if op in value:
            number = value[op]
            if isinstance(number, bool) or not isinstance(number, int | float):
                problems.append((f".{op}", f"expected a number, got {describe(number)}"))
            elif not math.isfinite(number) or (0 < abs(number) < 1e-4) or abs(number) >= 1e15:
                # durable-rules mis-parses numbers printed in exponent form.
                problems.append((f".{op}", f"expected a number from 0.0001 to 1e15, got {number}"))
            else:
                numbers[op] = number
    kinds = sum(1 for k in ("is", "equals", "in") if k in value) + (1 if numbers else 0)
    if kinds > 1:
        problems.append(("", "use only one of is, equals, in, or comparisons (gt, gte, lt, lte)"))
    if problems:
        raise Invalid(problems)
    return FactTest(
        fact=str(fact),
        is_=is_,
        equals=equals,
        in_=tuple(in_) if in_ is not None else None,
        **numbers,
    )


def structure_evidence(value: Any, _: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, Mapping):
        raise expect("an object of condition id to weight", value)
    problems = []
    pairs = []
    for key, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight == 0:
            message = f"expected a non-zero number, got {describe(weight)}"
            problems.append((key_path("", key), message))
        else:
            pairs.append((str(key), float(weight)))
    if problems:
        raise Invalid(problems)
    return tuple(sorted(pairs))
