"""FHIR dates and times as intervals, and whether one falls in a time window.

A FHIR ``date``/``dateTime`` may be partial (``2024``, ``2024-05``): it stands for an
interval, and a window check must hold for the whole of it, or it is undecided.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@attrs.frozen
class Span:
    """From ``start`` (inclusive) to ``end`` (exclusive), both aware."""

    start: datetime
    end: datetime
    text: str


def parse_span(value: Any) -> Span | None:
    """The interval a FHIR date, dateTime or instant stands for; None if it is not one."""
    if not isinstance(value, str):
        return None
    match = _DATE.match(value)
    try:
        if match:
            year, month, day = (int(g) if g else None for g in match.groups())
            assert year is not None
            if month is None:
                start = datetime(year, 1, 1, tzinfo=UTC)
                return Span(start, datetime(year + 1, 1, 1, tzinfo=UTC), value)
            if day is None:
                start = datetime(year, month, 1, tzinfo=UTC)
                nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
                return Span(start, nxt, value)
            start = datetime(year, month, day, tzinfo=UTC)
            return Span(start, start + timedelta(days=1), value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # FHIR requires a zone with a time; read UTC if it is missing
        moment = moment.replace(tzinfo=UTC)
    return Span(moment, moment, value)


def birth_age(birth: Span, at: datetime) -> tuple[int, int]:
    """The lowest and highest age in whole years at ``at`` for a birth date interval."""

    def age(born: date) -> int:
        today = at.date()
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    last_day = (birth.end - timedelta(microseconds=1)).date()
    return age(last_day), age(birth.start.date())


def window_verdict(span: Span | None, at: datetime, days: float | None) -> str | None:
    """Why a resource dated ``span`` does not count at ``at`` with a window of ``days``
    (None when it counts)."""
    if span is None:
        return None if days is None else f"no date: cannot tell if within {_days(days)}"
    if span.start > at:
        return f"dated {span.text}, after the index time"
    if days is None:
        return None
    earliest = at - timedelta(days=days)
    if span.end <= earliest or (span.start == span.end and span.start < earliest):
        return f"dated {span.text}, outside the time window ({_days(days)} before the index time)"
    if span.start < earliest:
        return f"dated {span.text}, too imprecise to tell if within {_days(days)}"
    return None


def _days(days: float) -> str:
    return f"{days:g} day{'s' if days != 1 else ''}"
