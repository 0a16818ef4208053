"""The case that goes in and the assessment that comes out (docs/case-format.md,
docs/triage-policy.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import attrs

from kneerules.model.rules import AdviceKind, Audience, Level, Likelihood, Timeframe

CASE_FORMAT = "kneerules.case/1"
ASSESSMENT_FORMAT = "kneerules.assessment/1"

Sex = Literal["female", "male", "other", "unknown"]
Onset = Literal["sudden", "gradual"]
Side = Literal["left", "right", "both"]
FactValue = bool | int | float | str


@attrs.frozen
class Patient:
    age: int | None = None
    sex: Sex | None = None


@attrs.frozen
class Case:
    """One patient's findings. Findings are three-valued: true, false, or absent (unknown)."""

    format: str = CASE_FORMAT
    case_id: str | None = None
    patient: Patient | None = None
    onset: Onset | None = None
    side: Side | None = None
    findings: Mapping[str, bool] = attrs.field(factory=dict)
    measurements: Mapping[str, float] = attrs.field(factory=dict)

    def facts(self) -> dict[str, FactValue]:
        """Every known fact by its vocabulary name (``patient.age``, ``side``, findings...)."""
        known: dict[str, FactValue] = {}
        if self.patient is not None:
            if self.patient.age is not None:
                known["patient.age"] = self.patient.age
            if self.patient.sex is not None:
                known["patient.sex"] = self.patient.sex
        if self.onset is not None:
            known["onset"] = self.onset
        if self.side is not None:
            known["side"] = self.side
        known.update(self.findings)
        known.update(self.measurements)
        return known


@attrs.frozen
class Triage:
    level: Level
    timeframe: Timeframe
    """Policy v2: how soon; ``level`` follows from it."""
    message: str
    because: tuple[str, ...]


@attrs.frozen
class RedFlag:
    id: str
    condition: str | None
    rule: str
    message: str


@attrs.frozen
class Evidence:
    rule: str
    because: str
    weight: float


@attrs.frozen
class DifferentialEntry:
    condition: str
    name: str
    score: float
    likelihood: Likelihood
    evidence: tuple[Evidence, ...]
    must_not_miss: bool = False
    """A red flag names this condition: it is listed, at least possible, until excluded."""


@attrs.frozen
class Advice:
    condition: str | None
    kind: AdviceKind
    text: str
    id: str
    source: str
    audience: Audience = "patient"


@attrs.frozen
class Consideration:
    id: str
    name: str
    description: str
    rule: str
    because: str
    source: str


@attrs.frozen
class TraceStep:
    step: int
    rule: str
    plugin: str
    priority: int
    matched: Mapping[str, FactValue]
    concluded: tuple[str, ...]
    because: str
    source: str


@attrs.frozen
class Note:
    """An input note (policy v3): ``{"id", "message"}``, such as
    ``input.side_both_one_sided_swelling``."""

    id: str
    message: str


@attrs.frozen
class ScoreItemResult:
    id: str
    label: str
    points: float
    status: Literal["counted", "not_counted", "unknown"]


@attrs.frozen
class ScoreResult:
    id: str
    name: str
    score: float
    interpretation: str
    text: str
    items: tuple[ScoreItemResult, ...]
    unknown: tuple[str, ...]
    notes: tuple[str, ...]
    source: str


@attrs.frozen
class Outcome:
    """What the result becomes when a question is answered ``answer``."""

    answer: FactValue
    timeframe: Timeframe
    leading: str | None
    """The condition that then leads the differential (None: no candidate)."""
    changes: tuple[Literal["timeframe", "leading"], ...]
    """What differs from the result without the answer."""


@attrs.frozen
class Question:
    """An unknown fact whose answer would change the timeframe or the leading condition,
    each listed answer checked by evaluating the case with it."""

    fact: str
    text: str
    kind: Literal["finding", "measurement", "field"]
    changes: Literal["timeframe", "leading"]
    """The most consequential change an answer makes (a timeframe outranks a diagnosis)."""
    outcomes: tuple[Outcome, ...]
    unchanged: tuple[FactValue, ...] = ()
    """The answers tried that leave the result as it is (the other way to answer)."""
    unit: str | None = None
    choices: tuple[str, ...] = ()


@attrs.frozen
class PluginInfo:
    name: str
    version: str


@attrs.frozen
class EngineInfo:
    version: str
    ruleset: str
    ruleset_version: str
    plugins: tuple[PluginInfo, ...]


@attrs.frozen
class Assessment:
    """What kneerules answers for one case; :func:`kneerules.to_dict` gives the assessment JSON."""

    case_id: str | None
    triage: Triage
    red_flags: tuple[RedFlag, ...]
    differential: tuple[DifferentialEntry, ...]
    advice: tuple[Advice, ...]
    trace: tuple[TraceStep, ...]
    engine: EngineInfo
    considerations: tuple[Consideration, ...] = ()
    scores: tuple[ScoreResult, ...] = ()
    notes: tuple[Note, ...] = ()
    format: str = ASSESSMENT_FORMAT
    safety_net: tuple[str, ...] = ()
    """When to get emergency help at once: the safety-netting advice, for every result
    short of an emergency."""
    questions: tuple[Question, ...] | None = None
    """Only when asked for (``Engine.questions``): the unknown findings that would change
    the answer, most consequential first."""


_T = TypeVar("_T")


def positional_maker(cls: type[_T]) -> Callable[..., _T]:
    """A constructor of the frozen attrs class ``cls`` taking every field positionally and
    setting its slots directly.

    attrs' ``__init__`` for a frozen class sets each field through a bound
    ``object.__setattr__``, about twice the cost; an evaluation makes a trace step per
    rule fired. Only for classes whose fields have no validator, converter or factory
    (refused here), so that the object is the one ``cls(...)`` would make."""
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    odd = [f.name for f in fields if f.validator or f.converter or f.on_setattr not in (
        None, attrs.setters.NO_OP) or isinstance(f.default, attrs.Factory)]  # type: ignore[arg-type]
    if odd or not attrs.has(cls) or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__} is not a plain slotted attrs class ({odd})")
    names = [f.name for f in fields]
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope.update({f"set_{name}": vars(cls)[name].__set__ for name in names})
    body = "".join(f"    set_{name}(o, {name})\n" for name in names)
    exec(f"def make({', '.join(names)}):\n    o = new(cls)\n{body}    return o\n", scope)
    maker: Callable[..., _T] = scope["make"]
    return maker


make_trace_step = positional_maker(TraceStep)
