"""Installed entry points and versions, read from the distributions' metadata folders.

``importlib.metadata`` costs ~20 ms to import (it brings in ``email``, ``zipfile``,
``csv``...) and ~2-3 ms per scan of every installed distribution; ``kneerules eval``
needed it three times (its own version, the ``kneerules`` plugins and the
``kneerules.commands`` group), a sixth of its start-up. This module reads the same
files the same way: every ``*.dist-info`` / ``*.egg-info`` folder of each ``sys.path``
entry, in ``importlib.metadata``'s order (``sys.path`` order, then the order the folder
lists them in, grouped by normalized name), the first distribution of a name winning
where ``importlib.metadata.entry_points`` keeps one, ``entry_points.txt`` parsed by its
rules. Where the environment holds something it does not model (a zip file or an
``.egg`` on ``sys.path``, another finder of distributions, an entry it cannot read),
it answers None and the caller asks ``importlib.metadata`` instead, so the answer is
always ``importlib.metadata``'s own. A test compares the two on every group installed.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

# importlib.metadata.EntryPoint.pattern
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
_INFO_SUFFIXES = (".dist-info", ".egg-info")
_HEADER = re.compile(r"([\x21-\x39\x3b-\x7e]+):(.*)")


class Unsupported(Exception):
    """Something only ``importlib.metadata`` knows how to read."""


class EntryPoint(NamedTuple):
    """One entry point: ``name = value`` in ``[group]`` of ``entry_points.txt``."""

    name: str
    value: str
    group: str
    distribution: str
    """The path of the distribution's metadata folder."""

    def load(self) -> Any:
        """The object the entry point names, as ``importlib.metadata.EntryPoint.load``."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"not an entry point value: {self.value!r}")
        module = importlib.import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _check_finders() -> None:
    from importlib.machinery import PathFinder

    # The importlib_metadata backport (dask imports it) takes the standard finder's
    # find_distributions away and adds its own finder: its rules then apply.
    if not hasattr(PathFinder, "find_distributions"):
        raise Unsupported("the standard finder of distributions was replaced")
    for finder in sys.meta_path:
        if finder is not PathFinder and getattr(finder, "find_distributions", None):
            raise Unsupported(f"{finder!r} finds distributions")


def _infos(root: str) -> Iterator[str]:
    """The metadata folders in one ``sys.path`` entry, in ``importlib.metadata``'s order."""
    if os.path.basename(root).lower().endswith(".egg"):
        raise Unsupported(f"an egg on sys.path: {root}")
    try:
        children = os.listdir(root or ".")
    except OSError:
        if os.path.isfile(root):
            raise Unsupported(f"a file (a zip?) on sys.path: {root}") from None
        return
    grouped: dict[str, list[str]] = {}
    for child in children:
        low = child.lower()
        if low.endswith(_INFO_SUFFIXES):
            name = low.rpartition(".")[0].partition("-")[0]
            grouped.setdefault(_normalize(name), []).append(os.path.join(root, child))
    for paths in grouped.values():
        yield from paths


def _distributions() -> Iterator[str]:
    _check_finders()
    for root in sys.path:
        if not isinstance(root, str):
            raise Unsupported(f"not a string on sys.path: {root!r}")
        yield from _infos(root)


def _normalized_name(info: str) -> str:
    stem = os.path.basename(info)
    filename, extension = os.path.splitext(stem)
    name = filename.partition("-")[0]
    if extension not in _INFO_SUFFIXES or not name:
        raise Unsupported(f"a name only its metadata gives: {info}")
    return _normalize(name)


def _read(info: str, filename: str) -> str | None:
    try:
        with open(os.path.join(info, filename), encoding="utf-8") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None
    except (OSError, ValueError) as error:
        raise Unsupported(f"{info}/{filename}: {error}") from error


def _entry_points(info: str) -> Iterator[EntryPoint]:
    group = None
    for line in (_read(info, "entry_points.txt") or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line.strip("[]")
            continue
        if group is None:
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise Unsupported(f"{info}/entry_points.txt: {line!r} has no '='")
        yield EntryPoint(name.strip(), value.strip(), group, info)


def entry_points(group: str) -> list[EntryPoint] | None:
    """The entry points of ``group``, as ``importlib.metadata.entry_points(group=group)``
    gives them (the first distribution of each name only), or None if only
    ``importlib.metadata`` can tell."""
    try:
        seen: set[str] = set()
        found = []
        for info in _distributions():
            name = _normalized_name(info)
            if name in seen:
                continue
            seen.add(name)
            found += [entry for entry in _entry_points(info) if entry.group == group]
        return found
    except Unsupported:
        return None


def every_entry_point(group: str) -> list[EntryPoint] | None:
    """The entry points of ``group`` of every distribution found, duplicates included, in
    the order pluggy's ``load_setuptools_entrypoints`` loads them; or None."""
    try:
        return [entry for info in _distributions() for entry in _entry_points(info)
                if entry.group == group]
    except Unsupported:
        return None


class _PluginManager(Protocol):
    def has_plugin(self, name: str) -> bool: ...
    def is_blocked(self, name: str) -> bool: ...
    def register(self, plugin: Any, name: str | None = None) -> str | None: ...
    def load_setuptools_entrypoints(self, group: str, name: str | None = None) -> int: ...


def load_plugins(pm: _PluginManager, group: str) -> int:
    """``pm.load_setuptools_entrypoints(group)``: registers every plugin of ``group`` in
    pluggy's order, the first of a name winning, and returns how many. Without
    ``importlib.metadata`` where possible, so pluggy's record of each plugin's
    distribution (``list_plugin_distributions``) is not kept: for plugins no one lists,
    such as command modules."""
    entries = every_entry_point(group)
    if entries is None:
        return pm.load_setuptools_entrypoints(group)
    count = 0
    for entry in entries:
        if pm.has_plugin(entry.name) or pm.is_blocked(entry.name):
            continue
        pm.register(entry.load(), name=entry.name)
        count += 1
    return count


def version(distribution: str) -> str | None:
    """``importlib.metadata.version(distribution)``, or None if only it can tell (or the
    distribution is not installed: it then raises its own error)."""
    try:
        wanted = _normalize(distribution)
        for info in _distributions():
            stem = os.path.basename(info).lower().rpartition(".")[0].partition("-")[0]
            if _normalize(stem) == wanted:
                return _header(_read(info, "METADATA") or _read(info, "PKG-INFO") or "",
                               "version")
        return None
    except Unsupported:
        return None


def _header(text: str, wanted: str) -> str | None:
    """The first ``wanted`` header of an RFC 822 header block, as the ``email`` package
    reads it (compat32: leading blanks dropped, trailing line end dropped), or None for
    anything less plain (a folded value, a line that is not a header)."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line in ("", "\r"):
            return None
        match = _HEADER.match(line)
        if match is None:
            return None
        if match.group(1).lower() == wanted:
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if following[:1] in (" ", "\t"):
                return None
            return match.group(2).lstrip(" \t").rstrip("\r\n")
    return None


__all__ = ["EntryPoint", "entry_points", "every_entry_point", "load_plugins", "version"]
