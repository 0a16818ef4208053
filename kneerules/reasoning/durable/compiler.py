"""Rules as data, compiled into one durable-rules ruleset definition.

Each rule becomes one durable-rules rule matching the case fact (a flat
object of every known fact of one case, keyed by vocabulary name) joined with
the derived facts it builds on. Priorities are made unique, so the firing
order is total: durable-rules does not guarantee the order of equal
priorities (upstream issue #190).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kneerules.model.errors import Problem
from kneerules.model.rules import AllOf, AnyOf, Condition, FactSpec, FactTest, NoneOf, Rule

Expr = dict[str, Any]
Action = Callable[[Any], None]

CASE = "case"
DERIVED = "derived"
END = "end"
END_PRIORITY = 65000
RESERVED_NAMES = frozenset({"sid", "id", "kind", "uid", "case_id", "name"})
"""Attributes the engine's facts carry for itself (the session key ``sid``, durable-rules'
fact identity ``id``, the pattern keys ``kind``/``name``, the case's ``uid``/``case_id``).
A plugin fact of one of these names would overwrite it in the case fact: a fact named
``sid`` put every case in a session of its own that was never deleted (issue 16.1). Names
starting with ``$`` are durable-rules' own (``$s`` marks a session's state)."""


def reserved_name(name: str) -> bool:
    """Whether a fact may not be called ``name`` (see :data:`RESERVED_NAMES`; also the
    bucket tests ``g<n>`` and computed group facts ``_group<n>`` of the packing)."""
    return (name in RESERVED_NAMES or name.startswith(("$", "_group"))
            or (name[:1] == "g" and name[1:].isdigit()))


_NEGATED_OP = {"gt": "$lte", "gte": "$lt", "lt": "$gte", "lte": "$gt"}


MAX_NESTED_GROUPS = 14
"""durable-rules 2.0.28 holds at most 32 expressions per pattern (MAX_SEQUENCE_EXPRESSIONS,
error 113 "expression limit exceeded"); every nested $and/$or costs two, so no more than
14 fit (measured). Tests and leaves of a flat group cost nothing against this limit."""


def _group(operator: str, exprs: list[Expr]) -> Expr:
    # Nested groups are what durable-rules' expression limit counts, so merge a group into
    # its parent of the same kind ((a or (b or c)) is (a or b or c)).
    flat: list[Expr] = []
    for expr in exprs:
        flat.extend(expr[operator] if set(expr) == {operator} else [expr])
    return flat[0] if len(flat) == 1 else {operator: flat}


def _either(exprs: list[Expr]) -> Expr:
    return _group("$or", exprs)


def _both(exprs: list[Expr]) -> Expr:
    return _group("$and", exprs)


def nested_groups(expr: Expr | None) -> int:
    """How many $and/$or groups a compiled condition nests below its top level."""

    def count(node: Any) -> int:
        if isinstance(node, dict) and len(node) == 1:
            (key, value), = node.items()
            if key in ("$and", "$or"):
                return 1 + sum(count(child) for child in value)
        return 0

    if expr is None:
        return 0
    return count(expr) - (1 if set(expr) == {"$and"} else 0)


def _missing(name: str) -> Expr:
    return {"$nex": {name: 1}}


def compile_test(test: FactTest) -> Expr:
    name = test.fact
    if test.is_ == "unknown":
        return _missing(name)
    if test.is_ == "known":
        return {"$ex": {name: 1}}
    if test.is_ is not None:
        return {name: test.is_}
    if test.equals is not None:
        return {name: test.equals}
    if test.in_ is not None:
        return _either([{name: value} for value in test.in_])
    comparisons = test.comparisons()
    if comparisons:
        return _both([{f"${op}": {name: bound}} for op, bound in comparisons])
    return {name: True}


def negate_test(test: FactTest) -> Expr:
    """Satisfied exactly when ``test`` is not; an unrecorded fact satisfies no test."""
    name = test.fact
    if test.is_ == "unknown":
        return {"$ex": {name: 1}}
    if test.is_ == "known":
        return _missing(name)
    if test.is_ is not None:
        return _either([{name: not test.is_}, _missing(name)])
    if test.equals is not None:
        return _either([{"$neq": {name: test.equals}}, _missing(name)])
    if test.in_ is not None:
        return _either([_both([{"$neq": {name: v}} for v in test.in_]), _missing(name)])
    comparisons = test.comparisons()
    if comparisons:
        return _either([{_NEGATED_OP[op]: {name: bound}} for op, bound in comparisons]
                       + [_missing(name)])
    return _either([{name: False}, _missing(name)])


def compile_condition(condition: Condition, negate: bool = False) -> Expr | None:
    """The durable-rules expression of ``condition``; ``None`` means always satisfied."""
    if isinstance(condition, FactTest):
        return negate_test(condition) if negate else compile_test(condition)
    if isinstance(condition, NoneOf):
        return compile_condition(AnyOf(condition.items), negate=not negate)
    conjunctive = isinstance(condition, AllOf) != negate
    parts = [compile_condition(item, negate) for item in condition.items]
    if conjunctive:
        kept = [p for p in parts if p is not None]
        return _both(kept) if kept else None
    if any(p is None for p in parts):
        return None
    if not parts:  # an empty "any" can never hold; the linter refuses it earlier
        return {"kind": "__never__"}
    return _either([p for p in parts if p is not None])


def compile_rule(rule: Rule, bucket: int | None = None) -> Expr:
    """One rule's patterns: the case fact (behind its bucket's test, see
    :mod:`kneerules.reasoning.durable.packing`) joined with the derived facts it builds on."""
    expr = compile_condition(rule.when)
    tests: list[Expr] = [{"kind": CASE}]
    if bucket is not None:
        tests.append({bucket_name(bucket): 1})
    if expr is not None:
        tests.append(expr)
    patterns: list[Expr] = [{CASE: _both(tests)}]
    for index, name in enumerate(rule.after):
        patterns.append({f"d{index}": {"$and": [{"kind": DERIVED}, {"name": name}]}})
    return {"all": patterns}


def bucket_name(bucket: int) -> str:
    """The case-fact property, always 1, that a bucket's rules test first."""
    return f"g{bucket}"


