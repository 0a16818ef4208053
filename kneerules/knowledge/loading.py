"""Reading the YAML data files clinicians write (plugins, rule sets, the vocabulary), safely.

Loading reads in one direction: :func:`read_text` reads the file, :func:`read_yaml` parses it
(YAML's plain data types only, with a guard against alias bombs), and the caller structures
the result with the one converter (:func:`kneerules.model.converter.structure`). A problem
is a :class:`~kneerules.model.errors.RuleDataError` naming the file and the line.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kneerules.model.errors import Problem, RuleDataError

DATA = Path(__file__).resolve().parent / "data"
"""The shipped clinical data: ``plugins/`` (one YAML file per built-in condition plugin),
``rulesets/``, the core vocabulary and the bibliography."""

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


@functools.cache
def _loader() -> Any:
    import yaml

    # libyaml's C loader is several times faster; fall back where it was not built.
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


def read_data_file(resource: Traversable | Path) -> Any:
    """A data file read and parsed: plain YAML data, not yet checked."""
    return read_yaml(read_text(resource), str(resource))
