"""What is worked out once per object of the knowledge (a condition, a rule, a score), kept
by the object's identity: the objects are frozen but hashing a rule tree costs more than
most of what is cached, and equal objects of two engines may be cached as one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")

LIMIT = 50_000
"""Entries kept before a cache starts again: engines built and dropped over a long life
would otherwise keep every rule they ever had."""


def by_identity(make: Callable[[_K], _V], limit: int = LIMIT) -> Callable[[_K], _V]:
    """``make`` with its result kept per argument object. Each entry holds its object, so
    the object's ``id`` cannot be reused by another while the entry is there."""
    entries: dict[int, tuple[_K, _V]] = {}

    def cached(key: _K) -> _V:
        hit = entries.get(id(key))
        if hit is None or hit[0] is not key:
            if len(entries) >= limit:
                entries.clear()
            hit = entries[id(key)] = (key, make(key))
        return hit[1]

    cached.__doc__ = make.__doc__
    return cached
