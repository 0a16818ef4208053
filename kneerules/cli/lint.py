"""``kneerules check``: finds mistakes in rule data without evaluating a case.

The engine's own checks (:mod:`kneerules.knowledge.base`) stop at the first plugin
with a problem; here every plugin is read, every problem is collected, and a
few more are looked for that an engine can run with but an author would not
want: rules that can never fire, conditions with no advice or no evidence.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy

from kneerules.knowledge.base import (
    check_advice,
    check_rule,
    check_score,
    core_bibliography,
    core_vocabulary,
    plugin_contributions,
    select_plugins,
)
from kneerules.knowledge.bibliography import source_problems
from kneerules.knowledge.dataplugin import DataPlugin
from kneerules.knowledge.loading import DATA, read_text, read_yaml
from kneerules.knowledge.plugins import LoadedPlugin, get_plugin_manager
from kneerules.knowledge.rulesets import RulesetSpec, find_ruleset
from kneerules.model.errors import PluginError, Problem, RuleDataError
from kneerules.model.records import FactValue
from kneerules.model.rules import (
    AllOf,
    Condition,
    FactSpec,
    FactTest,
    NoneOf,
    PluginData,
    Rule,
)
from kneerules.reasoning.conditions import describe_test, fact_test_holds
from kneerules.reasoning.durable import CHECKS
from kneerules.reasoning.questions import ASKED_KINDS

_SKIP_DIRS = {"build", "dist", "node_modules", "__pycache__", "site-packages", "venv"}
_PLUGIN_SECTIONS = {"conditions", "facts", "rules", "advice", "considerations", "scores",
                    "references"}
_MAX_ALTERNATIVES = 512
"""Past this many alternatives a condition is assumed satisfiable, never reported."""

@attrs.frozen
class LintProblem:
    """One problem, located by file and entry (``rule "dvt.x"``)."""

    source: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.message}"

@attrs.frozen
class LintReport:
    problems: tuple[LintProblem, ...]
    plugins: tuple[str, ...]
    rules: int
    files: tuple[str, ...] = ()
    """The plugin data files given, when only they were judged."""

@attrs.frozen
class _Source:
    name: str
    source: str
    data: PluginData

def plugin_files(paths: Iterable[Path]) -> list[Path]:
    """The plugin data files at ``paths``: files as given, folders searched for plugin YAML."""
    core = (DATA / "vocabulary.yaml").resolve()
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
            continue
        for candidate in sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")]):
            parts = candidate.relative_to(path).parts[:-1]
            if any(p.startswith(".") or p in _SKIP_DIRS for p in parts):
                continue
            if candidate.resolve() != core and _looks_like_plugin_data(candidate):
                found.append(candidate)
    return found

def _looks_like_plugin_data(path: Path) -> bool:
    # A folder also holds rule-set files and CI configuration: only plugin data is linted.
    try:
        data = read_yaml(read_text(path), str(path))
    except RuleDataError:
        return True  # let the lint report why it cannot be read
    return isinstance(data, Mapping) and bool(data) and set(data) <= _PLUGIN_SECTIONS

def _contributions(name: str, plugin: object, source: str, problems: list[LintProblem],
                   pm: pluggy.PluginManager, spec: RulesetSpec,
                   loaded: LoadedPlugin | None) -> PluginData | None:
    if isinstance(plugin, DataPlugin):
        try:
            return plugin.data
        except RuleDataError as error:
            problems += [LintProblem(error.source, p.path, p.message) for p in error.problems]
            return None
    if loaded is None:
        return None
    sections: dict[str, tuple[Any, ...]] = {}
    for section in sorted(_PLUGIN_SECTIONS):
        try:
            # Through pluggy, as the engine calls it: a SystemExit or a wrong type is a
            # problem of this plugin, not the end of `kneerules check`.
            sections[section] = tuple(plugin_contributions(pm, loaded, f"kneerules_{section}",
                                                           spec))
        except RuleDataError as error:
            problems += [LintProblem(error.source, p.path, p.message) for p in error.problems]
            return None
        except PluginError as error:
            problems.append(LintProblem(source, f"plugin {name!r}", error.message))
            return None
    return PluginData(**sections)

def _gather(paths: Sequence[Path], ruleset: str, disable: Sequence[str],
            problems: list[LintProblem], checked: set[str]) -> tuple[list[_Source], str]:

    spec = find_ruleset(ruleset)
    pm = get_plugin_manager(disable=disable)
    chosen = select_plugins(pm, spec, disable)
    loaded = {p.name: p for p in chosen}
    plugins: dict[str, tuple[object, str]] = {
        p.name: (p.plugin, str(getattr(p.plugin, "data_file", f"plugin {p.name}")))
        for p in chosen
    }
    from_paths: dict[str, Path] = {}
    for folder in paths:
        if not plugin_files([folder]):
            checked.add(str(folder))
            problems.append(LintProblem(str(folder), "$", "no plugin data file here (YAML "
                                        "with conditions, facts, rules, advice...)"))
    for path in plugin_files(paths):
        checked.add(str(path))
        # A file stands for the installed plugin of its name: an edited copy of an installed
        # plugin is linted in its place, not reported as its duplicate. It goes last, so a
        # duplicate id is reported against the file rather than the installed plugin.
        name = path.stem
        if name in from_paths:
            problems.append(LintProblem(str(path), f"plugin {name!r}",
                                        f"{from_paths[name]} also gives this plugin name"))
            continue
        from_paths[name] = path
        plugins.pop(name, None)
        plugins[name] = (DataPlugin(name, path), str(path))
    sources = []
    for name, (plugin, source) in plugins.items():
        data = _contributions(name, plugin, source, problems, pm, spec, loaded.get(name))
        if data is not None:
            sources.append(_Source(name, source, data))
    return sources, spec.safety


def lint(paths: Sequence[Path] = (), ruleset: str = "posterior-knee",
         disable: Sequence[str] = ()) -> LintReport:
    """Every problem in the installed rule set or, given ``paths``, in the plugin data
    files found there, checked together with the installed plugins."""
    problems: list[LintProblem] = []
    checked: set[str] = set()
    sources, safety = _gather(paths, ruleset, disable, problems, checked)
    origin = {s.name: s.source for s in sources}
    tables: dict[str, dict[str, Any]] = {k: {} for k in ("fact", "condition", "rule", "advice",
                                                         "consideration", "score",
                                                         "reference")}
    tables["fact"].update({fact.name: fact for fact in core_vocabulary()})
    tables["reference"].update({ref.key: ref for ref in core_bibliography()})
    for src in sources:
        data = src.data
        for kind, items in (("fact", data.facts), ("condition", data.conditions),
                            ("rule", data.rules), ("advice", data.advice),
                            ("consideration", data.considerations), ("score", data.scores),
                            ("reference", data.references)):
            for entry in items:
                item: Any = attrs.evolve(entry, plugin=src.name)
                key: str = (item.name if kind == "fact" else
                            item.key if kind == "reference" else item.id)
                if kind == "fact":
                    problems += [LintProblem(src.source, p.path, p.message)
                                 for p in CHECKS.fact(item)]
                other = tables[kind].get(key)
                if other is not None:
                    elsewhere = origin.get(other.plugin, "the core vocabulary")
                    problems.append(LintProblem(src.source, f'{kind} "{key}"',
                                                f"duplicate id, also in {elsewhere}"))
                else:
                    tables[kind][key] = item

    for src in sources:
        problems += placeholders(src.source, src.data)

    def report(plugin: str, found: Iterable[Problem]) -> None:
        problems.extend(LintProblem(origin[plugin], p.path, p.message) for p in found)

    facts, conditions, advice = tables["fact"], tables["condition"], tables["advice"]
    rules: list[Rule] = list(tables["rule"].values())
    derived = {name for rule in rules for name in rule.then.derive}
    for rule in rules:
        report(rule.plugin, check_rule(rule, facts, conditions, advice,
                                       tables["consideration"], derived, rule.plugin == safety,
                                       CHECKS))
    for item in advice.values():
        report(item.plugin, check_advice(item, conditions, facts))
    for rule in rules:
        report(rule.plugin, [Problem(f'rule "{rule.id}"', f"source: {message}")
                             for message in source_problems(rule.source, tables["reference"])])
    for score in tables["score"].values():
        report(score.plugin, check_score(score, facts))
    for rule in rules:
        report(rule.plugin, _summary_problems(rule))
    for rule, message in never_firing(rules, facts):
        report(rule.plugin, [Problem(f'rule "{rule.id}"', message)])
    for condition in conditions.values():
        report(condition.plugin, _condition_problems(condition.id, rules, advice.values()))
    for fact in facts.values():
        if fact.kind in ASKED_KINDS and not (fact.question or "").strip():
            problems.append(LintProblem(origin.get(fact.plugin, "kneerules/vocabulary.yaml"),
                                        f'fact "{fact.name}"', "no question: how should a "
                                        "patient be asked for it (kneerules ask)?"))
    if paths:  # the installed plugins are there to resolve names, not to be judged
        problems = [p for p in problems if p.source in checked]
    else:
        problems += _integration_checks(facts, disable)
    problems.sort(key=lambda p: (p.source, p.where))  # stable: an entry's problems together
    return LintReport(tuple(problems), tuple(s.name for s in sources), len(rules),
                      tuple(sorted(checked)))


SUMMARY_LIMIT = 140
"""A triage message is the summary of a CDS Hooks card: the specification wants it under 140
characters, and it is never cut (it carries the safety text), so a longer one is refused."""


def _summary_problems(rule: Rule) -> list[Problem]:
    message = rule.then.triage.message if rule.then.triage else ""
    if len(message) < SUMMARY_LIMIT:
        return []
    return [Problem(f'rule "{rule.id}"', f"triage message of {len(message)} characters: a "
                    f"card summary must be under {SUMMARY_LIMIT}; shorten it (it is never cut)")]


def _integration_checks(facts: Mapping[str, FactSpec], disable: Sequence[str]
                        ) -> list[LintProblem]:
    """Problems found by the installed integrations' checks (``kneerules_checks``, such as
    the FHIR mappings'), and a problem for each integration that could not be loaded."""
    from kneerules.knowledge.plugins import integrations

    loaded = integrations()
    found = [LintProblem("kneerules.integrations", "$", f"not loaded: {reason}")
             for reason in loaded.broken]
    pm = get_plugin_manager(disable=disable)
    for located in loaded.manager.hook.kneerules_checks(facts=facts, plugin_manager=pm):
        for source, problem in located:
            found.append(LintProblem(source, problem.path, problem.message))
    return found


