"""JSON Schemas (draft 2020-12) of the case and assessment formats, generated from the
model classes and the installed vocabulary: ``kneerules schema case|assessment``.

In the core, not an integration: it needs no library (the schema is plain data built
from attrs classes and type hints), and any integrator, FHIR or not, validates cases in
their own language with it before calling kneerules.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

import attrs

from kneerules.model.records import ASSESSMENT_FORMAT, CASE_FORMAT, Assessment, Case, Patient
from kneerules.model.rules import FactSpec

DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Builder:
    """Schemas of attrs classes, each once under ``$defs``, by their type hints."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def of(self, hint: Any) -> dict[str, Any]:
        origin = get_origin(hint)
        if hint is type(None):
            return {"type": "null"}
        if hint is bool:
            return {"type": "boolean"}
        if hint is int:
            return {"type": "integer"}
        if hint is float:
            return {"type": "number"}
        if hint is str:
            return {"type": "string"}
        if hint is Any:
            return {}
        if origin is Literal:
            return {"enum": list(get_args(hint))}
        if origin in (Union, types.UnionType):
            options = [self.of(arg) for arg in get_args(hint)]
            return {"anyOf": options}
        if origin is tuple:
            args = get_args(hint)
            return {"type": "array", "items": self.of(args[0])}
        if origin in (Mapping, dict, typing.Mapping) or (
                isinstance(origin, type) and issubclass(origin, Mapping)):
            return {"type": "object", "additionalProperties": self.of(get_args(hint)[1])}
        if attrs.has(hint):
            return self.cls(hint)
        raise TypeError(f"no JSON Schema for {hint!r}")  # a new model type: teach it here

    def cls(self, klass: type) -> dict[str, Any]:
        name = klass.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: a class that refers to itself terminates
            hints = typing.get_type_hints(klass)
            fields = attrs.fields(klass)
            self.defs[name] = {
                "type": "object",
                "properties": {f.name: self.of(hints[f.name]) for f in fields},
                "required": [f.name for f in fields],
                "additionalProperties": False,
            }
            doc = (klass.__doc__ or "").strip().split("\n")[0]
            if doc and not doc.startswith(f"{name}("):
                self.defs[name]["description"] = doc
        return {"$ref": f"#/$defs/{name}"}


def _described(spec: FactSpec, schema: dict[str, Any]) -> dict[str, Any]:
    text = spec.meaning + (f" ({spec.unit})" if spec.unit else "")
    return {**schema, "description": text}


def _number(spec: FactSpec, integer: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    return _described(spec, schema)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def case_schema(vocabulary: Mapping[str, FactSpec]) -> dict[str, Any]:
    """The schema of a case (``kneerules.case/1``) for the vocabulary of the loaded plugins:
    the shape of :class:`~kneerules.model.records.Case`, every finding and measurement by name
    with its type and range, nothing else allowed."""
    hints = typing.get_type_hints(Case)
    patient_hints = typing.get_type_hints(Patient)

    def field(name: str, hint: Any) -> dict[str, Any]:
        spec = vocabulary.get(name)
        if spec is None:
            return _Builder().of(hint)
        if spec.choices:
            return _described(spec, {"enum": [*spec.choices, None]})
        return _nullable(_number(spec, spec.integer))

    findings = {n: _described(s, {"type": "boolean"})
                for n, s in sorted(vocabulary.items()) if s.kind == "finding"}
    measurements = {n: _number(s) for n, s in sorted(vocabulary.items())
                    if s.kind == "measurement"}
    patient = {
        "type": "object",
        "properties": {f.name: field(f"patient.{f.name}", patient_hints[f.name])
                       for f in attrs.fields(Patient)},
        "additionalProperties": False,
    }
    properties: dict[str, Any] = {
        "format": {"const": CASE_FORMAT},
        "case_id": _Builder().of(hints["case_id"]),
        "patient": _nullable(patient),
        "onset": field("onset", hints["onset"]),
        "side": field("side", hints["side"]),
        "findings": {"type": "object", "properties": findings, "additionalProperties": False,
                     "description": "true: present, false: absent; leave a finding out "
                                    "when it is not known"},
        "measurements": {"type": "object", "properties": measurements,
                         "additionalProperties": False},
    }
    missing = {f.name for f in attrs.fields(Case)} - set(properties)
    assert not missing, f"case fields without a schema: {missing}"  # the model grew
    return {
        "$schema": DIALECT,
        "$id": "urn:kneerules:schema:case/1",
        "title": f"kneerules case ({CASE_FORMAT})",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def assessment_schema(vocabulary: Mapping[str, FactSpec]) -> dict[str, Any]:
    """The schema of an assessment (``kneerules.assessment/1``), from
    :class:`~kneerules.model.records.Assessment` and the classes it holds; a trace step's
    ``matched`` facts are named from ``vocabulary``."""
    builder = _Builder()
    builder.cls(Assessment)
    root = builder.defs.pop("Assessment")
    root["properties"]["format"] = {"const": ASSESSMENT_FORMAT}
    root["required"].remove("questions")  # only when asked for (Engine.questions)
    names = sorted(vocabulary)
    step = builder.defs["TraceStep"]["properties"]["matched"]
    step["propertyNames"] = {"enum": names}
    return {"$schema": DIALECT, "$id": "urn:kneerules:schema:assessment/1",
            "title": f"kneerules assessment ({ASSESSMENT_FORMAT})", **root,
            "$defs": builder.defs}


SCHEMAS = {"case": case_schema, "assessment": assessment_schema}
