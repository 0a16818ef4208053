"""The clinical content a plugin contributes, as typed, frozen data.

Plugins write this as YAML (see ``docs/plugins.md``); :mod:`kneerules.knowledge.dataplugin`
turns the YAML into these classes. Nothing here runs code from the data: a
condition is a tree of fact tests, never an expression to evaluate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, TypeAlias

import attrs

Level = Literal["routine", "urgent", "emergency"]
LEVELS: tuple[Level, ...] = ("routine", "urgent", "emergency")
LEVEL_RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}

Likelihood = Literal["likely", "possible", "unlikely"]

FactKind = Literal["finding", "measurement", "field", "score", "conclusion"]
"""Where a fact comes from.

``finding``: a true/false entry of the case's ``findings``; ``measurement``: a
number in ``measurements``; ``field``: a top-level case field such as ``side``
or ``patient.age``; ``score``: computed by the engine from a plugin's score
definition; ``conclusion``: derived by a rule (``then.derive``)."""

Timeframe = Literal["now", "today", "within_48_hours", "within_2_weeks", "routine"]
"""How soon (triage policy v2); the level follows from it."""
TIMEFRAMES: tuple[Timeframe, ...] = ("routine", "within_2_weeks", "within_48_hours", "today",
                                     "now")
"""Least to most pressing."""
TIMEFRAME_RANK: dict[str, int] = {tf: rank for rank, tf in enumerate(TIMEFRAMES)}
TIMEFRAME_LEVEL: dict[str, Level] = {
    "now": "emergency",
    "today": "urgent",
    "within_48_hours": "urgent",
    "within_2_weeks": "urgent",
    "routine": "routine",
}
DEFAULT_TIMEFRAME: dict[str, Timeframe] = {
    # A rule written for policy v1 gives a level only; v1's urgent is "within a day or two".
    "emergency": "now",
    "urgent": "within_48_hours",
    "routine": "routine",
}

AdviceKind = Literal[
    "seek_care",
    "check",
    "rice",
    "medication",
    "exercise",
    "physiotherapy",
    "brace",
    "activity",
    "information",
    "self_care",
    "keep_safe",
    "safety_net",
    "caution",
]

Audience = Literal["patient", "clinician", "both"]
"""Who advice is for: what a patient reads differs from what a clinician reads."""

Treatment = Literal[
    "rest", "ice", "heat", "compression", "elevation", "exercise", "stretching", "massage",
    "walking", "anti_inflammatory", "drainage", "brace", "pressure", "keep_level",
]
"""What advice tells someone to do, as the engine's advice-safety rules know it
(``pressure``: pressing on a lump; ``keep_level``: keeping the leg at heart level, the one
treatment an emergency may carry)."""

SAFETY_PRIORITY_LIMIT = 100
"""Safety-plugin rules use priorities below this; every other rule must use this or more."""

MAX_PRIORITY = 60000


@attrs.frozen
class FactSpec:
    """One name of the vocabulary: what it means and what values it takes."""

    name: str
    kind: FactKind
    meaning: str
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    integer: bool = False
    question: str | None = None
    """How to ask for it, in a patient's words (``kneerules ask``, ``eval --questions``);
    every finding, measurement and field has one (``kneerules check``)."""
    plugin: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("measurement", "score") or (self.kind == "field" and not self.choices)


@attrs.frozen
class FactTest:
    """A test of one fact. With no comparison, the fact must be true.

    ``is_`` is ``True``/``False`` (recorded present/absent), ``"unknown"`` (not
    recorded) or ``"known"`` (recorded either way)."""

    fact: str
    is_: bool | Literal["unknown", "known"] | None = None
    equals: str | None = None
    in_: tuple[str, ...] | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def comparisons(self) -> list[tuple[str, float]]:
        ops = (("gt", self.gt), ("gte", self.gte), ("lt", self.lt), ("lte", self.lte))
        return [(op, value) for op, value in ops if value is not None]


@attrs.frozen
class AllOf:
    items: tuple[Condition, ...]


@attrs.frozen
class AnyOf:
    items: tuple[Condition, ...]


@attrs.frozen
class NoneOf:
    items: tuple[Condition, ...]


Condition: TypeAlias = FactTest | AllOf | AnyOf | NoneOf
ALWAYS: Condition = AllOf(())


def walk_tests(condition: Condition) -> Iterator[FactTest]:
    """Every fact test in a condition tree, in written order."""
    if isinstance(condition, FactTest):
        yield condition
    else:
        for item in condition.items:
            yield from walk_tests(item)


@attrs.frozen
class RedFlagSpec:
    id: str
    message: str
    condition: str | None = None


@attrs.frozen
class TriageSpec:
    """The level a rule sets. Policy v2 rules give a ``timeframe`` (the level follows);
    a rule written for policy v1 may give a ``level`` only (urgent: within 48 hours)."""

    level: Level | None = None
    message: str = ""
    timeframe: Timeframe | None = None

    def __attrs_post_init__(self) -> None:
        # Frozen, so fill the missing half through object.__setattr__, once, at creation.
        if self.timeframe is None and self.level is not None:
            object.__setattr__(self, "timeframe", DEFAULT_TIMEFRAME.get(self.level))
        elif self.level is None and self.timeframe is not None:
            object.__setattr__(self, "level", TIMEFRAME_LEVEL.get(self.timeframe))

    def consistent(self) -> bool:
        """Whether a level and a timeframe were both given and agree (or either is filled)."""
        return (self.timeframe is not None and self.level is not None
                and TIMEFRAME_LEVEL.get(self.timeframe) == self.level)


@attrs.frozen
class NoteSpec:
    """An input note (policy v3): something in the case to be checked, such as a one-sided
    finding recorded with ``side: both``."""

    id: str
    message: str


@attrs.frozen
class LeadSpec:
    """Policy v3, R1: conditions a decisive rule puts at the head of the differential.

    ``rank`` is the rule's place in R1's order (1 first); ``conditions`` lead in the order
    given, each only when a red flag names it."""

    rank: int
    conditions: tuple[str, ...]


@attrs.frozen
class Conclusions:
    """What a rule concludes when it fires."""

    derive: tuple[str, ...] = ()
    evidence: tuple[tuple[str, float], ...] = ()
    red_flag: RedFlagSpec | None = None
    triage: TriageSpec | None = None
    advise: tuple[str, ...] = ()
    consider: tuple[str, ...] = ()
    note: NoteSpec | None = None
    leads: LeadSpec | None = None

    def is_empty(self) -> bool:
        return not (
            self.derive
            or self.evidence
            or self.red_flag
            or self.triage
            or self.advise
            or self.consider
            or self.note
            or self.leads
        )


@attrs.frozen
class Rule:
    """A declarative rule: when ``when`` holds and every ``after`` conclusion was derived."""

    id: str
    priority: int
    because: str
    source: str
    then: Conclusions
    when: Condition = ALWAYS
    after: tuple[str, ...] = ()
    policy: str | None = None
    """The rule of the triage policy (v3 numbering, such as "1", "7b" or "U1b") this rule
    carries; :data:`kneerules.knowledge.policy.MESSAGE_PRECEDENCE` orders triage messages by it."""
    plugin: str = ""

    def facts(self) -> list[str]:
        """Names this rule reads, in written order, without repeats."""
        seen: dict[str, None] = {}
        for test in walk_tests(self.when):
            seen.setdefault(test.fact, None)
        for name in self.after:
            seen.setdefault(name, None)
        return list(seen)


@attrs.frozen
class ConditionInfo:
    """A condition (diagnosis) a plugin can put in the differential."""

    id: str
    name: str
    description: str
    source: str
    commonness: int = 100
    """Rank by how common the clinical source says the cause is (1 = most common); breaks ties."""
    outranks_while_named: tuple[str, ...] = ()
    """Conditions listed below this one whenever a red flag names it, whatever the scores
    (policy v1 urgent 2: a Baker's cyst never outranks a pulsing lump's aneurysm)."""
    plugin: str = ""


@attrs.frozen
class AdviceSpec:
    """A piece of advice and when it applies.

    It applies when its ``condition`` is named by a red flag or leads the
    differential, when the triage level is ``triage`` or the timeframe is one of
    ``timeframes``, when ``always`` is set, or when a fired rule names it in
    ``then.advise``. Whatever selected it, the engine withholds it when it is
    unsafe (:mod:`kneerules.knowledge.advice_safety`): advice given ``timeframes`` is never
    given at another; ``treatments`` (and those its ``kind`` implies) are checked
    against the conditions the red flags name and the findings recorded;
    ``unsafe_with`` lists more condition ids or finding names it must never meet;
    ``when`` (a condition over the case's findings, measurements and fields, as a rule's)
    must hold for it to be given at all: text that fits a febrile patient, or that speaks
    of a self-test, only when the case records one."""

    id: str
    kind: AdviceKind
    text: str
    source: str
    condition: str | None = None
    triage: Level | None = None
    always: bool = False
    audience: Audience = "patient"
    timeframes: tuple[Timeframe, ...] = ()
    treatments: tuple[Treatment, ...] = ()
    unsafe_with: tuple[str, ...] = ()
    when: Condition = ALWAYS
    plugin: str = ""


@attrs.frozen
class ConsiderationSpec:
    """A cause outside the modelled conditions that a rule can point to."""

    id: str
    name: str
    description: str
    source: str
    plugin: str = ""


@attrs.frozen
class ScoreItem:
    id: str
    label: str
    points: float
    when: Condition


@attrs.frozen
class ScoreBand:
    at_least: float
    interpretation: str
    text: str


@attrs.frozen
class ScoreSpec:
    """A clinical score summed from items; its total becomes the fact ``fact``."""

    id: str
    name: str
    fact: str
    source: str
    items: tuple[ScoreItem, ...]
    bands: tuple[ScoreBand, ...]
    applies_when: Condition = ALWAYS
    """When unknown items could change the interpretation, advice to check them is given only
    if this holds (for the Wells score: leg pain in one leg)."""
    check_advice: str | None = None
    """Advice when unknown items could lift the score into a higher band; ``{items}`` is
    replaced by the unknown items' labels."""
    notes: tuple[str, ...] = ()
    plugin: str = ""


