"""The engine's advice-safety rules ("Advice under policy v2"), applied to every assessment.

Plugins choose advice; this module decides whether each piece may be given, from
what the advice declares (its kind, timeframes, treatments, ``unsafe_with``) and
what the case shows (the timeframe, the conditions the red flags name, the
findings recorded true). No plugin has to remember the rules: a plugin's RICE
advice is withheld beside a suspected DVT because its kind implies compression,
not because the plugin said so.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from kneerules.knowledge.policy import (
    EMERGENCY_KINDS,
    KIND_TREATMENTS,
    UNSAFE_WHILE_NAMED,
    UNSAFE_WITH_FINDING,
)
from kneerules.model.records import FactValue
from kneerules.model.rules import TIMEFRAME_LEVEL, AdviceSpec, Timeframe


def treatments(spec: AdviceSpec) -> tuple[str, ...]:
    """What the advice tells someone to do: what it lists and what its kind implies."""
    implied = KIND_TREATMENTS.get(spec.kind, ())
    return tuple(dict.fromkeys((*spec.treatments, *implied)))


def unsafe_reason(
    spec: AdviceSpec,
    timeframe: Timeframe,
    named: Collection[str],
    facts: Mapping[str, FactValue],
    done: tuple[str, ...] | None = None,
) -> str | None:
    """Why ``spec`` must not be given for this case, or None when it may be (``done``: its
    :func:`treatments`, when the caller has them worked out already)."""
    if spec.timeframes and timeframe not in spec.timeframes:
        return f"it is for {', '.join(spec.timeframes)}, and the timeframe is {timeframe}"
    if spec.triage is not None and spec.triage != TIMEFRAME_LEVEL[timeframe]:
        return f"it is for the {spec.triage} level"
    if done is None:
        done = treatments(spec)
    if timeframe == "now" and (spec.kind not in EMERGENCY_KINDS or done):
        return "an emergency gets only what keeps the patient safe while help comes"
    for treatment in done:
        for condition in UNSAFE_WHILE_NAMED.get(treatment, ()):
            if condition in named:
                return f"{treatment} is unsafe while {condition} must be excluded"
        for finding in UNSAFE_WITH_FINDING.get(treatment, ()):
            if facts.get(finding) is True:
                return f"{treatment} is unsafe with {finding}"
    for name in spec.unsafe_with:
        if name in named or facts.get(name) is True:
            return f"the advice declares itself unsafe with {name}"
    return None


def safe_advice(
    specs: Iterable[AdviceSpec],
    timeframe: Timeframe,
    named: Collection[str],
    facts: Mapping[str, FactValue],
    done: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[list[AdviceSpec], list[tuple[AdviceSpec, str]]]:
    """The advice that may be given, in order, and what was withheld with the reason
    (``done``: each spec's :func:`treatments` by id, worked out ahead, if at hand)."""
    kept: list[AdviceSpec] = []
    withheld: list[tuple[AdviceSpec, str]] = []
    for spec in specs:
        reason = unsafe_reason(spec, timeframe, named, facts,
                               None if done is None else done[spec.id])
        if reason is None:
            kept.append(spec)
        else:
            withheld.append((spec, reason))
    return kept, withheld
