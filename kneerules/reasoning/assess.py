"""From the rules that fired to an assessment: triage, red flags, differential, advice, trace.

Everything here is a pure function of the fired rules (in firing order), the
case's facts and the knowledge base, so the same case always gives the same
assessment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kneerules.knowledge.advice_safety import (
    DVT_CAUTION_ADVICE,
    dvt_caution,
    open_conditions,
    safe_advice,
)
from kneerules.knowledge.base import KnowledgeBase
from kneerules.knowledge.policy import (
    CAUTIONS,
    MESSAGE_PRECEDENCE,
    SAFETY_NET_KIND,
    TIMEFRAME_WORDS,
)
from kneerules.model.records import (
    Advice,
    Assessment,
    Case,
    Consideration,
    DifferentialEntry,
    EngineInfo,
    Evidence,
    FactValue,
    Note,
    RedFlag,
    ScoreResult,
    TraceStep,
    Triage,
    make_trace_step,
)
from kneerules.model.rules import (
    TIMEFRAME_LEVEL,
    TIMEFRAME_RANK,
    AdviceSpec,
    Rule,
    ScoreSpec,
    Timeframe,
)
from kneerules.reasoning.chaining import Check
from kneerules.reasoning.differential import rank_differential
from kneerules.reasoning.durable.runner import Firing
from kneerules.reasoning.plan import Plan, RuleView


def build_trace(fired: Sequence[Rule], facts: Mapping[str, FactValue],
                views: Sequence[RuleView]) -> tuple[TraceStep, ...]:
    steps = []
    for number, rule in enumerate(fired, start=1):
        view = views[number - 1]
        matched: dict[str, FactValue] = {}
        for name, derived in view.reads:
            if derived:
                matched[name] = True
            elif name in facts:
                matched[name] = facts[name]
        steps.append(make_trace_step(number, rule.id, rule.plugin, rule.priority, matched,
                                     view.concluded, rule.because, rule.source))
    return tuple(steps)


def _support(rule_index: int, firing: Firing, rules: Sequence[Rule], seen: set[int]) -> None:
    """Adds the rules whose conclusions ``rule_index`` built on, transitively."""
    if rule_index in seen:
        return
    seen.add(rule_index)
    for name in rules[rule_index].after:
        for index in firing.derived_by.get(name, ()):
            _support(index, firing, rules, seen)


def say_timeframe(message: str, timeframe: str) -> str:
    """The triage message, saying its timeframe in words (added if the rule's text does not)."""
    words = TIMEFRAME_WORDS[timeframe]
    key = {"now": "immediate", "today": "today", "within_48_hours": "48 hours",
           "within_2_weeks": "2 weeks"}.get(timeframe, "")
    if not message:
        return words[0].upper() + words[1:] + "."
    if key in message.lower():
        return message
    return f"{message.rstrip('. ')}: {words}."


def decide_triage(firing: Firing, rules: Sequence[Rule]) -> Triage:
    """The most pressing timeframe of every rule that set one; the level follows from it."""
    setting = [i for i in firing.fired if rules[i].then.triage]
    if not setting:
        return Triage("routine", "routine", say_timeframe("", "routine"), ())
    timeframe: Timeframe = max(
        (rules[i].then.triage.timeframe for i in setting),  # type: ignore[union-attr,misc]
        key=TIMEFRAME_RANK.__getitem__)
    at_timeframe = [i for i in setting
                    if rules[i].then.triage.timeframe == timeframe]  # type: ignore[union-attr]
    because: set[int] = set()
    for index in at_timeframe:
        _support(index, firing, rules, because)
    order = {index: step for step, index in enumerate(firing.fired)}
    # Policy v3's message precedence (PE, then DVT, then the rule list) picks the message;
    # rules outside it follow, in firing order.
    first = min(at_timeframe, key=lambda i: (
        PRECEDENCE.get(rules[i].policy or "", len(PRECEDENCE)), order[i]))
    message = rules[first].then.triage.message  # type: ignore[union-attr]
    ids = tuple(rules[i].id for i in sorted(because, key=order.__getitem__))
    return Triage(TIMEFRAME_LEVEL[timeframe], timeframe, say_timeframe(message, timeframe), ids)


PRECEDENCE: dict[str, int] = {rule: n for n, rule in enumerate(MESSAGE_PRECEDENCE)}


def named_conditions(fired: Sequence[Rule]) -> list[str]:
    """The conditions the fired rules' red flags name, in firing order, each once."""
    named: dict[str, None] = {}
    for rule in fired:
        flag = rule.then.red_flag
        if flag is not None and flag.condition:
            named.setdefault(flag.condition, None)
    return list(named)


def leads_of(fired: Sequence[Rule]) -> list[tuple[int, tuple[str, ...]]]:
    """What the fired rules put at the head of the differential (policy v3, R1)."""
    return [(rule.then.leads.rank, rule.then.leads.conditions)
            for rule in fired if rule.then.leads is not None]


def select_advice(
    kb: KnowledgeBase,
    plan: Plan,
    timeframe: Timeframe,
    fired: Sequence[Rule],
    differential: Sequence[DifferentialEntry],
    scores: Sequence[ScoreResult],
    facts: Mapping[str, FactValue],
    named: Sequence[str] | None = None,
) -> tuple[Advice, ...]:
    """Advice for the timeframe, from fired rules, for the conditions the red flags name and
    the leading conditions, from scores, and for every case; in that order, each piece once;
    then only what the advice-safety rules allow (A1-A12: nothing a condition that is open
    makes unsafe), with the cautions of what is advised.
    ``named``: :func:`named_conditions` of ``fired``, if the caller has it."""
    index = plan.advice
    level = TIMEFRAME_LEVEL[timeframe]
    chosen: dict[str, AdviceSpec] = {}
    for spec in (*index.by_timeframe.get(timeframe, ()), *index.by_level.get(level, ())):
        chosen.setdefault(spec.id, spec)
    for rule in fired:
        for advice_id in rule.then.advise:
            chosen.setdefault(advice_id, kb.advice[advice_id])
    if named is None:
        named = named_conditions(fired)
    # Treatment advice for the leading condition and any other that is likely: advice for
    # every merely possible cause buries what matters. In an emergency, only the named.
    leading = [e.condition for rank, e in enumerate(differential)
               if e.likelihood == "likely" or (rank == 0 and e.likelihood == "possible")]
    if level == "emergency":
        leading = [c for c in leading if c in named]
    for condition in dict.fromkeys([*named, *leading[: kb.ruleset.leading]]):
        for spec in index.by_condition.get(condition, ()):
            chosen.setdefault(spec.id, spec)
    for spec in index.always:
        chosen.setdefault(spec.id, spec)
    # A2: whenever compression and massage are withheld for a possible clot, say so.
    if DVT_CAUTION_ADVICE in kb.advice and ("dvt" in named or dvt_caution(facts)):
        chosen.setdefault(DVT_CAUTION_ADVICE, kb.advice[DVT_CAUTION_ADVICE])
    opened = open_conditions(named, differential)
    kept, _ = safe_advice(chosen.values(), timeframe, named, facts, index.treatments,
                          open_=opened, fired=[rule.id for rule in fired], whens=index.whens)
    kept = said_once(kept)
    cautions = [kb.advice[CAUTIONS[t]] for spec in kept for t in index.treatments[spec.id]
                if t in CAUTIONS and CAUTIONS[t] in kb.advice]
    given = {spec.id: index.made[spec.id] for spec in (*kept, *cautions)}
    for result, score_spec, applies in zip(scores, kb.scores, plan.score_applies, strict=True):
        check = score_check_advice(result, score_spec, facts, applies)
        if check is not None:
            given.setdefault(check.id, check)
    return tuple(given.values())


SAID_ONCE: frozenset[str] = frozenset({"rice", "medication"})
"""Advice kinds said once per assessment (A12): RICE for a sprain, for a cartilage tear and
in general are the same advice, and so is "medication can help"."""


def said_once(kept: Sequence[AdviceSpec]) -> list[AdviceSpec]:
    """``kept`` with one piece of advice of each :data:`SAID_ONCE` kind (the first one bound
    to a condition, the leading condition's own words, or the general one if none is), and
    each text once."""
    first: dict[str, AdviceSpec] = {}
    for spec in kept:
        if spec.kind in SAID_ONCE and spec.condition is not None:
            first.setdefault(spec.kind, spec)
    for spec in kept:
        if spec.kind in SAID_ONCE:
            first.setdefault(spec.kind, spec)
    once = [spec for spec in kept if spec.kind not in SAID_ONCE or first[spec.kind] is spec]
    # Two conditions may give the same words (no anti-inflammatory with an infection): once.
    texts: dict[str, AdviceSpec] = {}
    for spec in once:
        texts.setdefault(spec.text, spec)
    return [spec for spec in once if texts[spec.text] is spec]


def score_check_advice(
    result: ScoreResult, spec: ScoreSpec, facts: Mapping[str, FactValue], applies: Check
) -> Advice | None:
    """Advice to check the unknown items when recording them could lift the score a band."""
    if not spec.check_advice or not result.unknown:
        return None
    # result.items are spec.items' results, in order: the same sum as over the unknown ids.
    reachable = result.score + sum(r.points for r in result.items if r.status == "unknown")
    higher = [b for b in spec.bands if result.score < b.at_least <= reachable]
    if not higher or not applies(facts):
        return None
    labels = [item.label for item in spec.items if item.id in result.unknown]
    text = spec.check_advice.replace("{items}", "; ".join(labels))
    return Advice(None, "check", text, f"{spec.id}.check_unknown_items", spec.source,
                  "clinician")


def build_assessment(
    kb: KnowledgeBase,
    plan: Plan,
    case: Case,
    facts: Mapping[str, FactValue],
    scores: Sequence[ScoreResult],
    firing: Firing,
    info: EngineInfo,
) -> Assessment:
    rules = kb.rules
    views = [plan.views[i] for i in firing.fired]
    fired = [view.rule for view in views]
    triage = decide_triage(firing, rules)
    # One pass over the fired rules for what each contributes (in firing order).
    red_flags: list[RedFlag] = []
    named: dict[str, None] = {}
    evidence: dict[str, list[Evidence]] = {}
    considerations: dict[str, Consideration] = {}
    for view in views:
        flag = view.red_flag
        if flag is not None:
            red_flags.append(flag)
            if flag.condition:
                named.setdefault(flag.condition, None)
        for condition, item in view.evidence:
            evidence.setdefault(condition, []).append(item)
        rule = view.rule
        for cid in rule.then.consider:
            spec = kb.considerations[cid]
            considerations.setdefault(cid, Consideration(cid, spec.name, spec.description,
                                                         rule.id, rule.because, spec.source))
    differential = rank_differential(evidence, named, kb, leads_of(fired))
    notes: list[Note] = []
    if not case.findings and not case.measurements:
        notes.append(Note("input.no_findings",
                          "No findings were given: the assessment rests on no clinical "
                          "information. Any new pain behind the knee should be reviewed by a "
                          "doctor."))
    for rule in fired:
        note = rule.then.note
        if note is not None and all(n.id != note.id for n in notes):
            notes.append(Note(note.id, note.message))
    advice = select_advice(kb, plan, triage.timeframe, fired, differential, scores, facts,
                           list(named))
    return Assessment(
        case_id=case.case_id,
        triage=triage,
        red_flags=tuple(red_flags),
        differential=differential,
        advice=advice,
        trace=build_trace(fired, facts, views),
        engine=info,
        considerations=tuple(considerations.values()),
        scores=tuple(scores),
        notes=tuple(notes),
        safety_net=tuple(a.text for a in advice if a.kind == SAFETY_NET_KIND),
    )
