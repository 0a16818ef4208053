"""The rule book's content, read from a loaded knowledge base: nothing here is a hand-kept
list, so a new plugin, rule, hazard or policy rule appears in the book as it is loaded.

:func:`book_data` gives plain JSON (also written as ``book.json`` beside the page), which
is what :mod:`kneerules.book.diff` compares between two releases.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from kneerules.knowledge.advice_safety import treatments
from kneerules.knowledge.bibliography import resolve_all
from kneerules.knowledge.policy import (
    FLOOR_RULES,
    POLICY_FLOOR,
    TIMEFRAME_WORDS,
    UNSAFE_WHILE_NAMED,
    UNSAFE_WITH_FINDING,
)
from kneerules.model.rules import (
    TIMEFRAME_LEVEL,
    TIMEFRAMES,
    AllOf,
    AnyOf,
    Condition,
    FactSpec,
    FactTest,
    NoneOf,
    Reference,
)

if TYPE_CHECKING:
    from kneerules.knowledge.base import KnowledgeBase

BOOK_FORMAT = "kneerules.rule-book/1"
MAX_HAZARD_LOG_BYTES = 2 << 20  # a hazard log is a reviewed document, not a data dump
MAX_TEST_FILE_BYTES = 4 << 20

_COMPARE_WORDS = {"gt": "more than", "gte": "at least", "lt": "less than", "lte": "at most"}


class BookError(ValueError):
    """The hazard log cannot be read as one (the CLI says so and exits 1)."""


# --- a condition in plain words ---------------------------------------------------------


def fact_words(name: str, facts: Mapping[str, FactSpec]) -> str:
    """What a fact is called in the book: its meaning, or for a case field its last name
    part (``patient.age`` -> age), which reads better before a value."""
    spec = facts.get(name)
    if spec is None:
        return name
    if spec.kind == "field":
        return name.rsplit(".", 1)[-1].replace("_", " ")
    return spec.meaning


def fact_test_words(test: FactTest, facts: Mapping[str, FactSpec]) -> dict[str, Any]:
    """One fact test as a sentence part: ``{"fact": id, "text": words}``."""
    what = fact_words(test.fact, facts)
    spec = facts.get(test.fact)
    unit = f" {spec.unit}" if spec is not None and spec.unit else ""
    if test.is_ == "unknown":
        text = f"not recorded: {what}"
    elif test.is_ == "known":
        text = f"recorded either way: {what}"
    elif test.is_ is False:
        text = f"recorded absent: {what}"
    elif test.equals is not None:
        text = f"{what} is {test.equals}"
    elif test.in_ is not None:
        text = f"{what} is {' or '.join(test.in_)}"
    elif test.comparisons():
        text = what + " " + " and ".join(f"{_COMPARE_WORDS[op]} {bound:g}{unit}"
                                         for op, bound in test.comparisons())
    else:
        text = what
    return {"fact": test.fact, "text": text}


def condition_words(condition: Condition, facts: Mapping[str, FactSpec]) -> dict[str, Any]:
    """A condition tree in words: a test, or ``{"all"|"any"|"none": [...]}``."""
    if isinstance(condition, FactTest):
        return fact_test_words(condition, facts)
    word = {AllOf: "all", AnyOf: "any", NoneOf: "none"}[type(condition)]
    items: list[Condition] = []
    for item in condition.items:
        # all(all(a, b), c) reads as all(a, b, c), any(any(...)) likewise: same meaning,
        # the nesting only came from shared parts written once (YAML anchors).
        if type(item) is type(condition) and not isinstance(item, NoneOf):
            items.extend(item.items)
        else:
            items.append(item)
    return {word: [condition_words(item, facts) for item in items]}


def flat_text(words: Mapping[str, Any]) -> str:
    """A condition in words on one line (search, the diff)."""
    if "text" in words:
        return str(words["text"])
    (word, items), = words.items()
    if not items:
        return "always"
    joined = {"all": " and ", "any": " or ", "none": " nor "}[word]
    inner = joined.join(flat_text(item) for item in items)
    if word == "none":
        return f"none of ({inner})" if len(items) > 1 else f"not ({inner})"
    return f"({inner})" if len(items) > 1 else inner


# --- sources -----------------------------------------------------------------------------


def citations(source: str, references: Mapping[str, Reference]) -> list[dict[str, str | None]]:
    """Each citation of a source, with the bibliography key it cites (None if none)."""
    return [{"text": text, "ref": found.key if isinstance(found, Reference) else None}
            for text, found in zip(source.split("; "), resolve_all(source, references),
                                   strict=True)]


# --- the hazard log ----------------------------------------------------------------------


def find_hazard_log(start: Path) -> Path | None:
    """``docs/safety/hazard-log.yaml`` in ``start`` or a folder above it (a checkout)."""
    for folder in (start, *start.parents):
        candidate = folder / "docs" / "safety" / "hazard-log.yaml"
        if candidate.is_file():
            return candidate
    return None


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, read as a case
    file is (no device, FIFO or folder); a :class:`BookError` naming ``what`` it is."""
    from kneerules.cases.validation import read_limited
    from kneerules.model.errors import CaseError

    try:
        raw = read_limited(str(path), limit)
    except CaseError as error:
        raise BookError(f"{path}: cannot read {what}: {error.problems[0].message}") from None
    if len(raw) > limit:
        raise BookError(f"{path}: {what} of more than {limit} bytes")
    return raw


