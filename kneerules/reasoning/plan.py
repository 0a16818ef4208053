"""The compiled plan: what the engine works out once from its knowledge and holds, so that
each case only looks it up (each rule's view, the advice index, each score's tally). It
lives and dies with its engine: nothing is kept process-wide."""

from __future__ import annotations

from collections.abc import Mapping

from kneerules.knowledge.advice_safety import treatments
from kneerules.knowledge.base import KnowledgeBase
from kneerules.model.records import Advice, Evidence, RedFlag
from kneerules.model.rules import ALWAYS, AdviceSpec, Rule
from kneerules.reasoning.chaining import Check, compile_check
from kneerules.reasoning.scores import Tally, compile_tally


def concluded(rule: Rule) -> tuple[str, ...]:
    """A rule's conclusions as short readable strings, for the trace."""
    then = rule.then
    out = list(then.derive)
    if then.red_flag and then.red_flag.id not in out:
        out.append(then.red_flag.id)
    if then.triage:
        out.append(f"triage: {then.triage.level} ({then.triage.timeframe})")
    out += [f"evidence: {cond} {weight:+g}" for cond, weight in then.evidence]
    out += [f"consider: {c}" for c in then.consider]
    out += [f"advise: {a}" for a in then.advise]
    return tuple(out)


class RuleView:
    """What a rule always contributes to an assessment, worked out once per rule rather
    than once per firing. The parts are immutable, so assessments can share them."""

    __slots__ = ("concluded", "evidence", "reads", "red_flag", "rule")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.concluded = concluded(rule)
        # The names the rule reads, each flagged if it is a derived conclusion.
        self.reads = tuple((name, name in rule.after) for name in rule.facts())
        self.evidence = tuple((condition, Evidence(rule.id, rule.because, weight))
                              for condition, weight in rule.then.evidence)
        flag = rule.then.red_flag
        self.red_flag = (None if flag is None
                         else RedFlag(flag.id, flag.condition, rule.id, flag.message))


def _advice(spec: AdviceSpec) -> Advice:
    return Advice(spec.condition, spec.kind, spec.text, spec.id, spec.source, spec.audience)


class AdviceIndex:
    """A knowledge base's advice grouped the ways :func:`select_advice` looks it up, each
    group in the knowledge base's order."""

    def __init__(self, advice: Mapping[str, AdviceSpec]) -> None:
        # Advice is immutable: every assessment can share these objects.
        self.made = {key: _advice(spec) for key, spec in advice.items()}
        self.treatments = {key: treatments(spec) for key, spec in advice.items()}
        # Each advice item's `when`, compiled once (advice without one needs none).
        self.whens: dict[str, Check] = {key: compile_check(spec.when)
                                        for key, spec in advice.items() if spec.when != ALWAYS}
        self.by_level: dict[str, list[AdviceSpec]] = {}
        self.by_timeframe: dict[str, list[AdviceSpec]] = {}
        self.by_condition: dict[str, list[AdviceSpec]] = {}
        self.always = [spec for spec in advice.values() if spec.always]
        for spec in advice.values():
            if spec.always:
                continue
            if spec.condition is not None:
                self.by_condition.setdefault(spec.condition, []).append(spec)
            elif spec.triage is not None:
                self.by_level.setdefault(spec.triage, []).append(spec)
            for timeframe in spec.timeframes if spec.condition is None else ():
                self.by_timeframe.setdefault(timeframe, []).append(spec)



class Plan:
    """Everything an engine works out once from its knowledge base ``kb``."""

    __slots__ = ("__weakref__", "advice", "score_applies", "tallies", "views")

    def __init__(self, kb: KnowledgeBase) -> None:
        self.views = tuple(RuleView(rule) for rule in kb.rules)
        """Each rule's view, by precedence index (the index the runner reports)."""
        self.advice = AdviceIndex(kb.advice)
        self.tallies: tuple[Tally, ...] = tuple(compile_tally(spec) for spec in kb.scores)
        self.score_applies: tuple[Check, ...] = tuple(compile_check(spec.applies_when)
                                                      for spec in kb.scores)
