"""Answers that raise the timeframe only together: the interview's lookahead.

One answer alone may change nothing while two together do: a painful calf and a
red calf, each alone, do not make a swollen calf an emergency; both do. For every
rule that would set a more pressing timeframe and did not fire, this finds a small
set of answers to unknown facts that satisfies its condition (and the conclusions
it waits on, and a score's threshold through its unknown items), then evaluates the
case with them: only a set that really raises the timeframe is kept. ``kneerules
ask`` keeps asking while one remains, so it never stops short of an emergency that
two more yeses would reveal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from kneerules.model.records import Assessment, Case, FactValue
from kneerules.model.rules import (
    TIMEFRAME_RANK,
    AllOf,
    AnyOf,
    Condition,
    FactSpec,
    FactTest,
    NoneOf,
    Rule,
    ScoreSpec,
    Timeframe,
)
from kneerules.reasoning.conditions import fact_test_holds, holds
from kneerules.reasoning.questions import ASKED_KINDS, with_answer

Answers = dict[str, FactValue]
MAX_DEPTH = 4
"""How many derived conclusions deep a rule's ``after`` is followed."""


@attrs.frozen
class Escalation:
    """Answers that together raise the timeframe to ``timeframe`` (checked by evaluation)."""

    answers: Mapping[str, FactValue]
    timeframe: Timeframe
    rule: str


def value_for(test: FactTest, spec: FactSpec) -> FactValue | None:
    """A value of ``spec`` that passes ``test``, or None when no answer can."""
    if test.is_ in ("unknown",):
        return None
    if isinstance(test.is_, bool):
        return test.is_
    if test.equals is not None:
        return test.equals
    if test.in_:
        return test.in_[0]
    comparisons = test.comparisons()
    if not comparisons:
        return True if spec.kind == "finding" else None
    step = 1 if spec.integer else 0.5
    for _, bound in comparisons:
        for value in (bound, bound + step, bound - step):
            number: FactValue = int(value) if spec.integer else value
            low = spec.minimum if spec.minimum is not None else float("-inf")
            high = spec.maximum if spec.maximum is not None else float("inf")
            if low <= value <= high and fact_test_holds(test, {test.fact: number}):
                return number
    return None


class _Solver:
    def __init__(self, facts: Mapping[str, FactValue], vocabulary: Mapping[str, FactSpec],
                 rules: Sequence[Rule], scores: Sequence[ScoreSpec], derived: set[str],
                 skip: set[str]) -> None:
        self.facts = facts
        self.vocabulary = vocabulary
        self.derived = derived
        self.skip = skip
        self.derivers: dict[str, list[Rule]] = {}
        for rule in rules:
            for name in rule.then.derive:
                self.derivers.setdefault(name, []).append(rule)
        self.scores = {spec.fact: spec for spec in scores}

    def rule(self, rule: Rule, given: Answers, depth: int = 0) -> Answers | None:
        """Answers (beyond ``given``) under which ``rule`` fires, or None."""
        found = self.condition(rule.when, given)
        if found is None:
            return None
        for name in rule.after:
            if name in self.derived:
                continue
            if depth >= MAX_DEPTH:
                return None
            options = [self.rule(r, {**given, **found}, depth + 1)
                       for r in self.derivers.get(name, ())]
            usable = [o for o in options if o is not None]
            if not usable:
                return None
            found = _merge(found, min(usable, key=len))
            if found is None:
                return None
        return found

    def condition(self, condition: Condition, given: Answers) -> Answers | None:
        known = {**self.facts, **given}
        if isinstance(condition, FactTest):
            if fact_test_holds(condition, known):
                return {}
            if condition.fact in self.scores:
                return self.score(condition, given)
            spec = self.vocabulary.get(condition.fact)
            if (spec is None or spec.kind not in ASKED_KINDS or condition.fact in known
                    or condition.fact in self.skip):
                return None
            value = value_for(condition, spec)
            return None if value is None else {condition.fact: value}
        if isinstance(condition, AllOf):
            found: Answers | None = {}
            for item in condition.items:
                more = self.condition(item, {**given, **(found or {})})
                found = None if more is None or found is None else _merge(found, more)
                if found is None:
                    return None
            return found
        if isinstance(condition, AnyOf):
            options = [self.condition(item, given) for item in condition.items]
            usable = [o for o in options if o is not None]
            return min(usable, key=len) if usable else None
        # NoneOf: nothing recorded may satisfy an item; an unknown one does not.
        assert isinstance(condition, NoneOf)
        return None if any(holds(item, known) for item in condition.items) else {}

    def score(self, test: FactTest, given: Answers) -> Answers | None:
        """Answers to a score's unknown items that lift it past ``test``'s threshold."""
        spec = self.scores[test.fact]
        known = {**self.facts, **given}
        total = sum(item.points for item in spec.items if holds(item.when, known))
        found: Answers = {}
        for item in sorted(spec.items, key=lambda i: -i.points):
            if fact_test_holds(test, {test.fact: total}):
                return found
            if item.points <= 0 or holds(item.when, {**known, **found}):
                continue
            more = self.condition(item.when, {**given, **found})
            merged = None if more is None else _merge(found, more)
            if merged is not None:
                found = merged
                total += item.points
        return found if fact_test_holds(test, {test.fact: total}) else None


def _merge(first: Answers, second: Answers) -> Answers | None:
    for name, value in second.items():
        if name in first and first[name] != value:
            return None
    return {**first, **second}


def escalations(
    assess: Callable[[Case], Assessment],
    case: Case,
    facts: Mapping[str, FactValue],
    vocabulary: Mapping[str, FactSpec],
    rules: Sequence[Rule],
    scores: Sequence[ScoreSpec] = (),
    skip: Iterable[str] = (),
) -> list[Escalation]:
    """Sets of answers that together raise the timeframe, most pressing and smallest first.

    ``facts`` are the case's facts as the rules see them (scores included)."""
    base = assess(case)
    rank = TIMEFRAME_RANK[base.triage.timeframe]
    fired = {step.rule for step in base.trace}
    derived = {name for rule in rules if rule.id in fired for name in rule.then.derive}
    solver = _Solver(facts, vocabulary, rules, scores, derived, set(skip))
    found: dict[tuple[tuple[str, FactValue], ...], Escalation] = {}
    for rule in rules:
        triage = rule.then.triage
        if (triage is None or rule.id in fired or triage.timeframe is None
                or TIMEFRAME_RANK[triage.timeframe] <= rank):
            continue
        answers = solver.rule(rule, {})
        if not answers:
            continue
        key = tuple(sorted(answers.items(), key=lambda kv: kv[0]))
        if key in found:
            continue
        answered = case
        for name, value in answers.items():
            answered = with_answer(answered, name, value)
        result = assess(answered).triage.timeframe
        if TIMEFRAME_RANK[result] > rank:
            found[key] = Escalation(answers, result, rule.id)
    return sorted(found.values(),
                  key=lambda e: (-TIMEFRAME_RANK[e.timeframe], len(e.answers), e.rule))


__all__ = ["Escalation", "escalations", "value_for"]