def read_hazard_log(path: Path) -> list[dict[str, Any]]:
    """The hazards of a DCB0129 hazard log (docs/safety/hazard-log.yaml's format), read with
    the rule files' guarded YAML reader (plain data, no alias bombs)."""
    from kneerules.knowledge.loading import read_yaml
    from kneerules.model.errors import RuleDataError

    raw = read_capped(path, MAX_HAZARD_LOG_BYTES, "a hazard log")
    try:
        data = read_yaml(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError as error:
        raise BookError(f"{path}: not UTF-8: {error}") from None
    except RuleDataError as error:
        raise BookError(f"{path}: not YAML: {error.problems[0].message}") from None
    hazards = data.get("hazards") if isinstance(data, dict) else None
    if not isinstance(hazards, list):
        raise BookError(f"{path}: $.hazards: expected a list of hazards")
    out = []
    for number, hazard in enumerate(hazards):
        where = f"{path}: $.hazards[{number}]"
        if not isinstance(hazard, dict) or not isinstance(hazard.get("id"), str):
            raise BookError(f"{where}: expected a hazard with an id")
        controls = hazard.get("controls") or {}
        if not isinstance(controls, dict):
            raise BookError(f"{where}.controls: expected rules and tests")
        rules, tests = controls.get("rules") or [], controls.get("tests") or []
        if not (isinstance(rules, list) and isinstance(tests, list)):
            raise BookError(f"{where}.controls: rules and tests must be lists")
        residual = hazard.get("residual")
        measured = residual.get("measured_by") if isinstance(residual, dict) else None
        if measured is not None and not isinstance(measured, list):
            raise BookError(f"{where}.residual.measured_by: expected a list of tests")
        out.append({
            "id": hazard["id"],
            **{key: str(hazard.get(key) or "") for key in ("title", "cause", "effect",
                                                            "actions")},
            "initial": _risk(hazard.get("initial")), "residual": _risk(residual),
            "rules": [str(r) for r in rules], "tests": [str(t) for t in tests],
            "measured_by": [str(t) for t in measured or []],
        })
    return out


def _risk(value: Any) -> dict[str, str]:
    """A rating: severity, likelihood, risk, and why (a log may give its reasons)."""
    if not isinstance(value, dict):
        return {}
    return {key: str(value[key]) for key in ("severity", "likelihood", "risk", "why")
            if key in value}


def docstrings_of_tests(names: Sequence[str], root: Path) -> dict[str, str | None]:
    """Each ``path::function`` test's one-line docstring (None: no such test under root)."""
    sources: dict[str, dict[str, str | None] | None] = {}
    out: dict[str, str | None] = {}
    for name in names:
        path, _, function = name.partition("::")
        if path not in sources:
            sources[path] = _functions(root / path)
        found = sources[path]
        out[name] = None if found is None or function not in found else found[function] or ""
    return out


def _functions(path: Path) -> dict[str, str | None] | None:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TEST_FILE_BYTES + 1)
        tree = ast.parse(raw[:MAX_TEST_FILE_BYTES])
    except (OSError, SyntaxError, ValueError):
        return None
    return {node.name: (ast.get_docstring(node) or "").strip().splitlines()[0]
            if ast.get_docstring(node) else None
            for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


# --- the book ----------------------------------------------------------------------------


def content_hash(kb: KnowledgeBase) -> str:
    """sha256 of the rule set as loaded: its spec, plugins and versions, and everything they
    contribute, in a canonical JSON form. Two books of the same hash show the same rules."""
    content = {
        "ruleset": _plain(attrs.evolve(kb.ruleset, source="")),
        "plugins": [[p.name, p.version] for p in kb.plugins],
        "facts": [_plain(f) for f in kb.facts.values()],
        "conditions": [_plain(c) for c in kb.conditions.values()],
        "rules": [_plain(r) for r in kb.rules],
        "advice": [_plain(a) for a in kb.advice.values()],
        "considerations": [_plain(c) for c in kb.considerations.values()],
        "scores": [_plain(s) for s in kb.scores],
        "references": [_plain(r) for r in kb.references.values()],
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """attrs instances as dicts, all the way down, a condition group with its kind (all,
    any, none), which attrs.asdict would lose."""
    if attrs.has(type(value)):
        out = {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
        if isinstance(value, AllOf | AnyOf | NoneOf):
            out["group"] = type(value).__name__
        return out
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


# What the book shows of each kind by name; any other field a rule, advice or condition
# has (a field a later release adds) is shown as it is, under "more", and diffed all the
# same: the book never hides content it does not know.
RULE_SHOWN = frozenset({"id", "priority", "because", "source", "then", "when", "after",
                        "plugin"})
THEN_SHOWN = frozenset({"derive", "evidence", "red_flag", "triage", "advise", "consider"})
ADVICE_SHOWN = frozenset({"id", "kind", "text", "source", "condition", "triage", "always",
                          "audience", "timeframes", "treatments", "unsafe_with", "plugin"})
CONDITION_SHOWN = frozenset({"id", "name", "description", "source", "plugin", "commonness",
                             "outranks_while_named"})


def _more(item: Any, shown: frozenset[str]) -> dict[str, str]:
    """The fields of ``item`` the book does not show by name, that hold something, as text."""
    out = {}
    for field in attrs.fields(type(item)):
        value = getattr(item, field.name)
        if field.name in shown or value in (None, (), "", {}, False):
            continue
        if field.default is not attrs.NOTHING and value == field.default:
            continue
        plain = _plain(value)
        out[field.name] = plain if isinstance(plain, str) else json.dumps(
            plain, ensure_ascii=False, sort_keys=True)
    return out


def book_data(kb: KnowledgeBase, hazards: Sequence[Mapping[str, Any]] | None = None,
              tests: Mapping[str, str | None] | None = None,
              version: str = "") -> dict[str, Any]:
    """Everything the rule book shows, as plain JSON, from the loaded knowledge base; with
    the hazard log's hazards and the docstrings of the tests they name."""
    facts = kb.facts
    refs = kb.references
    hazards = list(hazards or [])
    controlled: dict[str, list[str]] = {}
    for hazard in hazards:
        for rule in hazard["rules"]:
            controlled.setdefault(rule, []).append(hazard["id"])
    derived_by: dict[str, list[str]] = {}
    for rule in kb.rules:
        for name in rule.then.derive:
            derived_by.setdefault(name, []).append(rule.id)
    rules: list[dict[str, Any]] = []
    named_by: dict[str, list[str]] = {}
    for rule in kb.rules:
        then = rule.then
        triage = then.triage
        flag = then.red_flag
        rules.append({
            "id": rule.id, "plugin": rule.plugin, "priority": rule.priority,
            "when": condition_words(rule.when, facts),
            "after": [{"fact": name, "text": fact_words(name, facts)} for name in rule.after],
            "timeframe": triage.timeframe if triage is not None else None,
            "level": triage.level if triage is not None else None,
            "message": triage.message if triage is not None else "",
            "red_flag": ({"id": flag.id, "message": flag.message, "condition": flag.condition}
                         if flag is not None else None),
            "names": sorted({*(c for c, _ in then.evidence),
                             *([flag.condition] if flag is not None and flag.condition
                               else [])}),
            "evidence": [[c, w] for c, w in then.evidence],
            "derive": list(then.derive), "advise": list(then.advise),
            "consider": list(then.consider),
            "because": rule.because, "source": rule.source,
            "citations": citations(rule.source, refs),
            "hazards": controlled.get(rule.id, []),
            "more": _more(rule, RULE_SHOWN) | _more(then, THEN_SHOWN),
            "data": _plain(rule),
        })
        for condition in rules[-1]["names"]:
            named_by.setdefault(condition, []).append(rule.id)
    rule_ids = {rule.id for rule in kb.rules}
    unsafe_while: dict[str, list[str]] = {}
    unsafe_finding: dict[str, list[str]] = {}
    advice = []
    for spec in kb.advice.values():
        done = treatments(spec)
        while_named = sorted({c for t in done for c in UNSAFE_WHILE_NAMED.get(t, ())})
        with_finding = sorted({f for t in done for f in UNSAFE_WITH_FINDING.get(t, ())})
        unsafe_while[spec.id], unsafe_finding[spec.id] = while_named, with_finding
        advice.append({
            "id": spec.id, "plugin": spec.plugin, "kind": spec.kind, "text": spec.text,
            "audience": spec.audience, "condition": spec.condition, "level": spec.triage,
            "always": spec.always, "timeframes": list(spec.timeframes),
            "treatments": list(done), "unsafe_with": list(spec.unsafe_with),
            "unsafe_while_named": while_named, "unsafe_with_findings": with_finding,
            "source": spec.source, "citations": citations(spec.source, refs),
            "more": _more(spec, ADVICE_SHOWN), "data": _plain(spec),
        })
    return {
        "format": BOOK_FORMAT,
        "kneerules": version,
        "ruleset": {"name": kb.ruleset.name, "version": kb.ruleset.version,
                    "description": kb.ruleset.description, "safety": kb.ruleset.safety,
                    "likely_at": kb.ruleset.likely_at, "possible_at": kb.ruleset.possible_at,
                    "leading": kb.ruleset.leading},
        "content_hash": content_hash(kb),
        "plugins": [{"name": p.name, "version": p.version, "origin": p.origin}
                    for p in kb.plugins],
        "conditions": [{"id": c.id, "name": c.name, "description": c.description,
                        "plugin": c.plugin, "source": c.source,
                        "citations": citations(c.source, refs),
                        "named_by": sorted(named_by.get(c.id, [])),
                        "commonness": c.commonness,
                        "outranks_while_named": list(c.outranks_while_named),
                        "more": _more(c, CONDITION_SHOWN), "data": _plain(c)}
                       for c in kb.conditions.values()],
        "facts": [{"name": f.name, "kind": f.kind, "meaning": f.meaning, "unit": f.unit,
                   "plugin": f.plugin or "kneerules",
                   "derived_by": derived_by.get(f.name, [])}
                  for f in sorted(facts.values(), key=lambda f: f.name)],
        "rules": rules,
        "scores": [{"id": s.id, "name": s.name, "fact": s.fact, "plugin": s.plugin,
                    "source": s.source, "citations": citations(s.source, refs),
                    "items": [{"id": i.id, "label": i.label, "points": i.points,
                               "when": condition_words(i.when, facts)} for i in s.items],
                    "bands": [{"at_least": b.at_least, "interpretation": b.interpretation,
                               "text": b.text} for b in s.bands],
                    "applies_when": condition_words(s.applies_when, facts),
                    "notes": list(s.notes), "data": _plain(s)} for s in kb.scores],
        "advice": advice,
        "considerations": [{"id": c.id, "name": c.name, "description": c.description,
                            "source": c.source, "citations": citations(c.source, refs)}
                           for c in kb.considerations.values()],
        "policy": {
            "timeframes": [{"id": tf, "level": TIMEFRAME_LEVEL[tf],
                            "words": TIMEFRAME_WORDS.get(tf, "")}
                           for tf in reversed(TIMEFRAMES)],
            "floor_plugins": list(POLICY_FLOOR),
            "floor_rules": [{"policy": policy, "rules": list(ids),
                             "missing": [r for r in ids if r not in rule_ids]}
                            for policy, ids in FLOOR_RULES.items()],
            "unsafe_while_named": {t: list(c) for t, c in UNSAFE_WHILE_NAMED.items()},
            "unsafe_with_finding": {t: list(f) for t, f in UNSAFE_WITH_FINDING.items()},
        },
        "hazards": [{**h, "missing_rules": [r for r in h["rules"] if r not in rule_ids]}
                    for h in hazards],
        "tests": dict(sorted((tests or {}).items())),
        "references": [{"key": r.key, "title": r.title, "authors": r.authors,
                        "journal": r.journal, "year": r.year, "doi": r.doi, "url": r.url,
                        "sections": list(r.sections)} for r in refs.values()],
    }
