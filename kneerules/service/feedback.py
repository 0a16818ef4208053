"""CDS Hooks 2.0 feedback: the request body read, and the safety-review report printed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from kneerules.service.store import Feedback, FeedbackRow

OUTCOMES = ("accepted", "overridden")


class BadFeedback(Exception):
    """The feedback body is malformed (400); says what is wrong where."""


def _optional_string(value: Any, path: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadFeedback(f"{path}: expected a string")
    return value or None


def parse_feedback(body: Any) -> list[Feedback]:
    """The feedback items of a body ``{"feedback": [...]}``, or :class:`BadFeedback`."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) \
            or not body["feedback"]:
        raise BadFeedback("$.feedback: expected a non-empty list")
    items = []
    for i, item in enumerate(body["feedback"]):
        path = f"$.feedback[{i}]"
        if not isinstance(item, dict):
            raise BadFeedback(f"{path}: expected an object")
        card = item.get("card")
        if not isinstance(card, str) or not card:
            raise BadFeedback(f"{path}.card: expected the card's uuid")
        outcome = item.get("outcome")
        if outcome not in OUTCOMES:
            raise BadFeedback(f"{path}.outcome: expected accepted or overridden, "
                              f"got {outcome!r}")
        when = _optional_string(item.get("outcomeTimestamp"), f"{path}.outcomeTimestamp")
        reason = item.get("overrideReason")
        system = code = display = comment = None
        if reason is not None:
            if outcome != "overridden" or not isinstance(reason, dict):
                raise BadFeedback(f"{path}.overrideReason: an object, only when overridden")
            coding = reason.get("reason")
            if coding is not None:
                if not isinstance(coding, dict):
                    raise BadFeedback(f"{path}.overrideReason.reason: expected a Coding")
                system = _optional_string(coding.get("system"),
                                          f"{path}.overrideReason.reason.system")
                code = _optional_string(coding.get("code"), f"{path}.overrideReason.reason.code")
                display = _optional_string(coding.get("display"),
                                           f"{path}.overrideReason.reason.display")
            comment = _optional_string(reason.get("userComment"),
                                       f"{path}.overrideReason.userComment")
        items.append(Feedback(card, outcome, when, system, code, display, comment))
    return items


def overrides_by_rule(rows: Iterable[FeedbackRow]) -> str:
    """What was overridden and why, grouped by the rule that set the card's level."""
    groups: dict[str, list[FeedbackRow]] = defaultdict(list)
    accepted: dict[str, int] = defaultdict(int)
    for row in rows:
        rules = row.rules or (("(card unavailable)",) if row.level == "unavailable"
                              else ("(unknown card)",))
        for rule in rules:
            if row.feedback.outcome == "overridden":
                groups[rule].append(row)
            else:
                accepted[rule] += 1
    if not groups and not accepted:
        return "No feedback recorded.\n"
    lines = []
    for rule in sorted(set(groups) | set(accepted)):
        overridden = groups.get(rule, [])
        lines.append(f"{rule}: {len(overridden)} overridden, {accepted.get(rule, 0)} accepted")
        for row in overridden:
            f = row.feedback
            why = f.reason_display or f.reason_code or "no reason given"
            code = f" [{f.reason_code}]" if f.reason_code and f.reason_display else ""
            comment = f' "{f.user_comment}"' if f.user_comment else ""
            version = ""
            if row.versions:
                version = (f" (kneerules {row.versions.get('kneerules')}, "
                           f"{row.versions.get('ruleset')} "
                           f"{row.versions.get('ruleset_version')})")
            tenant = f" tenant {row.tenant}" if row.tenant else ""
            lines.append(f"  {f.outcome_timestamp or row.received} {row.level or '?'} card "
                         f"{f.card}: {why}{code}{comment}; from {row.issuer}{tenant}{version}")
    return "\n".join(lines) + "\n"
