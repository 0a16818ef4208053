"""Readers: other formats (FHIR...) turned into a case by an installed integration.

The core names no integration: a reader is found, on first use, under the
``kneerules.readers`` entry-point group, so importing kneerules or running ``kneerules
eval`` never loads one. A reader is ``reader(engine, data, **options)`` and returns a
:class:`~kneerules.Case`, or an object with the case as ``.case`` and, optionally,
``.problems`` (what the reader could not decide, e.g. conflicting records).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from kneerules.errors import KneerulesError

READERS_ENTRY_POINT_GROUP = "kneerules.readers"

RECORD_SIZE_FACTOR = 16
"""A record a reader takes (a FHIR Bundle: a whole patient's resources) may be this many
times the size of a case: one limit, :func:`record_limit`, for every command that reads
one (``eval --fhir``, ``fhir-case``)."""


def record_limit(max_bytes: int) -> int:
    """The largest record, in bytes, read for an engine whose cases may be ``max_bytes``."""
    return RECORD_SIZE_FACTOR * max_bytes


class ReaderError(KneerulesError):
    """No reader of that name is installed, or its integration's extra is missing."""


@functools.cache
def load_reader(name: str) -> Callable[..., Any]:
    """The reader installed as ``name`` (``fhir``), or a :class:`ReaderError` that says
    which extra to install."""
    found = [ep for ep in entry_points(group=READERS_ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = sorted(ep.name for ep in entry_points(group=READERS_ENTRY_POINT_GROUP))
        raise ReaderError(f"no {name!r} reader is installed (installed: "
                          f"{', '.join(known) or 'none'}); pip install 'kneerules[{name}]'")
    try:
        reader: Callable[..., Any] = found[0].load()
    except ImportError as error:
        raise ReaderError(f"the {name!r} reader needs the {name} extra: pip install "
                          f"'kneerules[{name}]' ({error})") from None
    return reader
