"""Command-line values shared by the core commands and the integrations' commands: the
engine every command builds from ``--ruleset``/``--disable``, and the index time ``--at``.
A small module of its own, so that an integration's commands import it and not the CLI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from kneerules.engine import Engine

DISABLE_HELP = ("Switch a plugin off by name (repeatable; also KNEERULES_DISABLE, comma-"
                 "separated). The safety plugin refuses.")

F = TypeVar("F", bound=Callable[..., Any])


def engine_options(command: F) -> F:
    """``--ruleset`` and ``--disable``, as every command that builds one engine from them
    takes them (passed on as ``ruleset`` and ``disable``, for :func:`build_engine`)."""
    command = click.option("--disable", multiple=True, metavar="PLUGIN",
                           help=DISABLE_HELP)(command)
    return click.option("--ruleset", default="posterior-knee", show_default=True,
                        help="A shipped rule set's name, or the path of a rule-set file."
                        )(command)



def fail(error: Exception) -> NoReturn:
    from kneerules.model.textsafe import terminal_safe

    raise click.ClickException(terminal_safe(str(error)))


def disabled(option: Sequence[str]) -> tuple[str, ...]:
    from kneerules.knowledge.plugins import disabled_from_env

    names = list(disabled_from_env())
    for value in option:
        names += [n for n in value.replace(",", " ").split() if n]
    return tuple(dict.fromkeys(names))


def build_engine(ruleset: str, disable: Sequence[str], max_bytes: int | None = None) -> Engine:
    from kneerules.cases.validation import DEFAULT_MAX_BYTES
    from kneerules.engine import Engine
    from kneerules.model.errors import KneerulesError

    try:
        return Engine(ruleset, disable=disabled(disable), max_bytes=max_bytes or DEFAULT_MAX_BYTES)
    except KneerulesError as error:
        fail(error)




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
