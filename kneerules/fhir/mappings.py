"""The FHIR mapping data (``mappings.yaml`` and what plugins add): reading and checking it.

Light on purpose (PyYAML and attrs only): ``kneerules check`` lints the mappings
through :func:`check_installed` without loading any FHIR library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from importlib.resources import files
from typing import Any, Literal, cast

import attrs

from kneerules.model.errors import Problem, RuleDataError
from kneerules.model.messages import describe, did_you_mean
from kneerules.model.rules import FactSpec

MAPPINGS_FORMAT = "kneerules.fhir-mappings/1"
RESOURCE_TYPES = ("Observation", "Condition", "Procedure", "MedicationStatement",
                  "MedicationRequest")
ReadKind = Literal["present", "quantity", "coded", "positive"]
READ_KINDS: tuple[str, ...] = ("present", "quantity", "coded", "positive")
NO_UNIT = "none"
# Unit conversions a mapping may name; each gives the vocabulary's unit from the FHIR value.
CONVERTERS: dict[str, Any] = {
    "same": lambda v: v,
    "celsius": lambda v: v,
    "fahrenheit": lambda v: (v - 32.0) * 5.0 / 9.0,
}
_FIELDS = {"id", "resource", "system", "codes", "prefixes", "sets", "read", "units", "answers",
           "window", "resolved", "laterality", "because", "source"}


@attrs.frozen
class FhirMapping:
    """One mapping rule: which coded resources set which vocabulary name, and how."""

    id: str
    resource: tuple[str, ...]
    system: str
    sets: str
    read: ReadKind
    because: str
    source: str
    codes: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    units: Mapping[str, str] = attrs.field(factory=dict)
    answers: Mapping[str, bool | None] = attrs.field(factory=dict)
    window_days: float | None = None
    resolved_counts: bool = False
    laterality: bool = False
    origin: str = "kneerules"

    def matches(self, system: str | None, code: str | None) -> bool:
        if system != self.system or not isinstance(code, str):
            return False
        return code in self.codes or (bool(self.prefixes) and code.startswith(self.prefixes))


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    return None


def parse_mapping(entry: Any, where: str, origin: str) -> tuple[FhirMapping | None, list[Problem]]:
    """One mapping entry (decoded YAML) as a :class:`FhirMapping`, or the problems with it."""
    if not isinstance(entry, Mapping):
        return None, [Problem(where, f"expected a mapping entry (an object), got "
                                     f"{describe(entry)}")]
    problems: list[Problem] = []
    for key in entry:
        if key not in _FIELDS:
            problems.append(Problem(where, f"unknown field {key!r}{did_you_mean(key, _FIELDS)}"))
    text: dict[str, str] = {}
    for key in ("id", "system", "sets", "because", "source"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(where, f"{key}: expected a non-empty string, got "
                                           f"{describe(value)}"))
        else:
            text[key] = value
    resources = _strings(entry.get("resource"))
    if resources is None:
        problems.append(Problem(where, "resource: expected a resource type or a list of them"))
        resources = ()
    for name in resources:
        if name not in RESOURCE_TYPES:
            problems.append(Problem(where, f"resource: {name!r} is not a resource type mappings "
                                    f"read ({', '.join(RESOURCE_TYPES)})"
                                    f"{did_you_mean(name, RESOURCE_TYPES)}"))
    codes = _strings(entry.get("codes", [])) if "codes" in entry else ()
    prefixes = _strings(entry.get("prefixes", [])) if "prefixes" in entry else ()
    if codes is None or prefixes is None:
        problems.append(Problem(where, "codes and prefixes: expected lists of code strings"))
    elif not codes and not prefixes:
        problems.append(Problem(where, "give the codes (or code prefixes) the mapping selects"))
    read = entry.get("read")
    if read not in READ_KINDS:
        problems.append(Problem(where, f"read: expected one of {', '.join(READ_KINDS)}, got "
                                f"{describe(read)}{did_you_mean(read, READ_KINDS)}"))
    units = entry.get("units", {})
    if not isinstance(units, Mapping) or not all(
            isinstance(k, str) and v in CONVERTERS for k, v in units.items()):
        problems.append(Problem(where, "units: expected UCUM codes mapped to one of "
                                f"{', '.join(CONVERTERS)}, got {describe(units)}"))
        units = {}
    if read == "quantity" and not units:
        problems.append(Problem(where, "units: a quantity mapping must list the units it accepts"))
    answers = entry.get("answers", {})
    if not isinstance(answers, Mapping) or not all(
            isinstance(k, str) and "|" in k and (v is None or isinstance(v, bool))
            for k, v in answers.items()):
        problems.append(Problem(where, "answers: expected system|code keys mapped to true, "
                                f"false or null, got {describe(answers)}"))
        answers = {}
    if read == "coded" and not answers:
        problems.append(Problem(where, "answers: a coded mapping must list its answers"))
    window = entry.get("window")
    days: float | None = None
    if window is not None:
        value = window.get("days") if isinstance(window, Mapping) else None
        if (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
                or set(window) != {"days"}):
            problems.append(Problem(where, f"window: expected {{days: N}} with N > 0, got "
                                    f"{describe(window)}"))
        else:
            days = float(value)
    resolved = entry.get("resolved", "ignore")
    if resolved not in ("ignore", "counts"):
        problems.append(Problem(where, f"resolved: expected ignore or counts, got "
                                f"{describe(resolved)}"))
    laterality = entry.get("laterality", False)
    if not isinstance(laterality, bool):
        problems.append(Problem(where, f"laterality: expected true or false, got "
                                f"{describe(laterality)}"))
    if problems:
        return None, problems
    return FhirMapping(
        id=text["id"], resource=resources, system=text["system"], sets=text["sets"],
        read=cast(ReadKind, read), because=text["because"], source=text["source"],
        codes=frozenset(codes or ()), prefixes=prefixes or (), units=dict(units),
        answers=dict(answers), window_days=days, resolved_counts=resolved == "counts",
        laterality=bool(laterality), origin=origin,
    ), []


def check_targets(mapping: FhirMapping, vocabulary: Mapping[str, FactSpec],
                  where: str) -> list[Problem]:
    """Problems with what a mapping sets, given the installed vocabulary."""
    spec = vocabulary.get(mapping.sets)
    if spec is None:
        findings = [n for n, s in vocabulary.items() if s.kind in ("finding", "measurement")]
        return [Problem(where, f"sets: {mapping.sets!r} is not in the installed vocabulary"
                        f"{did_you_mean(mapping.sets, findings)}")]
    wanted = "measurement" if mapping.read == "quantity" else "finding"
    if spec.kind != wanted:
        return [Problem(where, f"sets: {mapping.sets!r} is a {spec.kind}; read: {mapping.read} "
                        f"sets a {wanted}")]
    return []


def _load_entries(data: Any, source: str, origin: str
                  ) -> tuple[list[FhirMapping], list[Problem]]:
    if not isinstance(data, Mapping) or data.get("format") != MAPPINGS_FORMAT:
        return [], [Problem("$", f'expected an object with format: "{MAPPINGS_FORMAT}"')]
    entries = data.get("mappings")
    if not isinstance(entries, list):
        return [], [Problem("$.mappings", "expected a list of mappings")]
    found: list[FhirMapping] = []
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        label = entry.get("id") if isinstance(entry, Mapping) else None
        where = f'mapping "{label}"' if isinstance(label, str) else f"mappings[{index}]"
        mapping, wrong = parse_mapping(entry, where, origin)
        problems += wrong
        if mapping is not None:
            found.append(mapping)
    return found, problems


def builtin_mapping_data() -> Any:
    from kneerules.knowledge.loading import read_text, read_yaml

    resource = files("kneerules.fhir") / "mappings.yaml"
    return read_yaml(read_text(resource), "kneerules/fhir/mappings.yaml")


def collect_mappings(extra: Iterable[tuple[str, Any]] = ()
                     ) -> tuple[list[FhirMapping], list[tuple[str, Problem]]]:
    """The built-in mappings and ``extra`` ones (origin, entry), with every problem found
    (origin, problem), duplicate ids included."""
    builtin, problems = _load_entries(builtin_mapping_data(), "mappings.yaml", "kneerules")
    located = [("kneerules/fhir/mappings.yaml", p) for p in problems]
    mappings = list(builtin)
    seen = {m.id: m.origin for m in mappings}
    for origin, entry in extra:
        label = entry.get("id") if isinstance(entry, Mapping) else None
        where = f'mapping "{label}"' if isinstance(label, str) else "mapping"
        mapping, wrong = parse_mapping(entry, where, origin)
        located += [(origin, p) for p in wrong]
        if mapping is None:
            continue
        if mapping.id in seen:
            located.append((origin, Problem(where, f"duplicate id, also in {seen[mapping.id]}")))
            continue
        seen[mapping.id] = origin
        mappings.append(mapping)
    return mappings, located


def plugin_mappings(plugin_manager: Any) -> list[tuple[str, Any]]:
    """Every mapping entry the plugins return from ``kneerules_fhir_mappings``, by plugin name."""
    entries: list[tuple[str, Any]] = []
    # The hookspec is added only when some plugin implements the hook (kneerules_addhooks).
    caller = getattr(plugin_manager.hook, "kneerules_fhir_mappings", None)
    for impl in caller.get_hookimpls() if caller is not None else ():
        result = impl.function()
        if isinstance(result, Sequence) and not isinstance(result, str | bytes):
            entries += [(impl.plugin_name, entry) for entry in result]
        else:
            entries.append((impl.plugin_name, result))
    return entries


def load_mappings(vocabulary: Mapping[str, FactSpec],
                  extra: Iterable[tuple[str, Any]] = ()) -> tuple[FhirMapping, ...]:
    """The mappings in force, checked against ``vocabulary``; raises :class:`RuleDataError`."""
    mappings, located = collect_mappings(extra)
    for mapping in mappings:
        located += [(mapping.origin, p) for p in
                    check_targets(mapping, vocabulary, f'mapping "{mapping.id}"')]
    if located:
        raise RuleDataError([p for _, p in located], ", ".join(sorted({o for o, _ in located})))
    return tuple(mappings)


def check_installed(vocabulary: Mapping[str, FactSpec], plugin_manager: Any
                    ) -> list[tuple[str, Problem]]:
    """For ``kneerules check``: every problem in the installed FHIR mappings, by source."""
    mappings, located = collect_mappings(plugin_mappings(plugin_manager))
    for mapping in mappings:
        where = f'mapping "{mapping.id}"'
        located += [(mapping.origin if mapping.origin != "kneerules" else
                     "kneerules/fhir/mappings.yaml", p)
                    for p in check_targets(mapping, vocabulary, where)]
    return located
