"""The hook reference of ``docs/plugins.md``, generated from the hookspec docstrings.

The docstrings in :mod:`kneerules.hookspecs` (and the hookspecs each shipped integration
adds, such as :mod:`kneerules.fhir.hookspecs`) are the single source; run
``python -m tools.hookdocs docs/plugins.md`` to rewrite the guide's section
between its markers. A test fails when the guide and the docstrings disagree.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from kneerules import hookspecs
from kneerules.fhir import hookspecs as fhir_hookspecs

MODULES = ((hookspecs, ""),
           (fhir_hookspecs, "Added by the FHIR integration (`kneerules[fhir]`).\n\n"))

BEGIN = "<!-- hook reference: generated from kneerules/hookspecs.py; do not edit by hand -->"
END = "<!-- end of hook reference -->"


def hook_names() -> list[str]:
    """Every hook, the core's in the order hookspecs.py defines them, then the integrations'."""
    names = []
    for module, _ in MODULES:
        found = [(func.__code__.co_firstlineno, name)
                 for name, func in inspect.getmembers(module, inspect.isfunction)
                 if name.startswith("kneerules_") and func.__module__ == module.__name__]
        names += [name for _, name in sorted(found)]
    return names


def _markdown(docstring: str) -> str:
    text = inspect.cleandoc(docstring)
    # Sphinx roles read as plain code in Markdown: :class:`~kneerules.model.records.Case` -> `Case`.
    text = re.sub(r":[a-z]+:`~?(?:[\w.]+\.)?(\w+)`", r"`\1`", text)
    return text.replace("``", "`")


def render_hook_reference() -> str:
    """The Markdown of every hook: its signature as a heading, then its docstring."""
    parts = [BEGIN, ""]
    for name in hook_names():
        module, note = next((m, n) for m, n in MODULES if hasattr(m, name))
        func = getattr(module, name)
        params = ", ".join(inspect.signature(func).parameters)
        parts += [f"### `{name}({params})`", "", note + _markdown(func.__doc__ or ""), ""]
    parts.append(END)
    return "\n".join(parts)


def rewrite_guide(text: str) -> str:
    """``text`` with the generated section replaced by the current reference."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + render_hook_reference() + text[end:]


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    guide = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/plugins.md")
    guide.write_text(rewrite_guide(guide.read_text(encoding="utf-8")), encoding="utf-8")
