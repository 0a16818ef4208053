"""CDS Hooks 2.0 feedback: the request body read, and the safety-review report printed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from kneerules.model.textsafe import one_line
from kneerules.service.cards import OVERRIDE_REASONS, OVERRIDE_SYSTEM
from kneerules.service.store import Feedback, FeedbackRow

OUTCOMES = ("accepted", "overridden")
MAX_ITEMS = 50
"""Feedback items per request: a clinician acts on one or two cards at a time."""
MAX_COMMENT_CHARS = 2000
MAX_TEXT_CHARS = 256
"""Every other string of a feedback item (card uuid, codes, display, timestamp)."""
_DISPLAYS = {(OVERRIDE_SYSTEM, code): display for code, display in OVERRIDE_REASONS}


class BadFeedback(Exception):
    """The feedback body is malformed (400); says what is wrong where."""


def _optional_string(value: Any, path: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadFeedback(f"{path}: expected a string")
    if value is not None and len(value) > limit:
        raise BadFeedback(f"{path}: longer than {limit} characters")
    return value or None


def parse_feedback(body: Any) -> list[Feedback]:
    """The feedback items of a body ``{"feedback": [...]}``, or :class:`BadFeedback`."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) \
            or not body["feedback"]:
        raise BadFeedback("$.feedback: expected a non-empty list")
    if len(body["feedback"]) > MAX_ITEMS:
        raise BadFeedback(f"$.feedback: {len(body['feedback'])} items, at most {MAX_ITEMS}")
    items = []
    for i, item in enumerate(body["feedback"]):
        path = f"$.feedback[{i}]"
        if not isinstance(item, dict):
            raise BadFeedback(f"{path}: expected an object")
        card = item.get("card")
        if not isinstance(card, str) or not card or len(card) > MAX_TEXT_CHARS:
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
                                       f"{path}.overrideReason.userComment", MAX_COMMENT_CHARS)
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
        lines.append(f"{one_line(rule)}: {len(overridden)} overridden, "
                     f"{accepted.get(rule, 0)} accepted")
        for row in overridden:
            lines.append(_override_line(row))
    return "\n".join(lines) + "\n"


def _override_line(row: FeedbackRow) -> str:
    """One override, every stored string escaped: feedback comes from outside, and a control
    character in it must not drive the reviewer's terminal."""
    f = row.feedback
    e = one_line
    # The display this service issued with the code, when the client sent only code+system.
    issued = _DISPLAYS.get((f.reason_system or "", f.reason_code or ""))
    display = issued or f.reason_display
    why = e(display or f.reason_code or "no reason given")
    code = f" [{e(f.reason_code)}]" if f.reason_code and display else ""
    comment = f' "{e(f.user_comment)}"' if f.user_comment else ""
    version = ""
    if row.versions:
        version = (f" (kneerules {e(str(row.versions.get('kneerules')))}, "
                   f"{e(str(row.versions.get('ruleset')))} "
                   f"{e(str(row.versions.get('ruleset_version')))})")
    tenant = f" tenant {e(row.tenant)}" if row.tenant else ""
    return (f"  {e(f.outcome_timestamp or row.received)} {e(row.level or '?')} card "
            f"{e(f.card)}: {why}{code}{comment}; from {e(row.issuer)}{tenant}{version}")
