"""Reading the YAML data files clinicians write (plugins, rule sets), safely.

Only YAML's plain data types are loaded (a safe loader); a problem is a
:class:`~kneerules.errors.RuleDataError` naming the file and the line.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from kneerules.errors import Problem, RuleDataError

# libyaml's C loader is several times faster; fall back where it was not built.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
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