@attrs.frozen
class Reference:
    """One entry of the bibliography that rules cite by ``key`` (or by an alias)."""

    key: str
    title: str
    authors: str = ""
    journal: str = ""
    year: int | None = None
    doi: str | None = None
    url: str | None = None
    pmid: str | None = None
    """The PubMed id, where the work has one."""
    note: str = ""
    """What the work is cited for, and what it does not say (a reader's caution)."""
    aliases: tuple[str, ...] = ()
    """How a source may name it besides its key ("Wells et al.", "NICE NG158")."""
    sections: tuple[str, ...] = ()
    """For the clinical source: its sections; a citation of it must name one."""
    plugin: str = ""


ASKED_KINDS = ("finding", "measurement", "field")
"""The facts a case records (scores and conclusions are worked out, never asked)."""

Section = Literal["where", "about", "red_flags", "history", "examination"]
"""Where a question comes in an interview, in a clinician's order: what hurts and where
(and which leg), then who the patient is (age, sex), then the red-flag screen, then the
history that tells the likely causes apart, then what only an examination finds."""
SECTIONS: tuple[Section, ...] = ("where", "about", "red_flags", "history", "examination")
SECTION_RANK: dict[str, int] = {section: rank for rank, section in enumerate(SECTIONS)}

QuestionAudience = Literal["patient", "clinician"]
"""Who can answer: a patient (lay words, asked in every interview) or only a clinician
(an examination or a test result: asked by ``kneerules ask --clinician`` only)."""


