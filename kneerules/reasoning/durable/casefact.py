"""The case fact of one pack, written as durable-rules' JSON text in one generated function.

Building the fact as a dict (bookkeeping, bucket tests, the facts the pack reads, each
computed group worked out by its own compiled check) and then encoding it took ~30 us of a
~290 us evaluation, more than the pack's C matching. A pack's layout is fixed when the
engine is built, so its writer is compiled then: the constant parts are one string, each
fact's key is written once, and every group's condition is inlined as a Python expression
(:func:`kneerules.reasoning.chaining.expression`, the same meaning as
:mod:`kneerules.reasoning.conditions`).
The text is exactly what :func:`kneerules.reasoning.durable.runner.dump_fact` writes for the same
fact (tested on random facts and on every example).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from kneerules.model.records import FactValue
from kneerules.model.rules import Condition
from kneerules.reasoning.chaining import expression
from kneerules.reasoning.durable.compiler import CASE, reserved_name

CaseFactWriter = Callable[[Mapping[str, FactValue], str], str]
"""``writer(facts, uid)``: one pack's case fact of one case, as JSON text."""

_encode_string: Callable[[str], str] = getattr(
    json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring


def json_number(value: int | float) -> str:
    """A JSON number never in exponent form, which durable-rules mis-parses (trap 8)."""
    if isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    if isinstance(value, int):
        return str(value)
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    return format(Decimal(text), "f") if "e" in text or "E" in text else text


def value_json(value: FactValue) -> str:
    """One fact value as durable-rules reads it: numbers in plain decimals, text escaped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json_number(value)
    return json.dumps(value, ensure_ascii=False)


def _float_json(value: float) -> str:
    # The common float (a score such as 1.5) is its repr; the rest take the general path.
    if value.is_integer() or not math.isfinite(value):
        return json_number(value)
    text = float.__repr__(value)
    return json_number(value) if "e" in text else text


def compile_writer(sid: str, buckets: Sequence[str], wanted: frozenset[str],
                   groups: Sequence[tuple[str, Condition]]) -> CaseFactWriter:
    """The writer of a pack's case fact: ``kind``, ``sid`` and the case's ``uid``, each
    bucket's always-true test, every recorded fact the pack reads (in the facts' order),
    then each computed group (``groups``, in order) that holds for the case, as true."""
    clash = sorted(name for name in wanted if reserved_name(name))
    if clash:
        # Facts are checked against reserved names when rules load; this pack would
        # otherwise overwrite its own bookkeeping.
        raise ValueError(f"facts with reserved names in a case fact: {clash}")
    head = f'{{"kind":{json.dumps(CASE)},"sid":{json.dumps(sid)},"uid":"'
    middle = '"' + "".join(f",{json.dumps(name)}:1" for name in buckets)
    keys = {name: f",{json.dumps(name, ensure_ascii=False)}:" for name in sorted(wanted)}
    # A group is written only when it holds: its rules test it for true, which a missing
    # property never is, and the fact's text is repeated in every action message (with
    # every group written, ~0.9 KB a case; durable-rules' share of a case fell ~7 %).
    tail = "".join(
        f"+({json.dumps(',' + json.dumps(name) + ':true')} if {expression(condition)} else '')"
        for name, condition in groups)
    # Built only from fact names and values through repr() and json.dumps: data, never code.
    source = f"""
def write(f, uid):
    out = [HEAD, uid, MIDDLE]
    for name, value in f.items():
        key = KEYS.get(name)
        if key is None:
            continue
        kind = type(value)
        if kind is bool:
            out.append(key + ("true" if value else "false"))
        elif kind is str:
            out.append(key + STRING(value))
        elif kind is int:
            out.append(key + int.__repr__(value))
        elif kind is float:
            out.append(key + FLOAT(value))
        else:
            out.append(key + VALUE(value))
    return "".join(out) + ("" {tail}) + "}}"
"""
    scope: dict[str, Any] = {
        "HEAD": head, "MIDDLE": middle, "KEYS": keys, "STRING": _encode_string,
        "FLOAT": _float_json, "VALUE": value_json, "_NUMBER": (int, float),
    }
    exec(compile(source, f"<case fact of pack {sid}>", "exec"), scope)
    writer: CaseFactWriter = scope["write"]
    return writer
