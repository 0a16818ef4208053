"""The engine's advice-safety rules ("Advice under policy v3", A1-A12), applied to every
assessment.

Plugins choose advice; this module decides whether each piece may be given, from
what the advice declares (its kind, condition, timeframes, treatments, ``unsafe_with``,
``when``) and what the case shows (the timeframe, the conditions that are *open*, the
rules that fired, the findings recorded). No plugin has to remember the rules: a
plugin's RICE advice is withheld beside a possible fracture because its kind implies
compression and the fracture is open, not because the plugin said so.

A condition is *open* when a rule names it or the differential lists it as likely or
possible; DVT and PE are open only when a rule names them (so that the advice and the
timeframe agree). When DVT is not open, leg pain with a VTE risk factor, calf
tenderness or swelling of the calf still gets no compression or massage (A2).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from kneerules.knowledge.policy import (
    EMERGENCY_KINDS,
    KIND_TREATMENTS,
    UNSAFE_WHILE_NAMED,
    UNSAFE_WITH_FINDING,
)
from kneerules.model.records import DifferentialEntry, FactValue
from kneerules.model.rules import ALWAYS, TIMEFRAME_LEVEL, AdviceSpec, Timeframe, Treatment

WhenCheck = Callable[[Mapping[str, FactValue]], bool]
"""An advice item's ``when``, compiled (the reasoning layer compiles it once per engine)."""

OPEN_LIKELIHOODS = frozenset({"likely", "possible"})

NAMED_ONLY: frozenset[str] = frozenset({"dvt", "pulmonary_embolism"})
"""Conditions open only while a rule names them, whatever the differential says."""

_CLOT: tuple[Treatment, ...] = ("compression", "massage", "exercise", "stretching")
_INFECTION: tuple[Treatment, ...] = ("heat", "exercise", "compression", "anti_inflammatory")
_THREATENED_LEG: tuple[Treatment, ...] = ("elevation", "ice", "heat", "compression")
_NO_WALKING: tuple[Treatment, ...] = ("walking", "exercise", "stretching")

UNSAFE_WHILE_OPEN: dict[str, tuple[Treatment, ...]] = {
    "dvt": _CLOT,  # A2
    "pulmonary_embolism": _CLOT,  # A2: a clot that has reached the lung
    "joint_infection": _INFECTION,  # A3 (an anti-inflammatory could mask the fever)
    "cellulitis": _INFECTION,  # A3
    "compartment_syndrome": _THREATENED_LEG,  # A4
    "limb_ischaemia": _THREATENED_LEG,  # A4
    "popliteal_aneurysm": ("drainage", "pressure", "massage", "compression"),  # A5
    # A6, A8: not yet X-rayed (the case format records no X-ray): paracetamol instead.
    "knee_fracture": ("brace", "exercise", "stretching", "walking", "anti_inflammatory"),
    "knee_dislocation": _NO_WALKING,  # A7
    "extensor_mechanism_rupture": _NO_WALKING,  # A7
    "hamstring_avulsion": _NO_WALKING,  # A7
    "tumour": ("massage", "heat", "drainage"),  # A9
}
"""(policy v3, A2-A9) Treatments never advised while the condition is open."""

ADVICE_WITHHELD_WHILE_OPEN: dict[str, tuple[str, ...]] = {
    "popliteal_aneurysm": ("bakers_cyst",),  # A5: no Baker's-cyst treatment text
    "knee_fracture": ("ligament_sprain",),  # A6: no sprain advice
}
"""While the key is open, no advice given for these conditions at all (what they would
treat may be the open condition itself)."""

DVT_CAUTION: tuple[Treatment, ...] = ("compression", "massage")
"""A2, DVT not open: leg pain with a VTE risk factor, calf tenderness or a swollen calf."""

VTE_RISK_FACTORS: tuple[str, ...] = (
    "risk.recent_surgery", "risk.bedridden", "risk.leg_in_plaster", "risk.long_haul_travel",
    "risk.active_cancer", "risk.previous_dvt", "risk.pregnancy", "risk.hormonal_therapy",
    "risk.obesity", "risk.family_history_clots")
"""D4 (with ``bmi`` 30 or more)."""

DVT_CAUTION_ADVICE = "dvt.no_compression_or_massage"
"""The advice that says so, added by the engine whenever A2 withholds compression."""

EMERGENCY_TREATMENTS: frozenset[str] = frozenset({"keep_level"})
"""What an emergency may advise doing: keeping the leg at heart level (A1, A4)."""

PHLEGMASIA_RULES: frozenset[str] = frozenset({"dvt.phlegmasia", "limb_ischaemia.phlegmasia"})
"""Rule 1p: the whole leg swollen with a cold, pale or blue foot. A4 does not apply (the
leg is raised as part of hospital care): no keep-level advice, only keep still."""


def treatments(spec: AdviceSpec) -> tuple[str, ...]:
    """What the advice tells someone to do: what it lists and what its kind implies."""
    implied = KIND_TREATMENTS.get(spec.kind, ())
    return tuple(dict.fromkeys((*spec.treatments, *implied)))


def open_conditions(named: Collection[str],
                    differential: Iterable[DifferentialEntry] = ()) -> frozenset[str]:
    """The conditions that are open: named by a rule, or listed likely or possible (DVT and
    PE only when named)."""
    listed = {e.condition for e in differential
              if e.likelihood in OPEN_LIKELIHOODS and e.condition not in NAMED_ONLY}
    return frozenset(named) | frozenset(listed)


