"""Clinical scores defined as data (the two-level Wells score): each item counted, not
counted or unknown, and the total with its interpretation band."""

from __future__ import annotations

from collections.abc import Mapping

from kneerules.conditions import holds
from kneerules.model import FactValue, ScoreItemResult, ScoreResult
from kneerules.ruledata import Condition, FactTest, ScoreItem, ScoreSpec


def _unrecorded(condition: Condition, facts: Mapping[str, FactValue]) -> bool:
    """Whether any fact ``condition`` tests is not recorded ."""
    if isinstance(condition, FactTest):
        return facts.get(condition.fact) is None
    for item in condition.items:  # noqa: SIM110 - see holds()
        if _unrecorded(item, facts):
            return True
    return False


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


def score_case(spec: ScoreSpec, facts: Mapping[str, FactValue]) -> ScoreResult:
    """Sums a score's items; an item not satisfied whose facts were not all recorded is unknown."""
    items = []
    total = 0.0
    unknown: list[str] = []
    for item in spec.items:
        if holds(item.when, facts):
            status = "counted"
            total += item.points
        elif _unrecorded(item.when, facts):
            status = "unknown"
            unknown.append(item.id)
        else:
            status = "not_counted"
        items.append(_item_result(item, status))
    band = max((b for b in spec.bands if total >= b.at_least), key=lambda b: b.at_least,
               default=None)
    interpretation, text = (band.interpretation, band.text) if band else ("", "")
    reachable = total + sum(item.points for item, result in zip(spec.items, items, strict=True)
                            if result.status == "unknown")
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
        items=tuple(items),
        unknown=tuple(unknown),
        notes=spec.notes,
        source=spec.source,
    )
