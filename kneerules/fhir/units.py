"""Comparing two FHIR Quantities only after a real UCUM unit conversion.

A lab result and its reference range may come in different units (0.8 mg/L against a
high of 500 ng/mL): compared as bare numbers, a raised D-dimer reads as normal. Units
are UCUM codes (``Quantity.code`` with ``system`` http://unitsofmeasure.org); conversion
goes through ucumvert (the full UCUM grammar, generated from ucum-essence.xml, onto pint),
loaded on first need only, as identical codes need no conversion. A unit given only as
text, no unit, or units that do not convert are never guessed at: the caller gets the
reason and leaves the finding unknown.

UCUM ignores annotations (``mg/L{FEU}``), but for a D-dimer they carry the basis: FEU
(fibrinogen equivalent units) and DDU (D-dimer units) measure different things, and the
ratio between them depends on the assay, so a value and a limit in different bases are
not compared at all.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any

from kneerules.model.messages import install_extra

UCUM = "http://unitsofmeasure.org"
_ANNOTATION = re.compile(r"\{([^{}]*)\}")
_MAX_CODE = 64


class Incomparable(Exception):
    """The two quantities cannot be compared; the message says why (for a problem)."""


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a real, finite JSON number (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def unit_code(quantity: Mapping[str, Any], what: str) -> str:
    """The UCUM code of a Quantity, or :class:`Incomparable` saying what is missing."""
    code, system, text = quantity.get("code"), quantity.get("system"), quantity.get("unit")
    if system is not None and system != UCUM:
        raise Incomparable(f"{what}'s unit system is {system!r}, not UCUM")
    if not isinstance(code, str) or not code.strip():
        if isinstance(text, str) and text.strip():
            raise Incomparable(f"{what}'s unit is given only as text ({text[:40]!r}), "
                               "without a UCUM code")
        raise Incomparable(f"{what} has no unit")
    if len(code) > _MAX_CODE:
        raise Incomparable(f"{what}'s unit code is too long to be a UCUM unit")
    return code.strip()


def basis(code: str) -> str | None:
    """FEU or DDU when an annotation of the unit says so (``mg/L{FEU}``)."""
    for note in _ANNOTATION.findall(code):
        word = str(note).strip().upper()
        if word in ("FEU", "DDU"):
            return word
    return None


@functools.cache
def _registry() -> Any:
    try:
        from ucumvert import PintUcumRegistry  # type: ignore[import-untyped]
    except ImportError:
        return None
    return PintUcumRegistry()


def convert(value: float, source: str, target: str) -> float:
    """``value`` in UCUM unit ``source`` expressed in ``target``; :class:`Incomparable`
    when either is not UCUM or they measure different things."""
    plain_source, plain_target = (_ANNOTATION.sub("", source), _ANNOTATION.sub("", target))
    if plain_source == plain_target:
        return value
    registry = _registry()
    if registry is None:
        raise Incomparable(f"converting {source!r} to {target!r} needs the fhir extra "
                           f"(ucumvert): {install_extra('fhir')}")
    try:
        one = registry.from_ucum(plain_source or "1")
        other = registry.from_ucum(plain_target or "1")
        converted = (value * one).to(other)
        number = float(converted.magnitude)
    except Exception as error:  # lark's parse errors, pint's DimensionalityError...
        raise Incomparable(f"{source!r} cannot be converted to {target!r} "
                           f"({type(error).__name__})") from None
    if not math.isfinite(number):
        raise Incomparable(f"{value:g} {source} has no finite value in {target}")
    return number