def _true(facts: Mapping[str, FactValue], name: str) -> bool:
    return facts.get(name) is True


def _at_least(facts: Mapping[str, FactValue], name: str, limit: float) -> bool:
    value = facts.get(name)
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= limit


def calf_swelling(facts: Mapping[str, FactValue]) -> bool:
    """D2: a swollen calf or whole leg, or a calf measured 2 cm or more bigger."""
    return (_true(facts, "sign.calf_swelling") or _true(facts, "sign.whole_leg_swelling")
            or _at_least(facts, "calf_swelling_cm", 2))


def vte_risk_factor(facts: Mapping[str, FactValue]) -> bool:
    """D4: a VTE risk factor recorded."""
    return any(_true(facts, name) for name in VTE_RISK_FACTORS) or _at_least(facts, "bmi", 30)


def dvt_caution(facts: Mapping[str, FactValue]) -> bool:
    """A2's narrower reading: leg pain with a VTE risk factor, calf tenderness or a swollen
    calf (a swollen or tender calf counts even without pain: no compression either way)."""
    leg_pain = _true(facts, "pain.behind_knee") or _true(facts, "pain.calf")
    return ((leg_pain and vte_risk_factor(facts)) or _true(facts, "sign.calf_tenderness")
            or calf_swelling(facts))


def unsafe_reason(
    spec: AdviceSpec,
    timeframe: Timeframe,
    named: Collection[str],
    facts: Mapping[str, FactValue],
    done: tuple[str, ...] | None = None,
    *,
    open_: Collection[str] | None = None,
    fired: Collection[str] = (),
    when: WhenCheck | None = None,
) -> str | None:
    """Why ``spec`` must not be given for this case, or None when it may be.

    ``named``: the conditions the fired rules name; ``open_``: the open conditions
    (:func:`open_conditions`; ``named`` when not given); ``fired``: the ids of the rules that
    fired; ``done``: the spec's :func:`treatments`, when the caller has them already;
    ``when``: the spec's ``when`` compiled (advice with a ``when`` and no check is withheld:
    what it is written for was not shown)."""
    if spec.timeframes and timeframe not in spec.timeframes:
        return f"it is for {', '.join(spec.timeframes)}, and the timeframe is {timeframe}"
    if spec.triage is not None and spec.triage != TIMEFRAME_LEVEL[timeframe]:
        return f"it is for the {spec.triage} level"
    if spec.when != ALWAYS and (when is None or not when(facts)):
        return "the case does not show what it is written for (its when)"
    opened = frozenset(named) if open_ is None else frozenset(open_)
    if spec.condition is not None and spec.condition in NAMED_ONLY and spec.condition not in named:
        return f"it is {spec.condition} advice and no rule names {spec.condition}"
    if done is None:
        done = treatments(spec)
    if timeframe == "now" and (spec.kind not in EMERGENCY_KINDS
                               or any(t not in EMERGENCY_TREATMENTS for t in done)):
        return "an emergency gets only what keeps the patient safe while help comes"
    if "keep_level" in done and PHLEGMASIA_RULES.intersection(fired):
        return "with phlegmasia the leg is raised in hospital: only keep still (A4)"
    for condition in opened:
        for forbidden in UNSAFE_WHILE_OPEN.get(condition, ()):
            if forbidden in done:
                return f"{forbidden} is unsafe while {condition} is open"
        if spec.condition in ADVICE_WITHHELD_WHILE_OPEN.get(condition, ()):
            return f"{spec.condition} advice is not given while {condition} is open"
    for treatment in done:
        for condition in UNSAFE_WHILE_NAMED.get(treatment, ()):
            if condition in named:
                return f"{treatment} is unsafe while {condition} must be excluded"
        for finding in UNSAFE_WITH_FINDING.get(treatment, ()):
            if facts.get(finding) is True:
                return f"{treatment} is unsafe with {finding}"
    if "dvt" not in named and dvt_caution(facts):
        for forbidden in DVT_CAUTION:
            if forbidden in done:
                return f"{forbidden} is unsafe with leg pain and a sign or risk of a clot"
    for name in spec.unsafe_with:
        if name in opened or name in named or facts.get(name) is True:
            return f"the advice declares itself unsafe with {name}"
    return None


def safe_advice(
    specs: Iterable[AdviceSpec],
    timeframe: Timeframe,
    named: Collection[str],
    facts: Mapping[str, FactValue],
    done: Mapping[str, tuple[str, ...]] | None = None,
    *,
    open_: Collection[str] | None = None,
    fired: Sequence[str] | frozenset[str] = (),
    whens: Mapping[str, WhenCheck] | None = None,
) -> tuple[list[AdviceSpec], list[tuple[AdviceSpec, str]]]:
    """The advice that may be given, in order, and what was withheld with the reason
    (``done``: each spec's :func:`treatments` by id, worked out ahead, if at hand;
    ``whens``: each spec's compiled ``when`` by id)."""
    kept: list[AdviceSpec] = []
    withheld: list[tuple[AdviceSpec, str]] = []
    opened = frozenset(named) if open_ is None else frozenset(open_)
    fired_ids = frozenset(fired)
    for spec in specs:
        reason = unsafe_reason(spec, timeframe, named, facts,
                               None if done is None else done[spec.id],
                               open_=opened, fired=fired_ids,
                               when=None if whens is None else whens.get(spec.id))
        if reason is None:
            kept.append(spec)
        else:
            withheld.append((spec, reason))
    return kept, withheld
