"""Collects every plugin's contribution and checks that, together, they make sense."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import pluggy

from kneerules.knowledge.dataplugin import load_plugin_data
from kneerules.knowledge.loading import DATA
from kneerules.knowledge.plugins import (
    CaseFactsHook,
    LoadedPlugin,
    builtin_plugin_names,
    call_plugin,
    describe_plugins,
    plugin_hook,
)
from kneerules.knowledge.policy import (
    CAUTIONS,
    FLOOR_RULES,
    MESSAGE_PRECEDENCE,
    POLICY_FLOOR,
    SAFETY_NET_KIND,
    TIMEFRAMES,
)
from kneerules.knowledge.rulesets import RulesetSpec
from kneerules.model.errors import PluginError, Problem, RuleDataError, SafetyError
from kneerules.model.messages import did_you_mean
from kneerules.model.rules import (
    ALWAYS,
    ASKED_KINDS,
    MAX_PRIORITY,
    SAFETY_PRIORITY_LIMIT,
    AdviceSpec,
    AnswerChoice,
    AnyOf,
    Condition,
    ConditionInfo,
    ConsiderationSpec,
    FactSpec,
    FactTest,
    NoneOf,
    QuestionSpec,
    Reference,
    Rule,
    ScoreSpec,
    walk_tests,
)

CORE = "kneerules"


@attrs.frozen
class BackendChecks:
    """What the rules engine underneath can hold, checked on every fact and on every rule
    (with the label its problems are reported under). The engine hands in durable-rules'
    (:data:`kneerules.reasoning.durable.CHECKS`): reasoning sits above knowledge, so the
    knowledge base is told them rather than importing them."""

    fact: Callable[[FactSpec], list[Problem]]
    rule: Callable[[Rule, str], list[Problem]]


def core_vocabulary() -> tuple[FactSpec, ...]:
    """The findings, measurements and fields of the case format that every installation knows."""
    return load_plugin_data(DATA / "vocabulary.yaml", CORE).facts


def core_bibliography() -> tuple[Reference, ...]:
    """The references every installation knows, the clinical source first."""
    return load_plugin_data(DATA / "bibliography.yaml", CORE).references


@attrs.frozen
class KnowledgeBase:
    """Everything the loaded plugins know, validated as a whole."""

    ruleset: RulesetSpec
    plugins: tuple[LoadedPlugin, ...]
    facts: Mapping[str, FactSpec]
    conditions: Mapping[str, ConditionInfo]
    rules: tuple[Rule, ...]
    """In firing precedence: priority, then id (durable-rules' tie order is not guaranteed)."""
    advice: Mapping[str, AdviceSpec]
    considerations: Mapping[str, ConsiderationSpec]
    scores: tuple[ScoreSpec, ...]
    case_fact_hooks: tuple[tuple[str, CaseFactsHook], ...]
    references: Mapping[str, Reference] = attrs.field(factory=dict)
    questions: Mapping[str, QuestionSpec] = attrs.field(factory=dict)
    """How an interview asks for each fact, keyed by the fact (a checklist's every item
    maps to the checklist)."""

    @property
    def safety(self) -> str:
        return self.ruleset.safety


def _fail(plugin: str, ruleset: RulesetSpec, message: str) -> PluginError:
    cls = SafetyError if plugin == ruleset.safety else PluginError
    return cls(plugin, message)


def essential_plugins(ruleset: RulesetSpec) -> tuple[str, ...]:
    """The plugins no one may switch off: the policy floor and what the rule set adds."""
    return tuple(dict.fromkeys((ruleset.safety, *POLICY_FLOOR, *ruleset.essential)))


def select_plugins(
    pm: pluggy.PluginManager, ruleset: RulesetSpec, disabled: Iterable[str]
) -> list[LoadedPlugin]:
    """The plugins the rule set is made of, in a stable order; refuses to run without the
    safety plugin or an essential one (the policy floor always is)."""
    essential = essential_plugins(ruleset)
    for name in disabled:
        if name == ruleset.safety:
            raise SafetyError(name, "is the safety plugin and cannot be switched off")
        if name in essential:
            raise PluginError(name, "is essential to the triage policy (it holds part of the "
                              "policy floor) and cannot be switched off")
    loaded = {p.name: p for p in describe_plugins(pm)}
    for name in essential:
        if name not in loaded:
            raise _fail(name, ruleset, "is required by rule set "
                        f"{ruleset.name!r} but is not installed or was blocked")
    chosen = [loaded[name] for name in ruleset.plugins if name in loaded]
    if ruleset.external_plugins:
        chosen += [
            p for name, p in sorted(loaded.items())
            if name not in ruleset.plugins and name not in builtin_plugin_names()
        ]
    return chosen


_RESULT_TYPES: dict[str, type] = {
    "kneerules_facts": FactSpec,
    "kneerules_conditions": ConditionInfo,
    "kneerules_rules": Rule,
    "kneerules_advice": AdviceSpec,
    "kneerules_considerations": ConsiderationSpec,
    "kneerules_scores": ScoreSpec,
    "kneerules_references": Reference,
    "kneerules_questions": QuestionSpec,
}


def _call(pm: pluggy.PluginManager, plugin: LoadedPlugin, hook: str, ruleset: RulesetSpec
          ) -> Sequence[Any]:
    if hook not in plugin.hooks:
        return ()
    safety = plugin.name == ruleset.safety
    try:
        result = call_plugin(plugin_hook(pm, plugin.name, hook), plugin.name, hook,
                             safety=safety)
    except PluginError as exc:
        # Invalid rule data keeps its own error (it names file and rule), but from the
        # safety plugin it is still a safety failure.
        cause = exc.__cause__
        if isinstance(cause, RuleDataError):
            if safety:
                raise SafetyError(plugin.name, str(cause)) from cause
            raise cause from None
        raise
    if result is None:
        return ()
    if not isinstance(result, list | tuple):
        raise _fail(plugin.name, ruleset, f"{hook}() returned {type(result).__name__}, "
                    "expected a list")
    expected = _RESULT_TYPES[hook]
    wrong = sorted({type(item).__name__ for item in result if not isinstance(item, expected)})
    if wrong:
        raise _fail(plugin.name, ruleset, f"{hook}() returned items of type "
                    f"{', '.join(wrong)}, expected {expected.__name__}")
    return result


def build_knowledge(
    pm: pluggy.PluginManager, ruleset: RulesetSpec, backend: BackendChecks,
    disabled: Iterable[str] = (),
) -> KnowledgeBase:
    chosen = select_plugins(pm, ruleset, disabled)
    facts: dict[str, FactSpec] = {}
    problems: dict[str, list[Problem]] = defaultdict(list)
    source_of = {p.name: str(getattr(p.plugin, "data_file", f"plugin {p.name}")) for p in chosen}

    def add_unique(table: dict[str, Any], key: str, item: Any, kind: str, plugin: str) -> None:
        if key in table:
            other = table[key].plugin
            where = ("this plugin already defines it" if other == plugin else
                     f'plugin "{other}" ({source_of.get(other, "core vocabulary")}) already '
                     "defines it")
            problems[plugin].append(Problem(f'{kind} "{key}"', f"duplicate {kind} id: {where}"))
        else:
            table[key] = item

    for fact in core_vocabulary():
        facts[fact.name] = fact
    conditions: dict[str, ConditionInfo] = {}
    rules: dict[str, Rule] = {}
    advice: dict[str, AdviceSpec] = {}
    considerations: dict[str, ConsiderationSpec] = {}
    scores: list[ScoreSpec] = []
    questions: dict[str, QuestionSpec] = {}
    references: dict[str, Reference] = {ref.key: ref for ref in core_bibliography()}
    for p in chosen:
        for item in _call(pm, p, "kneerules_facts", ruleset):
            problems[p.name] += backend.fact(item)
            add_unique(facts, item.name, attrs.evolve(item, plugin=p.name), "fact", p.name)
        for item in _call(pm, p, "kneerules_conditions", ruleset):
            add_unique(conditions, item.id, attrs.evolve(item, plugin=p.name), "condition", p.name)
        for item in _call(pm, p, "kneerules_rules", ruleset):
            add_unique(rules, item.id, attrs.evolve(item, plugin=p.name), "rule", p.name)
        for item in _call(pm, p, "kneerules_advice", ruleset):
            add_unique(advice, item.id, attrs.evolve(item, plugin=p.name), "advice", p.name)
        for item in _call(pm, p, "kneerules_considerations", ruleset):
            add_unique(considerations, item.id, attrs.evolve(item, plugin=p.name),
                       "consideration", p.name)
        scores += [attrs.evolve(s, plugin=p.name)
                   for s in _call(pm, p, "kneerules_scores", ruleset)]
        for item in _call(pm, p, "kneerules_references", ruleset):
            add_unique(references, item.key, attrs.evolve(item, plugin=p.name), "reference",
                       p.name)
        for item in _call(pm, p, "kneerules_questions", ruleset):
            item = attrs.evolve(item, plugin=p.name)
            for name in item.facts:
                add_unique(questions, name, item, "question for", p.name)

    if not any(rule.plugin == ruleset.safety for rule in rules.values()):
        # Before any other check: the rest of the floor builds on the safety plugin.
        raise SafetyError(ruleset.safety, "contributed no rules: the safety check cannot run")
    derived = {r_name for r in rules.values() for r_name in r.then.derive}
    for rule in rules.values():
        problems[rule.plugin] += check_rule(rule, facts, conditions, advice, considerations,
                                            derived, rule.plugin == ruleset.safety, backend)
    for item in advice.values():
        problems[item.plugin] += check_advice(item, conditions, facts)
    # After every plugin's facts: a question may ask for a fact another plugin declares.
    for question in {id(q): q for q in questions.values()}.values():
        problems[question.plugin] += check_question(question, facts)
    for score in scores:
        problems[score.plugin] += check_score(score, facts)
    for plugin, found in problems.items():
        if found:
            error = RuleDataError(found, source_of.get(plugin, plugin))
            if plugin == ruleset.safety:
                raise SafetyError(plugin, str(error)) from error
            raise error
    check_floor(rules, advice)
    hooks = tuple(
        (p.name, plugin_hook(pm, p.name, "kneerules_case_facts"))
        for p in chosen if "kneerules_case_facts" in p.hooks
    )
    return KnowledgeBase(
        ruleset=ruleset,
        plugins=tuple(chosen),
        facts=facts,
        conditions=conditions,
        rules=tuple(sorted(rules.values(), key=lambda r: (r.priority, r.id))),
        advice=advice,
        considerations=considerations,
        scores=tuple(sorted(scores, key=lambda s: s.id)),
        case_fact_hooks=hooks,
        references=references,
        questions=questions,
    )


def check_question(question: QuestionSpec, facts: Mapping[str, FactSpec]) -> list[Problem]:
    """A question must record facts a case can hold (a checklist: findings), and its gate
    must name known facts."""
    where = f'question "{question.id}"'
    found: list[Problem] = []
    for index, name in enumerate(question.facts):
        spec = facts.get(name)
        at = f"{where}.items[{index}]" if question.items else where
        if spec is None:
            found.append(Problem(at, f'unknown fact "{name}"{did_you_mean(name, facts)}'))
        elif spec.kind not in ASKED_KINDS:
            found.append(Problem(at, f'"{name}" is a {spec.kind}: it is worked out, never asked'))
        elif question.items and spec.kind != "finding":
            found.append(Problem(at, f'"{name}" is a {spec.kind}: a checklist asks yes, no or '
                                 "don't know, so only findings"))
    if question.items and question.id in facts:
        found.append(Problem(where, "a checklist's id must not be a fact's name"))
    if question.answers and question.items:
        found.append(Problem(f"{where}.answers", "a checklist's answer words go on its items"))
    elif question.answers and question.id in facts:  # an unknown fact is reported above
        found += _check_answers(question.answers, facts[question.id], f"{where}.answers")
    for index, item in enumerate(question.items):
        if item.answers and item.fact in facts:
            found += _check_answers(item.answers, facts[item.fact],
                                    f"{where}.items[{index}].answers")
    if question.gated:
        for test in walk_tests(question.gate):
            found += check_test(test, facts, f"{where}.gate")
    return found



def _check_answers(answers: Sequence[AnswerChoice], spec: FactSpec,
                   where: str) -> list[Problem]:
    """A finding's own answer words: one for true and one for false at least (else the
    finding could never be recorded one way), none twice, and none the start of another
    (a person may type the first letters of an answer)."""
    if spec.kind != "finding":
        return [Problem(where, f'"{spec.name}" is a {spec.kind}: only a finding takes '
                        "answer words")]
    found: list[Problem] = []
    labels = [a.label.strip().lower() for a in answers]
    if not {True, False} <= {a.value for a in answers}:
        found.append(Problem(where, "needs a word for true and one for false"))
    for index, label in enumerate(labels):
        if not label:
            found.append(Problem(f"{where}[{index}].label", "must not be empty"))
        elif any(other.startswith(label) for other in labels[:index] + labels[index + 1:]):
            found.append(Problem(f"{where}[{index}].label",
                                 f'"{label}" is also the start of another answer'))
    return found


def plugin_contributions(pm: pluggy.PluginManager, plugin: LoadedPlugin, hook: str,
                         ruleset: RulesetSpec) -> Sequence[Any]:
    """What ``plugin`` returns from a contribution ``hook`` (``kneerules_rules``...), checked
    to be a list of the hook's type; a failure is a :class:`PluginError` naming the plugin."""
    return _call(pm, plugin, hook, ruleset)


def _every_case(whens: list[Condition]) -> bool:
    """Whether advice with these ``when`` conditions reaches every case: one of them always
    holds, or two are complements (any of some tests, and none of the same tests)."""
    if ALWAYS in whens:
        return True
    either = {w.items for w in whens if isinstance(w, AnyOf)}
    return any(isinstance(w, NoneOf) and w.items in either for w in whens)


def check_floor(rules: Mapping[str, Rule], advice: Mapping[str, AdviceSpec]) -> None:
    """Refuses an engine without every rule of triage policy v2, the safety-netting every
    result short of an emergency carries, or the cautions of advised treatments."""
    missing = [f"{rule_id} (policy rule {policy})" for policy, ids in FLOOR_RULES.items()
               for rule_id in ids if rule_id not in rules]
    if missing:
        raise SafetyError("general", "the triage policy floor is incomplete; missing "
                          + ", ".join(missing))
    short = [tf for tf in TIMEFRAMES if tf != "now" and not _every_case(
        [a.when for a in advice.values() if a.kind == SAFETY_NET_KIND and a.condition is None
         and not a.always and tf in a.timeframes])]
    if short:
        raise SafetyError("general", "no safety-netting advice for the timeframes "
                          + ", ".join(short))
    absent = [advice_id for advice_id in CAUTIONS.values() if advice_id not in advice]
    if absent:
        raise SafetyError("general", "the cautions advice is missing: " + ", ".join(absent))


def check_test(test: FactTest, facts: Mapping[str, FactSpec], where: str) -> list[Problem]:
    """Problems with one fact test: an undeclared fact, or an operator its type cannot take."""
    spec = facts.get(test.fact)
    if spec is None:
        return [Problem(where, f'unknown fact "{test.fact}"{did_you_mean(test.fact, facts)}')]
    found = []
    if test.comparisons() and not spec.is_numeric:
        found.append(Problem(where, f'"{test.fact}" is not a number; gt/gte/lt/lte cannot apply'))
    values = ([test.equals] if test.equals is not None else []) + list(test.in_ or ())
    if values:
        if not spec.choices:
            found.append(Problem(where, f'"{test.fact}" has no choices; equals/in cannot apply'))
        for value in values:
            if spec.choices and value not in spec.choices:
                found.append(Problem(where, f'"{value}" is not a choice of "{test.fact}" '
                                     f"({', '.join(spec.choices)})"))
    if test.is_ in (True, False) and spec.kind not in ("finding", "conclusion"):
        found.append(Problem(where, f'"{test.fact}" is not true/false; use is: known/unknown '
                             "or a comparison"))
    if spec.kind == "conclusion":
        found.append(Problem(where, f'"{test.fact}" is a conclusion; list it under after'))
    return found


def check_advice(item: AdviceSpec, conditions: Mapping[str, ConditionInfo],
                 facts: Mapping[str, FactSpec] | None = None) -> list[Problem]:
    where = f'advice "{item.id}"'
    found = []
    if item.condition is not None and item.condition not in conditions:
        found.append(Problem(where, f'unknown condition "{item.condition}"'
                             f"{did_you_mean(item.condition, conditions)}"))
    for name in item.unsafe_with:
        if name not in conditions and (facts is None or name not in facts):
            found.append(Problem(where, f'unsafe_with: "{name}" is neither a condition nor a '
                                 f"finding{did_you_mean(name, [*conditions, *(facts or ())])}"))
    if item.kind == SAFETY_NET_KIND and "now" in item.timeframes:
        found.append(Problem(where, "safety-netting is for results short of an emergency"))
    if facts is not None:
        # Advice reads the case as given: a conclusion is never in the facts it is shown.
        for test in walk_tests(item.when):
            found += check_test(test, facts, f"{where} when")
    return found


def check_score(score: ScoreSpec, facts: Mapping[str, FactSpec]) -> list[Problem]:
    where = f'score "{score.id}"'
    found = []
    spec = facts.get(score.fact)
    if spec is None or spec.kind != "score":
        found.append(Problem(where, f'fact "{score.fact}" must be declared with kind: score'))
    for item in score.items:
        for test in walk_tests(item.when):
            found += check_test(test, facts, where)
    return found


def check_rule(
    rule: Rule,
    facts: Mapping[str, FactSpec],
    conditions: Mapping[str, ConditionInfo],
    advice: Mapping[str, AdviceSpec],
    considerations: Mapping[str, ConsiderationSpec],
    derived: set[str],
    is_safety: bool,
    backend: BackendChecks,
) -> list[Problem]:
    where = f'rule "{rule.id}"'
    found: list[Problem] = []
    if not rule.because.strip():
        found.append(Problem(where, "because is empty: say why, in plain language"))
    if not rule.source.strip():
        found.append(Problem(where, "source is empty: name the section or guideline"))
    if rule.then.is_empty():
        found.append(Problem(where, "then concludes nothing"))
    triage = rule.then.triage
    if rule.policy is not None and rule.policy not in MESSAGE_PRECEDENCE:
        hint = did_you_mean(rule.policy, MESSAGE_PRECEDENCE)
        found.append(Problem(where, f'policy: "{rule.policy}" is not a rule of the triage '
                             f"policy's message precedence{hint}"))
    leads = rule.then.leads
    for condition_id in leads.conditions if leads is not None else ():
        if condition_id not in conditions:
            found.append(Problem(where, f'leads: unknown condition "{condition_id}"'
                                 f"{did_you_mean(condition_id, conditions)}"))
    if triage is not None and not triage.consistent():
        found.append(Problem(where, "triage: give a timeframe (now, today, within_48_hours, "
                             "within_2_weeks, routine) or a level that agrees with it"))
    low, high = (0, SAFETY_PRIORITY_LIMIT - 1) if is_safety else (SAFETY_PRIORITY_LIMIT,
                                                                    MAX_PRIORITY)
    if not low <= rule.priority <= high:
        role = ("the safety plugin's rules" if is_safety else
                "non-safety rules, which come after every safety rule")
        found.append(Problem(where, f"priority {rule.priority} is outside {low}..{high}, "
                             f"the range of {role}"))
    for test in walk_tests(rule.when):
        found += check_test(test, facts, where)
    found += backend.rule(rule, where)
    for name in rule.after:
        spec = facts.get(name)
        if spec is None or spec.kind != "conclusion":
            found.append(Problem(where, f'after: "{name}" is not a declared conclusion'
                                 f"{did_you_mean(name, derived)}"))
        elif name not in derived:
            found.append(Problem(where, f'after: no rule derives "{name}", so this never fires'))
    for name in rule.then.derive:
        spec = facts.get(name)
        if spec is None or spec.kind != "conclusion":
            found.append(Problem(where, f'derive: "{name}" must be declared as a fact with '
                                 "kind: conclusion"))
    for condition_id, _ in rule.then.evidence:
        if condition_id not in conditions:
            found.append(Problem(where, f'evidence for unknown condition "{condition_id}"'
                                 f"{did_you_mean(condition_id, conditions)}"))
    flag = rule.then.red_flag
    if flag and flag.condition is not None and flag.condition not in conditions:
        found.append(Problem(where, f'red flag for unknown condition "{flag.condition}"'))
    for advice_id in rule.then.advise:
        if advice_id not in advice:
            found.append(Problem(where, f'advise: unknown advice "{advice_id}"'
                                 f"{did_you_mean(advice_id, advice)}"))
    for consideration in rule.then.consider:
        if consideration not in considerations:
            found.append(Problem(where, f'consider: unknown consideration "{consideration}"'
                                 f"{did_you_mean(consideration, considerations)}"))
    return found
