"""The one cattrs converter: strict structuring with every problem tagged by its JSON path.

cattrs' defaults are lenient (``bool("no")`` is true, ``int(30.7)`` is 30): a
clinical input must never be guessed at, so every scalar hook here is strict.
"""

from __future__ import annotations

import difflib
import json
import math
import operator
import reprlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Literal, TypeGuard, TypeVar, get_args, get_origin

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

from kneerules.errors import Problem
from kneerules.model import Assessment
from kneerules.ruledata import (
    ALWAYS,
    AllOf,
    AnyOf,
    Condition,
    FactTest,
    NoneOf,
)

T = TypeVar("T")


class Invalid(Exception):
    """Raised by a hook with problems whose paths are relative to the value it structured."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p}: {m}" for p, m in self.problems))


_MAX_SHOWN = 60


def describe(value: Any) -> str:
    """A value as the user wrote it in JSON, for messages (Python's repr if JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, "NaN")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        # Printing a huge integer is slow, and refused beyond 4300 digits; 60 would not fit.
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    try:
        return _shorten(json.dumps(value, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        # Only a Python caller can pass what JSON cannot hold (a set, an object, bytes...).
        return f"{_shorten(_safe_repr(value))} (a Python {type(value).__name__})"


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The valid names nearest a misspelt one: only the clear front-runners, best first."""
    scored = []
    for candidate in candidates:
        ratio = difflib.SequenceMatcher(None, name, candidate).ratio()
        if ratio >= 0.6:
            scored.append((-ratio, candidate))
    scored.sort()
    if not scored:
        return []
    best = -scored[0][0]
    # "sign.redess" is sign.redness; sign.fever merely shares the prefix.
    return [c for r, c in scored[:n] if -r >= best - 0.1]


def did_you_mean(name: object, candidates: Iterable[str]) -> str:
    matches = closest(name, candidates) if isinstance(name, str) else []
    if not matches:
        return ""
    return " (did you mean " + " or ".join(f'"{m}"' for m in matches) + "?)"


def key_path(path: str, key: object) -> str:
    """``path`` extended by an object key or list index: ``$.a``, ``$["a.b"]``, ``$[0]``."""
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    if isinstance(key, str):
        return f"{path}[{json.dumps(key, ensure_ascii=False)}]"
    # Only a Python caller can use a key that is not a string; show it as Python would.
    return f"{path}[{_safe_repr(key)}]"


def _safe_repr(value: object) -> str:
    try:
        return reprlib.repr(value)
    except Exception:  # reprlib catches a failing __repr__, but not every failure
        return "?"


def _expect(description: str, value: Any) -> Invalid:
    return Invalid([("", f"expected {description}, got {describe(value)}")])


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise _expect("true or false", value)
    return value


def is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number: an int or float, but not a bool (``true`` is not ``1`` here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _expect("a whole number", value)
    return value


def _structure_float(value: Any, _: type) -> float:
    if not is_number(value):
        raise _expect("a number", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _expect("a finite number", value)
    return value


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _expect("a string", value)
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
        raise _expect("a list of strings", value)
    problems = [
        (f"[{i}]", f"expected a string, got {describe(v)}")
        for i, v in enumerate(value)
        if not isinstance(v, str)
    ]
    if problems:
        raise Invalid(problems)
    return tuple(value)


_TEST_KEYS = ("fact", "is", "equals", "in", "gt", "gte", "lt", "lte")
_GROUP_KEYS: dict[str, type[AllOf] | type[AnyOf] | type[NoneOf]] = {
    "all": AllOf,
    "any": AnyOf,
    "none": NoneOf,
}


def structure_condition(value: Any, _: Any = None) -> Condition:
    """A condition from its data form: a fact name, ``{fact: ...}`` or ``{all|any|none: [...]}``."""
    if value is None:
        return ALWAYS
    if isinstance(value, str):
        return FactTest(fact=value)
    if not isinstance(value, Mapping):
        raise _expect("a fact name or an object with all, any, none or fact", value)
    groups = [k for k in _GROUP_KEYS if k in value]
    if groups:
        if len(value) != 1:
            others = sorted(k for k in value if k != groups[0])
            raise Invalid([("", f"{groups[0]} must stand alone, found also {others}")])
        key = groups[0]
        items = value[key]
        if not isinstance(items, list):
            raise Invalid([(f".{key}", f"expected a list of conditions, got {describe(items)}")])
        problems: list[tuple[str, str]] = []
        parsed: list[Condition] = []
        for i, item in enumerate(items):
            try:
                parsed.append(structure_condition(item))
            except Invalid as exc:
                problems += [(f".{key}[{i}]{p}", m) for p, m in exc.problems]
        if problems:
            raise Invalid(problems)
        return _GROUP_KEYS[key](tuple(parsed))
    return _structure_fact_test(value)


def _structure_fact_test(value: Mapping[str, Any]) -> FactTest:
    problems: list[tuple[str, str]] = []
    unknown = [k for k in value if k not in _TEST_KEYS]
    for key in unknown:
        hint = did_you_mean(str(key), [*_TEST_KEYS, *_GROUP_KEYS])
        problems.append((key_path("", key), f"unknown operator {describe(key)}{hint}"))
    fact = value.get("fact")
    if not isinstance(fact, str):
        problems.append((".fact", f"expected a fact name, got {describe(fact)}"))
    is_ = value.get("is")
    if "is" in value and is_ not in (True, False, "unknown", "known"):
        problems.append((".is", f"expected true, false, unknown or known, got {describe(is_)}"))
    equals = value.get("equals")
    if "equals" in value and not isinstance(equals, str):
        problems.append((".equals", f"expected a string, got {describe(equals)}"))
    in_ = value.get("in")
    if "in" in value and (
        not isinstance(in_, list) or not in_ or not all(isinstance(v, str) for v in in_)
    ):
        problems.append((".in", f"expected a non-empty list of strings, got {describe(in_)}"))
    numbers: dict[str, float] = {}
    for op in ("gt", "gte", "lt", "lte"):
        if op in value:
            number = value[op]
            if isinstance(number, bool) or not isinstance(number, int | float):
                problems.append((f".{op}", f"expected a number, got {describe(number)}"))
            elif not math.isfinite(number) or (0 < abs(number) < 1e-4) or abs(number) >= 1e15:
                # durable-rules mis-parses numbers printed in exponent form.
                problems.append((f".{op}", f"expected a number from 0.0001 to 1e15, got {number}"))
            else:
                numbers[op] = number
    kinds = sum(1 for k in ("is", "equals", "in") if k in value) + (1 if numbers else 0)
    if kinds > 1:
        problems.append(("", "use only one of is, equals, in, or comparisons (gt, gte, lt, lte)"))
    if problems:
        raise Invalid(problems)
    return FactTest(
        fact=str(fact),
        is_=is_,
        equals=equals,
        in_=tuple(in_) if in_ is not None else None,
        **numbers,
    )


def _structure_evidence(value: Any, _: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, Mapping):
        raise _expect("an object of condition id to weight", value)
    problems = []
    pairs = []
    for key, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight == 0:
            message = f"expected a non-zero number, got {describe(weight)}"
            problems.append((key_path("", key), message))
        else:
            pairs.append((str(key), float(weight)))
    if problems:
        raise Invalid(problems)
    return tuple(sorted(pairs))


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
                raise _expect("a list", value)
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
                raise _expect("an object", value)
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
        (tuple[tuple[str, float], ...], _structure_evidence),
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
        return [
            Problem(key_path(path, key), f"unknown field{did_you_mean(key, names)}"
                    if isinstance(key, str) else
                    f"field names must be strings, got {describe(key)}")
            for key in sorted(exc.extra_fields, key=repr)
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


def unstructure_assessment(assessment: Assessment) -> dict[str, Any]:
    """The assessment JSON object, fields in the order of the assessment format."""
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
        "scores",
        "notes",
        "trace",
        "engine",
    )
    return {key: data[key] for key in order}
