"""Rule sets: which plugins make up an evaluation, the safety plugin, how results are graded.

A rule set is a YAML file a clinician signs off; the shipped ones live in
``kneerules/knowledge/data/rulesets/`` and are found by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from kneerules.knowledge.loading import DATA, read_data_file
from kneerules.model.converter import structure
from kneerules.model.errors import Problem, RuleDataError, RulesetError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

DEFAULT_RULESET = "posterior-knee"


@attrs.frozen
class RulesetSpec:
    """A named rule set: which plugins make it up and how results are graded."""

    name: str
    version: str
    description: str
    safety: str
    plugins: tuple[str, ...]
    essential: tuple[str, ...] = ()
    external_plugins: bool = True
    likely_at: float = 5.0
    possible_at: float = 2.0
    leading: int = 3
    source: str = ""


def load_ruleset(resource: Traversable | Path) -> RulesetSpec:
    """A rule-set file, read, parsed and checked."""
    source = str(resource)
    data = read_data_file(resource)
    spec, problems = structure(data, RulesetSpec, path="$")
    if spec is not None:
        if spec.safety not in spec.plugins:
            problems.append(Problem("$.safety", f'"{spec.safety}" is not in plugins'))
        problems += [
            Problem("$.essential", f'"{name}" is not in plugins')
            for name in spec.essential
            if name not in spec.plugins
        ]
        if not spec.possible_at < spec.likely_at:
            problems.append(Problem("$.possible_at", "must be below likely_at"))
    if problems or spec is None:
        raise RuleDataError(problems, source)
    from kneerules.knowledge.policy import POLICY_FLOOR

    missing = [name for name in POLICY_FLOOR if name not in spec.plugins]
    if missing:
        raise RulesetError(
            f"rule set {spec.name!r} ({source}) leaves out the triage policy floor: "
            f"{', '.join(missing)}. Every rule set must list these plugins, which hold "
            f"triage policy v2: {', '.join(POLICY_FLOOR)}")
    return attrs.evolve(spec, source=source)


def available_rulesets() -> dict[str, Path]:
    """Named rule sets shipped with kneerules, by name."""
    folder = DATA / "rulesets"
    return {
        entry.name.removesuffix(".yaml"): entry
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


def find_ruleset(name_or_path: str | Path) -> RulesetSpec:
    """A rule set by name (``posterior-knee``) or by the path of its YAML file."""
    shipped = available_rulesets()
    if isinstance(name_or_path, str) and name_or_path in shipped:
        return load_ruleset(shipped[name_or_path])
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_ruleset(path)
    known = ", ".join(shipped)
    raise RulesetError(f"no rule set named {str(name_or_path)!r} (available: {known})")


__all__ = ["DEFAULT_RULESET", "RulesetSpec", "available_rulesets", "find_ruleset", "load_ruleset"]