@attrs.frozen
class AnswerChoice:
    """A word a finding question may be answered with, and the value it records (None:
    unknown). A test result is asked as "raised / normal / not had one", so that someone
    never tested does not answer "no" and record a normal result."""

    label: str
    value: bool | None


@attrs.frozen
class ChecklistItem:
    """One line of a checklist question: the finding it records and its lay words (and,
    for a test result, the words it is answered with instead of yes and no)."""

    fact: str
    label: str
    answers: tuple[AnswerChoice, ...] = ()


@attrs.frozen
class QuestionSpec:
    """When and how an interview asks for a fact (or, with ``items``, several related
    findings together as one checklist question, each answered yes, no or don't know).

    ``id`` is the fact asked, or the checklist's own id. The interview asks by
    ``section`` (:data:`SECTIONS`), then by ``order`` within it; a question with a
    ``gate`` is asked only once the gate holds (a measurement after "swollen"), and a
    question ``always`` asked is put to everyone (where it hurts, which leg, age, sex);
    any other is asked only while its answer could still change the result."""

    id: str
    section: Section
    audience: QuestionAudience
    order: int = 100
    text: str | None = None
    """The words asked (for the audience); the vocabulary's ``question`` when not given."""
    gate: Condition = ALWAYS
    """Asked only once this holds (unknown facts do not satisfy it); ALWAYS: no gate."""
    gate_why: str | None = None
    """Why the answer is certain when the gate does not hold although a rule reads it
    without the gate ("a man is not pregnant"); ``kneerules check`` flags such a gate
    otherwise (:func:`kneerules.reasoning.settle.gate_leaks`)."""
    items: tuple[ChecklistItem, ...] = ()
    answers: tuple[AnswerChoice, ...] = ()
    """For a finding: the words it is answered with instead of yes and no."""
    always: bool = False
    plugin: str = ""

    @property
    def gated(self) -> bool:
        return self.gate != ALWAYS

    @property
    def facts(self) -> tuple[str, ...]:
        """The facts this question records."""
        return tuple(item.fact for item in self.items) if self.items else (self.id,)


@attrs.frozen
class PluginData:
    """Everything one plugin's data file declares."""

    conditions: tuple[ConditionInfo, ...] = ()
    facts: tuple[FactSpec, ...] = ()
    rules: tuple[Rule, ...] = ()
    advice: tuple[AdviceSpec, ...] = ()
    considerations: tuple[ConsiderationSpec, ...] = ()
    scores: tuple[ScoreSpec, ...] = ()
    references: tuple[Reference, ...] = ()
    questions: tuple[QuestionSpec, ...] = ()