def _condition_problems(condition: str, rules: Sequence[Rule], advice: Iterable[Any]
                        ) -> list[Problem]:
    where = f'condition "{condition}"'
    found = []
    if not any(item.condition == condition for item in advice):
        found.append(Problem(where, "no advice names this condition: what should the patient "
                             "do when it leads the differential?"))
    if not any(c == condition and w > 0 for rule in rules for c, w in rule.then.evidence):
        found.append(Problem(where, "no rule gives it evidence, so it never enters the "
                             "differential"))
    return found

# --- Rules that can never fire -------------------------------------------------------------

Literal = tuple[FactTest, bool]
"""A fact test and the outcome wanted of it (False under ``none``)."""

PLACEHOLDER = "EXAMPLE:"
"""What ``kneerules new-plugin`` writes where clinical content must go."""


def _texts(value: Any, field: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield field, value
    elif attrs.has(type(value)):
        for attribute in attrs.fields(type(value)):
            yield from _texts(getattr(value, attribute.name), attribute.name)
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _texts(item, field)


def placeholders(source: str, data: PluginData) -> list[LintProblem]:
    """Text still holding the scaffold's ``EXAMPLE:`` placeholders: a fresh plugin must not
    pass the check before a clinician has written its content."""
    found = []
    for kind, items in (("condition", data.conditions), ("fact", data.facts),
                        ("rule", data.rules), ("advice", data.advice),
                        ("consideration", data.considerations), ("score", data.scores)):
        for item in items:
            key = getattr(item, "name" if kind == "fact" else "id", "?")
            for field, text in _texts(item):
                if PLACEHOLDER in text:
                    found.append(LintProblem(source, f'{kind} "{key}"', f"{field} is still the "
                                             "new-plugin placeholder; write the clinical "
                                             "content in its place"))
    return found


def never_firing(rules: Sequence[Rule], facts: Mapping[str, FactSpec]
                 ) -> list[tuple[Rule, str]]:
    """Rules whose condition can never hold, or that wait on conclusions only such rules
    derive. (A conclusion no rule derives at all is reported by the engine's own check.)"""
    impossible = {rule.id: contradiction(rule.when, facts) for rule in rules}
    reachable: set[str] = set()
    can_fire: set[str] = set()
    changed = True
    while changed:  # the least fixed point: cycles of `after` never fire either
        changed = False
        for rule in rules:
            if (rule.id not in can_fire and impossible[rule.id] is None
                    and set(rule.after) <= reachable):
                can_fire.add(rule.id)
                reachable.update(rule.then.derive)
                changed = True
    found = []
    for rule in rules:
        if rule.id in can_fire:
            continue
        reason = impossible[rule.id]
        if reason is not None:
            found.append((rule, f"can never fire: {reason}"))
            continue
        for name in rule.after:
            derivers = [r.id for r in rules if name in r.then.derive]
            if name not in reachable and derivers:
                found.append((rule, f'can never fire: after "{name}", which only rules that '
                                    f"can never fire derive ({', '.join(derivers)})"))
                break
    return found

def contradiction(condition: Condition, facts: Mapping[str, FactSpec]) -> str | None:
    """Why ``condition`` can never hold, whatever the case; None if some case satisfies it
    (or it is too large to tell)."""
    alternatives = _alternatives(condition, True)
    if alternatives is None:
        return None
    if not alternatives:
        return "its condition has no alternative that can hold (an empty any?)"
    reasons = []
    for conjunct in alternatives:
        reason = _conflict(conjunct, facts)
        if reason is None:
            return None
        reasons.append(reason)
    return reasons[0] if len(reasons) == 1 else "no alternative can hold: " + "; ".join(
        dict.fromkeys(reasons))

def _alternatives(condition: Condition, wanted: bool) -> list[list[Literal]] | None:
    """``condition`` (or its negation) as alternatives of conjunctions of tests; None when
    there would be more than :data:`_MAX_ALTERNATIVES`."""
    if isinstance(condition, FactTest):
        return [[(condition, wanted)]]
    children = [_alternatives(item, wanted != isinstance(condition, NoneOf))
                for item in condition.items]
    if any(child is None for child in children):
        return None
    parts = [child for child in children if child is not None]
    conjunctive = isinstance(condition, AllOf | NoneOf) == wanted
    if conjunctive:
        result: list[list[Literal]] = [[]]
        for part in parts:
            if len(result) * len(part) > _MAX_ALTERNATIVES:
                return None
            result = [a + b for a, b in itertools.product(result, part)]
        return result
    merged = [conjunct for part in parts for conjunct in part]
    return merged if len(merged) <= _MAX_ALTERNATIVES else None

def _conflict(conjunct: Sequence[Literal], facts: Mapping[str, FactSpec]) -> str | None:
    by_fact: dict[str, list[Literal]] = {}
    for test, wanted in conjunct:
        by_fact.setdefault(test.fact, []).append((test, wanted))
    for name, literals in by_fact.items():
        spec = facts.get(name)
        if spec is None:
            continue  # an undeclared fact is reported on its own
        values = _candidates(spec, [test for test, _ in literals])
        if not any(all(fact_test_holds(test, {} if value is None else {name: value}) == wanted
                       for test, wanted in literals) for value in values):
            distinct = list(dict.fromkeys(literals))
            shown = " and ".join(describe_test(t) if w else f"not ({describe_test(t)})"
                                 for t, w in distinct)
            if len(distinct) > 1:
                return f"{shown} cannot hold together"
            limits = f" ({spec.minimum:g}..{spec.maximum:g})" if spec.is_numeric and \
                spec.minimum is not None and spec.maximum is not None else ""
            return f"{shown} can never hold for a value of {name}{limits}"
    return None

def _candidates(spec: FactSpec, tests: Sequence[FactTest]) -> Iterator[FactValue | None]:
    """Values of ``spec`` that meet every test any value can meet: one per region the tests'
    bounds cut the fact's range into."""
    if spec.kind != "score":
        yield None
    if spec.kind in ("finding", "conclusion"):
        yield from (True, False)
        return
    if spec.choices:
        yield from spec.choices
        return
    bounds = sorted({bound for test in tests for _, bound in test.comparisons()})
    points = set(bounds)
    points.update((a + b) / 2 for a, b in itertools.pairwise(bounds))
    if bounds:
        points.update((bounds[0] - 1, bounds[-1] + 1))
    if spec.integer:
        points = {f(p) + d for p in points for f in (math.floor, math.ceil) for d in (-1, 0, 1)}
    low = spec.minimum if spec.minimum is not None else -math.inf
    high = spec.maximum if spec.maximum is not None else math.inf
    points = {p for p in points if low <= p <= high}
    points.update(x for x in (spec.minimum, spec.maximum, 0.0) if x is not None and
                  low <= x <= high)
    yield from sorted(points)
