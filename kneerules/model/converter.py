"""The one cattrs converter: strict structuring with every problem tagged by its JSON path.

cattrs' defaults are lenient (``bool("no")`` is true, ``int(30.7)`` is 30): a
clinical input must never be guessed at, so every scalar hook here is strict.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from kneerules.model.errors import Problem
from kneerules.model.messages import (
    Invalid,
    describe,
    did_you_mean,
    expect,
    is_number,
    key_path,
)
from kneerules.model.records import Assessment
from kneerules.model.rules import Condition
from kneerules.model.syntax import structure_condition, structure_evidence

T = TypeVar("T")


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise expect("true or false", value)
    return value


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise expect("a whole number", value)
    return value


def _structure_float(value: Any, _: type) -> float:
    if not is_number(value):
        raise expect("a number", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise expect("a finite number", value)
    return value


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise expect("a string", value)
    return value


def _is_literal(tp: Any) -> bool:
    return get_origin(tp) is Literal


def _structure_literal(value: Any, tp: Any) -> Any:
    allowed = get_args(tp)
    if not any(type(value) is type(a) and value == a for a in allowed):
        choices = ", ".join(describe(a) for a in allowed)
        hint = did_you_mean(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
        raise Invalid([("", f"expected one of {choices}, got {describe(value)}{hint}")])
    return value


def _structure_tuple_of_str(value: Any, _: type) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise expect("a list of strings", value)
    problems = [
        (f"[{i}]", f"expected a string, got {describe(v)}")
        for i, v in enumerate(value)
        if not isinstance(v, str)
    ]
    if problems:
        raise Invalid(problems)
    return tuple(value)


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _relative(exc: BaseException, prefix: str) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in problems_from(exc, prefix)]


def _tuple_hook_factory(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        item_type = get_args(tp)[0]

        def hook(value: Any, _: Any) -> tuple[Any, ...]:
            # cattrs would iterate a string or an object key by key: say what is expected.
            if not isinstance(value, list | tuple):
                raise expect("a list", value)
            items: list[Any] = []
            problems: list[tuple[str, str]] = []
            for index, item in enumerate(value):
                try:
                    items.append(conv.structure(item, item_type))
                except Exception as exc:
                    problems += _relative(exc, f"[{index}]")
            if problems:
                raise Invalid(problems)
            return tuple(items)

        return hook

    return factory


def _object_hook_factory(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    def factory(cls: Any) -> Callable[[Any, Any], Any]:
        inner = make_dict_structure_fn(cls, conv)

        def hook(value: Any, _: Any) -> Any:
            # cattrs' generated code assumes a mapping and fails obscurely on anything else.
            if not isinstance(value, Mapping):
                raise expect("an object", value)
            return inner(value, cls)

        return hook

    return factory


def make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)
    conv.register_structure_hook_factory(attrs.has, _object_hook_factory(conv))
    conv.register_structure_hook_factory(_is_homogeneous_tuple, _tuple_hook_factory(conv))
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook_func(_is_literal, _structure_literal)
    # Generic aliases and unions are not classes, so these dispatch on equality.
    for tp, hook in (
        (tuple[str, ...], _structure_tuple_of_str),
        (Condition, structure_condition),
        (tuple[tuple[str, float], ...], structure_evidence),
    ):
        conv.register_structure_hook_func(partial(operator.eq, tp), hook)
    return conv


converter = make_converter()


def problems_from(exc: BaseException, path: str = "$") -> list[Problem]:
    """Flattens a cattrs detailed-validation error tree into path-tagged problems."""
    if isinstance(exc, Invalid):
        return [Problem(path + sub, message) for sub, message in exc.problems]
    if isinstance(exc, ClassValidationError | IterableValidationError):
        found: list[Problem] = []
        with_notes, without = exc.group_exceptions()
        for sub_exc, note in with_notes:
            if isinstance(note, AttributeValidationNote):
                found += problems_from(sub_exc, key_path(path, note.name))
            elif isinstance(note, IterableValidationNote):
                found += problems_from(sub_exc, key_path(path, note.index))
            else:
                found += problems_from(sub_exc, path)
        for sub_exc in without:
            found += problems_from(sub_exc, path)
        return found
    if isinstance(exc, ForbiddenExtraKeysError):
        names = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        # The closest names for the first few only: 30,000 misspelt fields took seconds.
        return [
            Problem(key_path(path, key),
                    f"unknown field{did_you_mean(key, names) if number < 20 else ''}"
                    if isinstance(key, str) else
                    f"field names must be strings, got {describe(key)}")
            for number, key in enumerate(sorted(exc.extra_fields, key=repr))
        ]
    if isinstance(exc, KeyError):
        # A required attribute's key is missing; the note already put its name on the path.
        return [Problem(path, "is required")]
    # A hook we did not write failed: still name the place, never let it escape.
    return [Problem(path, f"invalid value ({type(exc).__name__}: {exc})")]


def structure(data: Any, cls: type[T], path: str = "$") -> tuple[T | None, list[Problem]]:
    """Structures ``data`` into ``cls``; returns the object or every problem found."""
    try:
        return converter.structure(data, cls), []
    except Exception as exc:
        return None, problems_from(exc, path)


def to_dict(assessment: Assessment) -> dict[str, Any]:
    """The assessment JSON object (``kneerules.assessment/1``), fields in the format's order."""
    data: dict[str, Any] = converter.unstructure(assessment)
    for entry in data["differential"]:
        entry["score"] = float(entry["score"])
    order = (
        "format",
        "case_id",
        "triage",
        "red_flags",
        "differential",
        "considerations",
        "advice",
        "safety_net",
        "scores",
        "notes",
        "trace",
        "engine",
    )
    out = {key: data[key] for key in order}
    if data["questions"] is not None:  # only when they were asked for
        out["questions"] = data["questions"]
    return out


def to_json(assessment: Assessment, indent: int | None = 2) -> str:
    """The assessment JSON as text."""
    return json.dumps(to_dict(assessment), indent=indent, ensure_ascii=False)
