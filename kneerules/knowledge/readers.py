"""Readers: other formats (FHIR...) turned into a case by an installed integration.

The core names no integration: a reader is what an integration plugin returns from
``kneerules_readers`` (see :mod:`kneerules.hookspecs`), looked up on first use, so importing
kneerules or running ``kneerules eval`` never loads one. A reader is
``reader(engine, data, **options)`` and returns a :class:`~kneerules.Case`, or an object with
the case as ``.case`` and, optionally, ``.problems`` (what the reader could not decide, e.g.
conflicting records).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kneerules.model.errors import KneerulesError
from kneerules.model.messages import install_extra

RECORD_SIZE_FACTOR = 16
"""A record a reader takes (a FHIR Bundle: a whole patient's resources) may be this many
times the size of a case: one limit, :func:`record_limit`, for every command that reads
one (``eval --fhir``, ``fhir-case``)."""


def record_limit(max_bytes: int) -> int:
    """The largest record, in bytes, read for an engine whose cases may be ``max_bytes``."""
    return RECORD_SIZE_FACTOR * max_bytes


class ReaderError(KneerulesError):
    """No reader of that name is installed, or its integration's extra is missing."""


def installed_readers() -> dict[str, Callable[..., Any]]:
    """Every reader the installed integrations offer, by name."""
    from kneerules.knowledge.plugins import integrations

    found: dict[str, Callable[..., Any]] = {}
    for offered in reversed(integrations().manager.hook.kneerules_readers()):
        found.update(offered)
    return found


def load_reader(name: str) -> Callable[..., Any]:
    """The reader installed as ``name`` (``fhir``), or a :class:`ReaderError` that says
    which extra to install."""
    readers = installed_readers()
    reader = readers.get(name)
    if reader is None:
        raise ReaderError(f"no {name!r} reader is installed (installed: "
                          f"{', '.join(sorted(readers)) or 'none'}); {install_extra(name)}")

    def read(*args: Any, **options: Any) -> Any:
        try:
            return reader(*args, **options)
        except ImportError as error:
            raise ReaderError(f"the {name!r} reader needs the {name} extra: "
                              f"{install_extra(name)} ({error})") from None

    return read
