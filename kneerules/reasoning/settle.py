"""Whether an interview's answer is settled: the best and worst case over every question
not yet asked, answers taken together.

An interview may stop only when no way of answering the questions left, however they
combine (yes, no or "don't know" to each), could make the timeframe more pressing or
less, or change which conditions a red flag names (the must-not-miss conditions).
Trying every combination is out of reach (dozens of questions, three answers each), so
this works the bounds out instead, from the rules as data (nothing is guessed from
their text):

- each fact is either *fixed* (answered, or answered "don't know", or out of reach:
  a clinician's question in a patient's interview, a follow-up whose gate can no longer
  hold) or *open*, and then it may take any value it can take, unknown included;
- a condition's possible outcomes (true, false or both) follow from its parts; a
  conclusion (``then.derive``) may hold if some rule deriving it may fire, and must hold
  if one must fire; a score (Wells) lies between the sum of the items that must count
  and the sum of those that may;
- a rule *may* fire when its condition can be true and its ``after`` conclusions can be
  derived, and *must* fire when both are certain.

The outcome is an over-approximation: a combination it calls possible may not be, never
the other way round. So when the most pressing timeframe any rule may set equals the
one the rules that must fire set, and every condition a red flag may name is one a red
flag must name, every way of answering the rest gives the same timeframe and the same
must-not-miss conditions: the interview's verdict is the whole case's.

Facts a plugin computes in Python (``kneerules_case_facts``) are taken as open, since
nothing here can say what they will be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from typing import TYPE_CHECKING, Protocol

import attrs

from kneerules.model.records import FactValue
from kneerules.model.rules import (
    ASKED_KINDS,
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
from kneerules.reasoning.conditions import fact_test_holds

if TYPE_CHECKING:
    from kneerules.model.rules import QuestionSpec


class Knowledge(Protocol):
    """What the bounds are worked out from (a knowledge base, or ``kneerules check``'s
    tables)."""

    @property
    def facts(self) -> Mapping[str, FactSpec]: ...
    @property
    def rules(self) -> Sequence[Rule]: ...
    @property
    def scores(self) -> Sequence[ScoreSpec]: ...
    @property
    def questions(self) -> Mapping[str, QuestionSpec]: ...

Outcomes = frozenset[bool]
TRUE: Outcomes = frozenset({True})
FALSE: Outcomes = frozenset({False})
EITHER: Outcomes = frozenset({True, False})
_MAX_ROUNDS = 32
"""Derivation rounds before an unstable conclusion is taken as either (never reached by
rules that do not test a conclusion's absence)."""


@attrs.frozen
class Outlook:
    """What the answers given so far settle, whatever the rest are."""

    lowest: Timeframe
    """The timeframe the rules that must fire set (routine when none)."""
    highest: Timeframe
    """The most pressing timeframe any rule that may fire sets."""
    must_name: frozenset[str]
    """Conditions a red flag names however the rest is answered."""
    may_name: frozenset[str]
    """Conditions a red flag may name."""
    open_rules: tuple[str, ...]
    """The rules whose firing is still undecided and would change the verdict."""
    relevant: frozenset[str]
    """The open facts those rules read (through conclusions and scores too)."""

    @property
    def settled(self) -> bool:
        return self.lowest == self.highest and self.must_name == self.may_name


def candidate_values(spec: FactSpec | None,
                     bounds: Iterable[float]) -> tuple[FactValue | None, ...]:
    """Values an open fact may take, enough to give each test every outcome it can have:
    unknown, yes and no, each choice, and numbers at and either side of every bound a
    rule compares it with (and its limits)."""
    if spec is None or spec.kind == "finding":
        return (None, True, False)
    if spec.choices:
        return (None, *spec.choices)
    low = spec.minimum if spec.minimum is not None else -1e9
    high = spec.maximum if spec.maximum is not None else 1e9
    values: set[float] = {low, high}
    for bound in bounds:
        for step in (0.0, 0.5, 1.0, -0.5, -1.0):
            values.add(bound + step)
    kept = sorted(v for v in values if low <= v <= high)
    if spec.integer:
        return (None, *dict.fromkeys(float(int(v)) for v in kept if float(v).is_integer()))
    return (None, *kept)


class Settler:
    """Works out an :class:`Outlook` for a knowledge base (built once, reused per answer)."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.facts = knowledge.facts
        self.rules: tuple[Rule, ...] = tuple(knowledge.rules)
        self.scores: dict[str, ScoreSpec] = {s.fact: s for s in knowledge.scores}
        self.derivers: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for name in rule.then.derive:
                self.derivers.setdefault(name, []).append(rule)
        bounds: dict[str, set[float]] = {}
        conditions = [r.when for r in self.rules]
        conditions += [i.when for s in knowledge.scores for i in s.items]
        for condition in conditions:
            for test in _tests(condition):
                for _, bound in test.comparisons():
                    bounds.setdefault(test.fact, set()).add(bound)
        self.candidates = {name: candidate_values(spec, bounds.get(name, ()))
                           for name, spec in self.facts.items() if spec.kind in ASKED_KINDS}
        # Facts no question records nor any rule derives: computed by a plugin's Python.
        self.computed = {name for name, spec in self.facts.items()
                         if spec.kind not in ASKED_KINDS and name not in self.derivers
                         and name not in self.scores}
        self.verdict_rules = tuple(r for r in self.rules if r.then.triage is not None
                                   or (r.then.red_flag is not None
                                       and r.then.red_flag.condition))

    def state(self, known: Mapping[str, FactValue], open_facts: Set[str],
              allowed: Mapping[str, tuple[FactValue | None, ...]] | None = None) -> _State:
        """The possible outcomes of conditions (:meth:`_State.condition`) for these facts;
        ``allowed`` narrows the values an open fact may take."""
        return _State(self, known, open_facts, allowed)

    def outlook(self, known: Mapping[str, FactValue], open_facts: Set[str]) -> Outlook:
        """The bounds for a case whose ``known`` facts are fixed (a fact not in ``known``
        is unknown) and whose ``open_facts`` may still take any value."""
        state = _State(self, known, open_facts)
        lowest, highest = "routine", "routine"
        must_name: set[str] = set()
        may_name: set[str] = set()
        fires: dict[str, Outcomes] = {}
        for rule in self.verdict_rules:
            outcome = state.rule(rule)
            fires[rule.id] = outcome
            if rule.then.triage is not None and rule.then.triage.timeframe is not None:
                timeframe = rule.then.triage.timeframe
                if outcome == TRUE and TIMEFRAME_RANK[timeframe] > TIMEFRAME_RANK[lowest]:
                    lowest = timeframe
                if True in outcome and TIMEFRAME_RANK[timeframe] > TIMEFRAME_RANK[highest]:
                    highest = timeframe
            flag = rule.then.red_flag
            if flag is not None and flag.condition:
                if outcome == TRUE:
                    must_name.add(flag.condition)
                if True in outcome:
                    may_name.add(flag.condition)
        open_rules: list[str] = []
        for rule in self.verdict_rules:
            if fires[rule.id] != EITHER:
                continue
            triage = rule.then.triage
            raises = (triage is not None and triage.timeframe is not None
                      and TIMEFRAME_RANK[triage.timeframe] > TIMEFRAME_RANK[lowest])
            flag = rule.then.red_flag
            names = (flag is not None and bool(flag.condition)
                     and flag.condition in may_name - must_name)
            # A rule that may or may not set the lowest timeframe matters too while the
            # timeframe is open: it is what keeps it from being higher than the lowest.
            if raises or names:
                open_rules.append(rule.id)
        relevant: set[str] = set()
        by_id = {r.id: r for r in self.rules}
        for rule_id in open_rules:
            state.reads(by_id[rule_id], relevant, set())
        return Outlook(lowest, highest, frozenset(must_name), frozenset(may_name),  # type: ignore[arg-type]
                       tuple(open_rules), frozenset(relevant & set(open_facts)))


class _State:
    def __init__(self, settler: Settler, known: Mapping[str, FactValue],
                 open_facts: Set[str],
                 allowed: Mapping[str, tuple[FactValue | None, ...]] | None = None) -> None:
        self.allowed = allowed or {}
        self.s = settler
        self.known = known
        self.open = open_facts
        self.test_cache: dict[FactTest, Outcomes] = {}
        self.derived: Mapping[str, frozenset[bool | None]] = {}
        self._derive()

    def _derive(self) -> None:
        names = list(self.s.derivers)
        self.derived = {name: frozenset({None}) for name in names}
        for _ in range(_MAX_ROUNDS):
            self.test_cache = {k: v for k, v in self.test_cache.items()
                               if k.fact not in self.s.derivers and k.fact not in self.s.scores}
            new: dict[str, frozenset[bool | None]] = {}
            for name in names:
                outcomes = [self.rule(rule) for rule in self.s.derivers[name]]
                values: set[bool | None] = set()
                if any(True in o for o in outcomes):
                    values.add(True)
                if not any(o == TRUE for o in outcomes):
                    values.add(None)
                new[name] = frozenset(values)
            if new == self.derived:
                return
            self.derived = new
        self.derived = {name: frozenset({True, None}) for name in names}
        self.test_cache = {}

    def rule(self, rule: Rule) -> Outcomes:
        outcome = self.condition(rule.when)
        for name in rule.after:
            values = self.derived.get(name, frozenset({None}))
            after = frozenset(v is True for v in values)
            outcome = _and(outcome, after)
        return outcome

    def condition(self, condition: Condition) -> Outcomes:
        if isinstance(condition, FactTest):
            found = self.test_cache.get(condition)
            if found is None:
                found = self.test_cache[condition] = self.test(condition)
            return found
        parts = [self.condition(item) for item in condition.items]
        if isinstance(condition, AllOf):
            out: Outcomes = TRUE
            for part in parts:
                out = _and(out, part)
            return out
        if isinstance(condition, AnyOf):
            out = FALSE
            for part in parts:
                out = _or(out, part)
            return out
        assert isinstance(condition, NoneOf)
        out = FALSE
        for part in parts:
            out = _or(out, part)
        return frozenset(not v for v in out)

    def values(self, fact: str) -> tuple[FactValue | None, ...]:
        if fact in self.s.derivers:
            return tuple(self.derived[fact])
        if fact in self.s.scores:
            return self.score_values(self.s.scores[fact])
        if fact in self.s.computed:
            return (None, True, False, *self.s.candidates.get(fact, ()))
        if fact in self.open:
            if fact in self.allowed:
                return self.allowed[fact]
            return self.s.candidates.get(fact, (None, True, False))
        return (self.known.get(fact),)

    def test(self, test: FactTest) -> Outcomes:
        return frozenset(fact_test_holds(test, {test.fact: v} if v is not None else {})
                         for v in self.values(test.fact))

    def score_values(self, spec: ScoreSpec) -> tuple[FactValue | None, ...]:
        low = high = 0.0
        for item in spec.items:
            outcome = self.condition(item.when)
            if outcome == TRUE or (True in outcome and item.points < 0):
                low += item.points
            if outcome == TRUE or (True in outcome and item.points > 0):
                high += item.points
        # Every value between: the bounds the rules compare with are whole points here.
        values = {low, high}
        step = 0.5
        value = low
        while value < high and len(values) < 200:
            value += step
            values.add(min(value, high))
        return tuple(sorted(values))

    def reads(self, rule: Rule, into: set[str], seen: set[str]) -> None:
        """The facts ``rule`` depends on: its tests, and what its conclusions and scores
        are made of."""
        if rule.id in seen:
            return
        seen.add(rule.id)
        names = [t.fact for t in _tests(rule.when)] + list(rule.after)
        while names:
            name = names.pop()
            if name in self.s.derivers:
                for deriver in self.s.derivers[name]:
                    self.reads(deriver, into, seen)
            elif name in self.s.scores:
                score = self.s.scores[name]
                if score.fact in seen:
                    continue
                seen.add(score.fact)
                for item in score.items:
                    names += [t.fact for t in _tests(item.when)]
            else:
                into.add(name)


Branch = dict[str, tuple[FactValue | None, ...]]


def _branches(condition: Condition, wanted: bool,
              candidates: Mapping[str, tuple[FactValue | None, ...]]) -> list[Branch]:
    """The ways ``condition`` can come out ``wanted``, each as the values its facts may
    then take (one fact's values per test; a branch that needs none is dropped)."""
    if isinstance(condition, FactTest):
        values = tuple(v for v in candidates.get(condition.fact, (None, True, False))
                       if fact_test_holds(condition, {condition.fact: v} if v is not None
                                          else {}) is wanted)
        return [{condition.fact: values}] if values else []
    parts = list(condition.items)
    # all(...) true and any(...) false need every part; the others need one part.
    every = (isinstance(condition, AllOf) and wanted) or (
        isinstance(condition, AnyOf | NoneOf) and not wanted)
    part_wanted = wanted if not isinstance(condition, NoneOf) else not wanted
    if every:
        found: list[Branch] = [{}]
        for part in parts:
            found = [merged for left in found for right in _branches(part, part_wanted, candidates)
                     if (merged := _merge_branches(left, right)) is not None]
        return found
    return [b for part in parts for b in _branches(part, part_wanted, candidates)]


def _merge_branches(left: Branch, right: Branch) -> Branch | None:
    merged = dict(left)
    for fact, values in right.items():
        if fact in merged:
            values = tuple(v for v in merged[fact] if v in values)
            if not values:
                return None
        merged[fact] = values
    return merged


@attrs.frozen
class GateLeak:
    """A follow-up whose gate can be false while its answer still decides a verdict rule:
    the interview would not ask it, and the whole case could say otherwise."""

    question: str
    rule: str
    gate_false: Mapping[str, tuple[FactValue | None, ...]]


def gate_leaks(knowledge: Knowledge) -> list[GateLeak]:
    """Every gated question whose facts can still change whether a verdict rule (one that
    sets a timeframe or names a condition) fires when its gate does not hold. A gate must
    be implied by every such rule, or the stop rule's promise rests on the case keeping
    to the gates."""
    settler = Settler(knowledge)
    everything = frozenset(settler.candidates)
    leaks: list[GateLeak] = []
    seen: set[int] = set()
    for spec in knowledge.questions.values():
        if id(spec) in seen or not spec.gated or spec.gate_why:
            continue
        seen.add(id(spec))
        asked = set(spec.facts)
        for branch in _branches(spec.gate, False, settler.candidates):
            loose = settler.state({}, everything, branch)
            tight = settler.state({}, everything - asked, branch)
            for rule in settler.verdict_rules:
                reads: set[str] = set()
                loose.reads(rule, reads, set())
                if asked & reads and loose.rule(rule) != tight.rule(rule):
                    leaks.append(GateLeak(spec.id, rule.id, branch))
    return leaks


def _tests(condition: Condition) -> Iterable[FactTest]:
    if isinstance(condition, FactTest):
        yield condition
    else:
        for item in condition.items:
            yield from _tests(item)


def _and(a: Outcomes, b: Outcomes) -> Outcomes:
    return frozenset(x and y for x in a for y in b)


def _or(a: Outcomes, b: Outcomes) -> Outcomes:
    return frozenset(x or y for x in a for y in b)


__all__ = ["EITHER", "FALSE", "TRUE", "GateLeak", "Outlook", "Settler", "candidate_values",
           "gate_leaks"]
