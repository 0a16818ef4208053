"""Command-line values shared by the core commands and the integrations' commands."""

from __future__ import annotations

from datetime import datetime

import click


def parse_index_time(value: str | None) -> datetime | None:
    """An ISO 8601 index time with its zone (``2024-09-01T10:00:00Z``), or None when not
    given; a time without a zone is refused, since a record's dates would then shift."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected an ISO 8601 date and time, got {value!r}",
                                 param_hint="--at") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"give the time zone too (e.g. {value}Z or {value}+01:00)",
                                 param_hint="--at")
    return moment
