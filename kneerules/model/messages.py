"""How a problem is worded and located: a value as the user wrote it, the closest valid
names for a misspelt one, JSON paths, and the exception structuring hooks raise."""

from __future__ import annotations

import difflib
import json
import math
import reprlib
from collections.abc import Iterable, Sequence
from typing import Any, TypeGuard

from kneerules.model.textsafe import json_safe, visible


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
        return _shorten(json_safe(json.dumps(value, ensure_ascii=False, allow_nan=False)))
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
        return f"{path}[{visible(json_safe(json.dumps(key, ensure_ascii=False)))}]"
    # Only a Python caller can use a key that is not a string; show it as Python would.
    return f"{path}[{_safe_repr(key)}]"


def _safe_repr(value: object) -> str:
    try:
        return reprlib.repr(value)
    except Exception:  # reprlib catches a failing __repr__, but not every failure
        return "?"


def is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number: an int or float, but not a bool (``true`` is not ``1`` here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def expect(description: str, value: Any) -> Invalid:
    return Invalid([("", f"expected {description}, got {describe(value)}")])


def install_extra(extra: str) -> str:
    """How to install one of kneerules' extras: kneerules is not on PyPI, so from a clone of
    its repository or from a wheel built there (``make dist``)."""
    return (f"pip install '.[{extra}]' in a clone of kneerules (or the built wheel: "
            f"pip install 'dist/kneerules-VERSION-py3-none-any.whl[{extra}]')")

