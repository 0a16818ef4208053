"""Every error kneerules raises on purpose derives from :class:`KneerulesError`.

Only :mod:`kneerules.cli.main` turns these into exit codes; the library raises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs


@attrs.frozen
class Problem:
    """One thing wrong with an input, located by a JSON path (``$.findings["x"]``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class KneerulesError(Exception):
    """Base class of every error kneerules raises for a reason it understands.

    Every subclass pickles with what it was built from (``__reduce__``), so an
    error raised in a worker process reaches the parent whole, problems and all."""


class CaseError(KneerulesError):
    """A case is malformed; :attr:`problems` lists every problem found, not only the first."""

    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        super().__init__(self._summary())

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.problems, self.source)

    def _summary(self) -> str:
        lines = [str(p) for p in self.problems]
        head = f"{self.source}: " if self.source else ""
        if len(lines) == 1:
            return head + lines[0]
        return head + f"{len(lines)} problems:\n" + "\n".join("  " + line for line in lines)


class RuleDataError(KneerulesError):
    """A plugin's rule data is invalid; each problem names the file and the rule."""

    def __init__(self, problems: Sequence[Problem], source: str) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        listed = "\n".join(f"  {source}: {p}" for p in self.problems)
        super().__init__(f"invalid rule data in {source}:\n{listed}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.problems, self.source)


class PluginError(KneerulesError):
    """A plugin could not be loaded, or failed while a case was evaluated."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        self.message = message
        super().__init__(f"plugin {plugin!r}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.plugin, self.message)


class SafetyError(PluginError):
    """The safety plugin is missing, switched off or failed: no assessment can be given."""


class RulesetError(KneerulesError):
    """A named rule set does not exist or is inconsistent with the installed plugins."""


class EngineError(KneerulesError):
    """The rules engine itself failed while evaluating a case (a bug, never the user's fault)."""
