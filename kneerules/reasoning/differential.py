"""The differential: which conditions are listed, how likely each is, and in what order.

The rules say what each finding is worth (docs/reasoning.md, "How a score is built");
this module only adds the weights up and ranks. Three rules of listing:

- a condition is listed when its evidence adds up to more than nothing, or when a red
  flag names it (``must_not_miss``: listed and at least ``possible`` until excluded);
- the order is by score, so a red flag does not put a less likely condition first by
  fiat (policy v2: a likely calf tear can rank above a DVT still to be excluded); a
  named condition ranks as at least ``possible``, above merely unlikely ones, as its
  likelihood says; equal scores go to the cause the clinical source calls more common;
- (policy v3, R1) a condition a decisive rule puts at the head (``then.leads``) comes
  first, in R1's order (PE before the DVT it came from, a dislocation, compartment
  syndrome, ischaemia, infection, extensor rupture, the older faller's fracture, the
  young person's tumour); every other condition is ranked by its evidence;
- never empty while the findings speak: if nothing is listed by the first rule, every
  condition with some evidence for it is listed (as ``unlikely``) unless a finding
  excludes it (an evidence weight of -3 or less, such as pain only behind the kneecap).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING

from kneerules.model.records import DifferentialEntry, Evidence, positional_maker
from kneerules.model.rules import Likelihood

if TYPE_CHECKING:
    from kneerules.knowledge.base import KnowledgeBase

_make_entry = positional_maker(DifferentialEntry)

EXCLUDING_WEIGHT = -3.0
"""Evidence this strong against a condition (the pain is somewhere it never hurts) keeps it
out of the never-empty fallback: listing it would point away from the likelier cause."""


def likelihood(score: float, kb: KnowledgeBase) -> Likelihood:
    if score >= kb.ruleset.likely_at:
        return "likely"
    if score >= kb.ruleset.possible_at:
        return "possible"
    return "unlikely"


_weight: Callable[[Evidence], float] = attrgetter("weight")


def total(items: Sequence[Evidence]) -> float:
    # Rounded so that float sums of the same weights compare (and serialise) the same.
    return round(sum(map(_weight, items)), 6)


def rank_differential(
    evidence: Mapping[str, Sequence[Evidence]],
    named: Collection[str],
    kb: KnowledgeBase,
    leads: Sequence[tuple[int, Sequence[str]]] = (),
) -> tuple[DifferentialEntry, ...]:
    """The differential from each condition's evidence (in firing order), the conditions
    the red flags ``named`` and what decisive rules put at the head (``leads``: R1 rank and
    conditions, from the rules that fired)."""
    scores = {condition: total(items) for condition, items in evidence.items()}
    listed = [c for c, score in scores.items() if score > 0 or c in named]
    listed += [c for c in named if c not in scores]
    if not listed:
        listed = [c for c, items in evidence.items()
                  if any(e.weight > 0 for e in items)
                  and not any(e.weight <= EXCLUDING_WEIGHT for e in items)]
    entries = []
    for condition in listed:
        score = scores.get(condition, 0.0)
        grade = likelihood(score, kb)
        must_not_miss = condition in named
        if must_not_miss and grade == "unlikely":
            grade = "possible"
        info = kb.conditions[condition]
        entries.append(_make_entry(condition, info.name, score, grade,
                                   tuple(evidence.get(condition, ())), must_not_miss))

    def rank(entry: DifferentialEntry) -> tuple[float, int, str]:
        # A named condition is at least possible (policy v2), so it ranks with the possible
        # ones, above any merely unlikely condition; never above one with more evidence.
        score = entry.score
        if entry.must_not_miss:
            score = max(score, kb.ruleset.possible_at)
        return (-score, kb.conditions[entry.condition].commonness, entry.condition)

    ranked = sorted(entries, key=rank)
    # Policy v1 urgent 2 (and any condition that says so): while a red flag names it, the
    # conditions it lists in outranks_while_named come below it, whatever their scores.
    for entry in [e for e in ranked if e.must_not_miss]:
        below = set(kb.conditions[entry.condition].outranks_while_named)
        above = [i for i, e in enumerate(ranked) if e.condition in below]
        if above and above[0] < ranked.index(entry):
            ranked.remove(entry)
            ranked.insert(above[0], entry)
    if leads:
        head: dict[str, None] = {}
        for _, conditions in sorted(leads, key=lambda lead: lead[0]):
            for condition in conditions:
                if condition in named:
                    head.setdefault(condition, None)
        first = {condition: n for n, condition in enumerate(head)}
        ranked.sort(key=lambda e: first.get(e.condition, len(first)))  # stable: the rest keep
    return tuple(ranked)
