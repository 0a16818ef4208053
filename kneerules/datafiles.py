"""Reading the YAML data files clinicians write (plugins, rule sets), safely.

Only YAML's plain data types are loaded (a safe loader); a problem is a
:class:`~kneerules.errors.RuleDataError` naming the file and the line. PyYAML is
imported on the first file parsed: with the data cache warm (:mod:`kneerules.datacache`)
``kneerules eval`` parses none.
"""

from __future__ import annotations

import functools
import importlib
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kneerules.errors import Problem, RuleDataError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


@functools.cache
def _loader() -> Any:
    import yaml

    # libyaml's C loader is several times faster; fall back where it was not built.
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def package_files(package: str) -> Traversable:
    """``importlib.resources.files(package)``: the package's folder. For a package in a
    plain folder that is ``pathlib.Path`` of it, found without importing
    ``importlib.resources`` (tempfile, zipfile...: ~6 ms of every start)."""
    spec = importlib.import_module(package).__spec__
    if (spec is not None and type(spec.loader) is SourceFileLoader and spec.origin
            and spec.submodule_search_locations is not None):
        return Path(spec.origin).parent
    from importlib.resources import files

    return files(package)


MAX_NODES = 200_000
"""Values a data file may hold once YAML's aliases are expanded. A 14-line "billion laughs"
(each line nine aliases of the one before) took minutes and gigabytes to check; the
biggest shipped plugin holds a few thousand."""


def _expanded_size(text: str, source: str) -> None:
    """Refuses ``text`` if expanding its aliases would give more than :data:`MAX_NODES`
    values; counted on the parser's events, before anything is built."""
    sizes: dict[str, int] = {}
    open_nodes: list[list[Any]] = []  # [values so far, anchor] of each open collection
    total = 0
    import yaml

    for event in yaml.parse(text, Loader=_loader()):
        if isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append([1, event.anchor])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            size, anchor = open_nodes.pop()
        elif isinstance(event, yaml.ScalarEvent):
            size, anchor = 1, event.anchor
        elif isinstance(event, yaml.AliasEvent):
            size, anchor = sizes.get(event.anchor or "", 1), None
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if open_nodes:
            open_nodes[-1][0] += size
        else:
            total += size
        if size > MAX_NODES or total > MAX_NODES or (open_nodes and open_nodes[-1][0] > MAX_NODES):
            where = getattr(event, "start_mark", None)
            at = f"line {where.line + 1}" if where is not None else "$"
            raise RuleDataError([Problem(at, f"more than {MAX_NODES} values once its aliases "
                                         "(*name) are expanded: write the data out, or use "
                                         "fewer aliases")], source)


def read_yaml(text: str, source: str) -> Any:
    import yaml

    try:
        # Only a text with both an anchor and an alias can expand (a cheap test first: the
        # event scan would double the load time of every plugin at start-up).
        if "&" in text and "*" in text:
            _expanded_size(text, source)
        return yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleDataError([Problem(where, f"not valid YAML: {problem}")], source) from None


def read_text(resource: Traversable | Path) -> str:
    try:
        return resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleDataError([Problem("$", f"cannot read the file: {exc}")], str(resource)) from None


def read_bytes(resource: Traversable | Path) -> bytes | None:
    """The bytes of a data file, or None if it cannot be read (:func:`read_text` then says
    why, naming the file)."""
    try:
        return resource.read_bytes()
    except (OSError, ValueError):
        return None


def decoded(content: bytes) -> str | None:
    """``content`` as :func:`read_text` reads it (UTF-8, universal newlines), or None if it
    is not UTF-8 (:func:`read_text` then says so, naming the file)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")
