"""The assessment as one line of JSON text, written directly: what ``eval --jsonl`` sends.

The same text as ``json.dumps(to_dict(assessment), ensure_ascii=False)``, byte for byte (a
test compares them), at a fraction of the cost: building the dict through cattrs and then
encoding it was a quarter of a batch worker's time. Parts that assessments share (each
rule's evidence and red flag, advice, score item results, the engine description) are
written once per :class:`AssessmentWriter` and their text reused; an engine holds one
(``Engine.json_writer``), so the texts go when the engine goes.

A faster general encoder (orjson) was measured as no help here: it still needs the dict,
and it cannot write the ``", "``/``": "`` separators of the existing output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from json.encoder import encode_basestring
from typing import Any

import attrs

from kneerules.model import records as model

_TOP_ORDER = ("format", "case_id", "triage", "red_flags", "differential", "considerations",
              "advice", "safety_net", "scores", "notes", "trace", "engine")
_encode_str: Callable[[str], str] = encode_basestring

_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {
    cls: tuple((field.name, _encode_str(field.name) + ": ") for field in attrs.fields(cls))
    for cls in vars(model).values()
    if isinstance(cls, type) and attrs.has(cls) and cls.__module__ == model.__name__
}
# Objects made once per engine and shared by every assessment that uses them (see
# kneerules.reasoning.plan and Engine.info): their text is kept, keyed by id and holding the
# object so that the id cannot be reused while kept.
_SHARED = (model.Evidence, model.RedFlag, model.Advice, model.ScoreItemResult,
           model.EngineInfo)
_LIMIT = 50_000
"""Texts a writer keeps before starting again: an engine shares a few thousand objects, so
only objects that are not the engine's (an assessment built by hand) could reach it."""


class AssessmentWriter:
    """Writes assessments as JSON text, keeping the text of the parts they share."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}
        self._steps: dict[int, tuple[model.TraceStep, str, str]] = {}

    def _value(self, value: Any) -> str:
        kind = type(value)
        if kind is str:
            return _encode_str(value)
        if kind is bool:
            return "true" if value else "false"
        if value is None:
            return "null"
        if kind is int:
            return int.__repr__(value)
        if kind is float:
            return self._float(value)
        if kind is tuple or kind is list:
            return "[" + ", ".join([self._value(item) for item in value]) + "]"
        if kind in _FIELDS:
            return self._object(value)
        if isinstance(value, Mapping):
            return "{" + ", ".join([f"{_encode_str(key)}: {self._value(item)}"
                                    for key, item in value.items()]) + "}"
        raise TypeError(f"cannot write {kind.__name__} as assessment JSON")


    @staticmethod
    def _float(value: float) -> str:
        if value != value or value in (float("inf"), float("-inf")):
            return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
        return float.__repr__(value)


    def _object(self, obj: Any) -> str:
        shared = type(obj) in _SHARED
        if shared:
            hit = self._texts.get(id(obj))
            if hit is not None and hit[0] is obj:
                return hit[1]
        text = "{" + ", ".join([key + self._value(getattr(obj, name))
                                for name, key in _FIELDS[type(obj)]]) + "}"
        if shared:
            if len(self._texts) >= _LIMIT:
                self._texts.clear()
            self._texts[id(obj)] = (obj, text)
        return text


    def _trace_step(self, step: model.TraceStep) -> str:
        # What a step says of its rule (id, plugin, priority, conclusions, because, source) is
        # the same every time the rule fires: written once per rule, keyed by its conclusions
        # tuple (made once per rule, kneerules.reasoning.assess) and checked field by field.
        hit = self._steps.get(id(step.concluded))
        if hit is None or not self._same_rule(hit[0], step):
            if len(self._steps) >= _LIMIT:
                self._steps.clear()
            head = (f'"rule": {_encode_str(step.rule)}, "plugin": {_encode_str(step.plugin)}, '
                    f'"priority": {self._value(step.priority)}, "matched": ')
            tail = (f', "concluded": {self._value(step.concluded)}, "because": '
                    f'{_encode_str(step.because)}, "source": {_encode_str(step.source)}}}')
            hit = self._steps[id(step.concluded)] = (step, head, tail)
        matched = ", ".join([f"{_encode_str(key)}: {self._value(value)}"
                             for key, value in step.matched.items()])
        return f'{{"step": {self._value(step.step)}, {hit[1]}{{{matched}}}{hit[2]}'


    @staticmethod
    def _same_rule(cached: model.TraceStep, step: model.TraceStep) -> bool:
        return (cached.concluded is step.concluded and cached.rule == step.rule
                and cached.plugin == step.plugin and cached.priority == step.priority
                and type(cached.priority) is type(step.priority)
                and cached.because == step.because and cached.source == step.source)


    def _differential_entry(self, entry: model.DifferentialEntry) -> str:
        # to_dict writes every differential score as a float (3.0, not 3).
        parts = []
        for name, key in _FIELDS[model.DifferentialEntry]:
            value = getattr(entry, name)
            parts.append(key + (self._float(float(value)) if name == "score"
                                else self._value(value)))
        return "{" + ", ".join(parts) + "}"


    def write(self, assessment: model.Assessment) -> str:
        """The assessment JSON object as one line of text (``kneerules.assessment/1``)."""
        parts = []
        for name in _TOP_ORDER:
            value = getattr(assessment, name)
            if name == "differential":
                text = "[" + ", ".join([self._differential_entry(e) for e in value]) + "]"
            elif name == "trace":
                text = "[" + ", ".join([self._trace_step(step) for step in value]) + "]"
            else:
                text = self._value(value)
            parts.append(f'"{name}": {text}')
        if assessment.questions is not None:  # only when they were asked for, as in to_dict
            parts.append(f'"questions": {self._value(assessment.questions)}')
        return "{" + ", ".join(parts) + "}"


def assessment_json(assessment: model.Assessment) -> str:
    """The assessment JSON object as one line of text, by a writer of its own (an engine's
    :attr:`~kneerules.Engine.json_writer` reuses the shared texts across assessments)."""
    return AssessmentWriter().write(assessment)
