"""Why a rule did (not) fire for a case: the author's view behind ``eval --why-not``.

The engine fires rules in durable-rules; this module re-reads each named rule's
condition in Python (:mod:`kneerules.reasoning.conditions`) against the same facts, to name the
first part that failed, or the ``after`` conclusion no fired rule derived.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from kneerules.model.messages import did_you_mean
from kneerules.reasoning.conditions import first_failure

if TYPE_CHECKING:
    from kneerules.engine import Engine
    from kneerules.knowledge.base import KnowledgeBase
    from kneerules.model.records import Assessment, Case


@attrs.frozen
class RuleExplanation:
    """One rule's outcome for one case."""

    rule: str
    plugin: str
    priority: int
    fired_at: int | None
    """The rule's step in the trace, or None if it did not fire."""
    failure: str | None = None
    """The first failing part of ``when``, if it failed."""
    missing: tuple[str, ...] = ()
    """The ``after`` conclusions that no fired rule derived."""
    derivers: tuple[str, ...] = ()
    """The rules that could have derived the missing conclusions."""

    @property
    def fired(self) -> bool:
        return self.fired_at is not None


def resolve_names(knowledge: KnowledgeBase, names: Iterable[str]) -> list[str]:
    """Rule ids for ``names``: each a rule id, or a plugin name standing for all its rules.

    Raises :class:`LookupError` naming the first unknown name and the closest valid ones."""
    by_plugin: dict[str, list[str]] = {}
    for rule in knowledge.rules:
        by_plugin.setdefault(rule.plugin, []).append(rule.id)
    rule_ids = [rule.id for rule in knowledge.rules]
    chosen: dict[str, None] = {}
    for name in names:
        if name in by_plugin:
            chosen.update(dict.fromkeys(by_plugin[name]))
        elif name in rule_ids:
            chosen[name] = None
        else:
            hint = did_you_mean(name, [*rule_ids, *by_plugin])
            raise LookupError(f"no rule or plugin named {name!r}{hint}")
    return list(chosen)


def explain_rules(engine: Engine, case: Case, assessment: Assessment,
                  rule_ids: Sequence[str]) -> list[RuleExplanation]:
    """What happened to each of ``rule_ids`` when ``case`` gave ``assessment``."""
    facts, _ = engine.case_facts(case)
    rules = {rule.id: rule for rule in engine.knowledge.rules}
    steps = {step.rule: step.step for step in assessment.trace}
    derived = {name for rid in steps for name in rules[rid].then.derive}
    found = []
    for rule_id in rule_ids:
        rule = rules[rule_id]
        step = steps.get(rule_id)
        failure = None if step is not None else first_failure(rule.when, facts)
        missing = () if step is not None else tuple(n for n in rule.after if n not in derived)
        derivers = tuple(r.id for r in engine.knowledge.rules
                         if any(name in missing for name in r.then.derive))
        found.append(RuleExplanation(rule.id, rule.plugin, rule.priority, step, failure,
                                     missing, derivers))
    return found


def render_explanations(explanations: Sequence[RuleExplanation]) -> str:
    lines = ["", "Why (not):"]
    for item in explanations:
        head = f"  {item.rule}  [plugin {item.plugin}, priority {item.priority}]"
        if item.fired:
            lines.append(f"{head}: fired (step {item.fired_at})")
            continue
        lines.append(f"{head}: did not fire")
        if item.failure:
            lines.append(f"      first failing condition: {item.failure}")
        if item.missing:
            lines.append("      waits on " + ", ".join(item.missing) +
                         ", which no rule derived for this case")
            if item.derivers:
                lines.append("      (derived by " + ", ".join(item.derivers) +
                             ": see why they did not fire)")
        if not item.failure and not item.missing:
            # Python and durable-rules disagree: worth a bug report, never silence.
            lines.append("      its condition holds and nothing is missing: please report this")
    return "\n".join(lines) + "\n"
