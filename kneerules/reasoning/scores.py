"""Clinical scores defined as data (the two-level Wells score): each item counted, not
counted or unknown, and the total with its interpretation band."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kneerules.model.records import FactValue, ScoreItemResult, ScoreResult
from kneerules.model.rules import ScoreItem, ScoreSpec, walk_tests
from kneerules.reasoning.chaining import expression


def _tested(item: ScoreItem) -> tuple[str, ...]:
    """The facts an item tests: an item that does not hold is unknown if one of them is not
    recorded."""
    return tuple(dict.fromkeys(test.fact for test in walk_tests(item.when)))


_ITEM_RESULTS: dict[tuple[int, str], tuple[ScoreItem, ScoreItemResult]] = {}


def _item_result(item: ScoreItem, status: str) -> ScoreItemResult:
    """The (immutable, so shareable) result of one item, made once per item and status
    instead of for every case; the entry holds the item, so its id is not reused."""
    hit = _ITEM_RESULTS.get((id(item), status))
    if hit is None or hit[0] is not item:
        if len(_ITEM_RESULTS) >= 50_000:  # engines built and dropped over a long life
            _ITEM_RESULTS.clear()
        result = ScoreItemResult(item.id, item.label, item.points, status)  # type: ignore[arg-type]
        hit = _ITEM_RESULTS[(id(item), status)] = (item, result)
    return hit[1]


Tally = Callable[[Mapping[str, FactValue]],
                 tuple[float, tuple[ScoreItemResult, ...], tuple[str, ...]]]


def compile_tally(spec: ScoreSpec) -> Tally:
    """One function adding up ``spec``'s items for a facts mapping: the total, each item's
    result and the ids of the unknown items, in the items' order.

    An item counts when its condition holds; otherwise it is unknown if it adds points and
    one of the facts it tests is not recorded, else not counted. Generated from the items'
    conditions (:func:`kneerules.reasoning.chaining.expression`): a call per item and a
    result per item each cost more than the test itself."""
    scope: dict[str, Any] = {"_NUMBER": (int, float)}
    lines = ["def tally(f):", "    total = 0.0", "    items = []", "    unknown = []"]
    for n, item in enumerate(spec.items):
        names = _tested(item)
        # An item that only lowers the score (Wells' minus 2) is never "unknown": an unknown
        # item is one whose recording could lift the score into a higher band.
        missing = (" or ".join(f"f.get({name!r}) is None" for name in names) or "False"
                   ) if item.points > 0 else "False"
        scope.update({f"C{n}": _item_result(item, "counted"),
                      f"U{n}": _item_result(item, "unknown"),
                      f"N{n}": _item_result(item, "not_counted"), f"P{n}": item.points})
        lines += [f"    if {expression(item.when)}:",
                  f"        total += P{n}", f"        items.append(C{n})",
                  f"    elif {missing}:",
                  f"        unknown.append({item.id!r})", f"        items.append(U{n})",
                  "    else:", f"        items.append(N{n})"]
    lines.append("    return total, tuple(items), tuple(unknown)")
    # Built from fact names, ids and values through repr(): data, never code.
    exec(compile("\n".join(lines), f"<score {spec.id}>", "exec"), scope)
    tally: Tally = scope["tally"]
    return tally


def score_case(spec: ScoreSpec, facts: Mapping[str, FactValue],
               tally: Tally | None = None) -> ScoreResult:
    """Sums a score's items; an item not satisfied whose facts were not all recorded is unknown.
    ``tally``: :func:`compile_tally` of ``spec``, if the caller keeps it (an engine's plan)."""
    total, items, unknown = (tally or compile_tally(spec))(facts)
    band = max((b for b in spec.bands if total >= b.at_least), key=lambda b: b.at_least,
               default=None)
    interpretation, text = (band.interpretation, band.text) if band else ("", "")
    reachable = total + sum(result.points for result in items if result.status == "unknown")
    if any(total < b.at_least <= reachable for b in spec.bands):
        # Unrecorded items could lift the total into a higher band: a lower band ("DVT
        # unlikely") would claim what the findings do not show (issue 11, item 5).
        interpretation = "indeterminate"
        text = (f"at least {total:g}, {len(unknown)} item{'s' if len(unknown) != 1 else ''} "
                "not recorded")
    return ScoreResult(
        id=spec.id,
        name=spec.name,
        score=total,
        interpretation=interpretation,
        text=text,
        items=items,
        unknown=unknown,
        notes=spec.notes,
        source=spec.source,
    )