def compile_ruleset(rules: Sequence[Rule], members: Sequence[int] | None = None,
                    buckets: Sequence[int] | None = None) -> dict[str, Expr]:
    """The ruleset definition (without actions) for ``durable_rules_engine.create_ruleset``.

    ``rules`` must already be in firing precedence; rule ``i`` is named ``r{i}`` and gets
    priority ``i + 1``. ``members`` picks the rules of one pack (default: all), and
    ``buckets`` gives each member's bucket (default: none). The end marker's rule fires
    last.
    """
    if len(rules) >= END_PRIORITY - 1:
        raise ValueError(f"too many rules ({len(rules)}) for durable-rules' 16-bit priorities")
    chosen = range(len(rules)) if members is None else members
    definition: dict[str, Expr] = {}
    for position, index in enumerate(chosen):
        compiled = compile_rule(rules[index], None if buckets is None else buckets[position])
        compiled["pri"] = index + 1
        definition[f"r{index}"] = compiled
    definition["end"] = {"all": [{"m": {"kind": END}}], "pri": END_PRIORITY}
    # Without a rule accepting them, durable-rules refuses facts no condition matches
    # (MessageNotHandledException); a join with a partner that never exists accepts any
    # case or derived fact without running Python.
    definition["sink"] = {
        "all": [
            {"x": {"$or": [{"kind": CASE}, {"kind": DERIVED}]}},
            {"never": {"kind": "__never__"}},
        ],
    }
    return definition


def check_fact(spec: FactSpec) -> list[Problem]:
    """A fact named like one of the engine's own attributes would overwrite it."""
    if reserved_name(spec.name):
        reserved = ", ".join(sorted(RESERVED_NAMES))
        return [Problem(f'fact "{spec.name}"', f"the name is reserved for the engine ({reserved} "
                        "and names starting with $); give the fact a dotted name such as "
                        f'"sign.{spec.name.lstrip("$")}"')]
    return []


def check_rule(rule: Rule, where: str) -> list[Problem]:
    """A condition durable-rules cannot hold (too many nested groups once compiled)."""
    groups = nested_groups(compile_condition(rule.when))
    if groups > MAX_NESTED_GROUPS:
        return [Problem(where, f"condition too complex for durable-rules: {groups} nested "
                        f"all/any/none groups once compiled, at most {MAX_NESTED_GROUPS}; "
                        "split it into rules chained with derive and after")]
    return []
