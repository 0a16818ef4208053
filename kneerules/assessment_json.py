"""The assessment as one line of JSON text, written directly: what ``eval --jsonl`` sends.

The same text as ``json.dumps(to_dict(assessment), ensure_ascii=False)``, byte for byte (a
test compares them), at a fraction of the cost: building the dict through cattrs and then
encoding it was a quarter of a batch worker's time. Parts that assessments share (each
rule's evidence and red flag, advice, score item results, the engine description) are
written once and their text reused.

A faster general encoder (orjson) was measured as no help here: it still needs the dict,
and it cannot write the ``", "``/``": "`` separators of the existing output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from json.encoder import encode_basestring
from typing import Any

import attrs

from kneerules import model

_TOP_ORDER = ("format", "case_id", "triage", "red_flags", "differential", "considerations",
              "advice", "safety_net", "scores", "notes", "trace", "engine")
_encode_str: Callable[[str], str] = encode_basestring

_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {
    cls: tuple((field.name, _encode_str(field.name) + ": ") for field in attrs.fields(cls))
    for cls in vars(model).values()
    if isinstance(cls, type) and attrs.has(cls) and cls.__module__ == model.__name__
}
# Objects made once and shared by every assessment that uses them (see kneerules.assess,
# kneerules.scores and Engine.info): their text is cached, keyed by id and holding the
# object so that the id cannot be reused while cached.
_SHARED = (model.Evidence, model.RedFlag, model.Advice, model.ScoreItemResult,
           model.EngineInfo)
_CACHE: dict[int, tuple[Any, str]] = {}
_CACHE_LIMIT = 50_000


def _value(value: Any) -> str:
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
        return _float(value)
    if kind is tuple or kind is list:
        return "[" + ", ".join([_value(item) for item in value]) + "]"
    if kind in _FIELDS:
        return _object(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join([f"{_encode_str(key)}: {_value(item)}"
                                for key, item in value.items()]) + "}"
    raise TypeError(f"cannot write {kind.__name__} as assessment JSON")


def _float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
    return float.__repr__(value)


def _object(obj: Any) -> str:
    shared = type(obj) in _SHARED
    if shared:
        hit = _CACHE.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
    text = "{" + ", ".join([key + _value(getattr(obj, name))
                            for name, key in _FIELDS[type(obj)]]) + "}"
    if shared:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[id(obj)] = (obj, text)
    return text


_STEPS: dict[int, tuple[model.TraceStep, str, str]] = {}


def _trace_step(step: model.TraceStep) -> str:
    # What a step says of its rule (id, plugin, priority, conclusions, because, source) is
    # the same every time the rule fires: written once per rule, keyed by its conclusions
    # tuple (made once per rule, kneerules.assess) and checked field by field.
    hit = _STEPS.get(id(step.concluded))
    if hit is None or not _same_rule(hit[0], step):
        if len(_STEPS) >= _CACHE_LIMIT:
            _STEPS.clear()
        head = (f'"rule": {_encode_str(step.rule)}, "plugin": {_encode_str(step.plugin)}, '
                f'"priority": {_value(step.priority)}, "matched": ')
        tail = (f', "concluded": {_value(step.concluded)}, "because": '
                f'{_encode_str(step.because)}, "source": {_encode_str(step.source)}}}')
        hit = _STEPS[id(step.concluded)] = (step, head, tail)
    matched = ", ".join([f"{_encode_str(key)}: {_value(value)}"
                         for key, value in step.matched.items()])
    return f'{{"step": {_value(step.step)}, {hit[1]}{{{matched}}}{hit[2]}'


def _same_rule(cached: model.TraceStep, step: model.TraceStep) -> bool:
    return (cached.concluded is step.concluded and cached.rule == step.rule
            and cached.plugin == step.plugin and cached.priority == step.priority
            and type(cached.priority) is type(step.priority)
            and cached.because == step.because and cached.source == step.source)


def _differential_entry(entry: model.DifferentialEntry) -> str:
    # to_dict writes every differential score as a float (3.0, not 3).
    parts = []
    for name, key in _FIELDS[model.DifferentialEntry]:
        value = getattr(entry, name)
        parts.append(key + (_float(float(value)) if name == "score" else _value(value)))
    return "{" + ", ".join(parts) + "}"


def assessment_json(assessment: model.Assessment) -> str:
    """The assessment JSON object as one line of text (``kneerules.assessment/1``)."""
    parts = []
    for name in _TOP_ORDER:
        value = getattr(assessment, name)
        if name == "differential":
            text = "[" + ", ".join([_differential_entry(e) for e in value]) + "]"
        elif name == "trace":
            text = "[" + ", ".join([_trace_step(step) for step in value]) + "]"
        else:
            text = _value(value)
        parts.append(f'"{name}": {text}')
    if assessment.questions is not None:  # only when they were asked for, as in to_dict
        parts.append(f'"questions": {_value(assessment.questions)}')
    return "{" + ", ".join(parts) + "}"
