"""How a rule set is laid out over durable-rules rulesets so that it can grow.

durable-rules 2.0.28 has fixed limits that a large rule set meets (measured, and read in
its C source, ``src/rules``):

- a ruleset holds at most 4,096 actions (``MAX_ACTIONS``, error 106) and one alpha node
  feeds at most 256 rules (``BETA_LIST_LENGTH``, error 108);
- a fact has at most 255 properties (``MAX_OBJECT_PROPERTIES``, error 302);
- matching one fact walks the alpha network with a stack of 64 nodes
  (``MAX_STACK_SIZE``, error 303): every test that holds among the children of one node
  is pushed at once, so a case with ~58 findings true overflowed it when each rule's
  first test hung directly below ``kind == case``;
- every session allocates (and clears) ~8 KB per rule node whatever the case, so a case
  costs ~0.3-0.8 us per rule even for rules that can never fire for it.

So rules are grouped into *components* (rules linked by ``derive``/``after`` chains must
share a ruleset for the chain to fire), components into *packs* of a bounded size (one
durable-rules ruleset each), and each pack's rules into *buckets* of a bounded number of
alternatives, each bucket behind its own always-true test, so that the matching stack
holds at most one bucket's worth of nodes plus the untried buckets. A pack records which
facts can trigger it: a case only runs the packs some of its recorded facts can trigger
(or that can fire without any).

Firing order across packs is the single-ruleset order: durable-rules always fires the
enabled rule of lowest priority next, and packs share no derived facts, so merging the
packs' firing sequences by taking the lowest-priority head each time gives the same
sequence (see :func:`merge_firings`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from kneerules.model.rules import AllOf, AnyOf, Condition, FactTest, NoneOf, Rule
from kneerules.reasoning.durable.compiler import compile_condition

PACK_RULES = 192
"""Rules per durable-rules ruleset: below the 256 rules one alpha node can feed."""
BUCKET_ALTERNATIVES = 24
"""Alternatives (``$or`` expands into one per branch) per bucket of one pack."""
MAX_BUCKETS = 30
"""Buckets per pack: untried buckets plus one bucket's alternatives stay below the stack
of 64 nodes (30 + 24 + the few nodes of one rule's own chain)."""
MAX_ALTERNATIVES = 8
"""A rule whose condition durable-rules would expand into more alternatives than this
has its groups computed in Python instead (see :func:`flatten_wide_rules`)."""
PACK_FACTS = 200
"""Facts a pack's rules may read: with the buckets and the bookkeeping properties the
case fact stays below durable-rules' 255 properties."""


def alternatives(expr: Any) -> int:
    """How many alternative chains durable-rules builds for a compiled expression."""
    if isinstance(expr, dict) and len(expr) == 1:
        (key, value), = expr.items()
        if key == "$or":
            return sum(alternatives(item) for item in value)
        if key == "$and":
            product = 1
            for item in value:
                product *= alternatives(item)
            return product
    return 1


def triggers(condition: Condition, usage: Mapping[str, int] | None = None,
             ) -> frozenset[str] | None:
    """Facts of which at least one must be recorded for ``condition`` to hold; ``None``
    when it can hold with none recorded (a ``none`` group, ``is: unknown``).

    Of the parts of an ``all``, the one whose facts the fewest rules read (``usage``) is
    chosen: a fact many rules test is likely recorded in many cases, so it filters little."""
    if isinstance(condition, FactTest):
        return None if condition.is_ == "unknown" else frozenset((condition.fact,))
    if isinstance(condition, NoneOf):
        return None
    found = [triggers(item, usage) for item in condition.items]
    if isinstance(condition, AllOf):
        needed = [f for f in found if f is not None]
        if not needed:
            return None
        weight = usage or {}
        return min(needed, key=lambda f: (sum(weight.get(n, 0) for n in f), sorted(f)))
    assert isinstance(condition, AnyOf)
    if any(f is None for f in found):
        return None
    return frozenset().union(*found)  # type: ignore[arg-type]


@attrs.frozen
class Pack:
    """Rules (global indices, in precedence order) that go into one durable-rules ruleset."""

    members: tuple[int, ...]
    buckets: tuple[int, ...]
    """The bucket of each member, in the order of ``members``."""
    facts: frozenset[str]
    """Every fact the members' conditions read."""
    triggers: frozenset[str] | None
    """A case runs this pack only if it records one of these facts (``None``: always)."""


def _components(rules: Sequence[Rule]) -> list[list[int]]:
    """Rules linked through derived conclusions, each group in precedence order."""
    parent = list(range(len(rules)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_by_name: dict[str, int] = {}
    for index, rule in enumerate(rules):
        for name in (*rule.then.derive, *rule.after):
            other = first_by_name.setdefault(name, index)
            parent[find(index)] = find(other)
    groups: dict[int, list[int]] = {}
    for index in range(len(rules)):
        groups.setdefault(find(index), []).append(index)
    return list(groups.values())


def _rule_facts(rule: Rule) -> set[str]:
    return {name for name in rule.facts() if name not in rule.after}


def flatten_wide_rules(rules: Sequence[Rule]) -> tuple[list[Rule], dict[str, Condition]]:
    """The rules as durable-rules gets them, and the group facts they test.

    durable-rules turns a condition into its disjunctive normal form: one alpha chain
    per alternative, each firing on its own. ``all: [any(8), any(8), any(12)]`` is 768
    chains, 768 actions when everything is recorded, and a threat to the matching
    stack. For such a rule, each group of its top-level ``all`` becomes one computed
    fact (``_group<n>``, true when the group holds, worked out per case in Python with
    the meaning of :mod:`kneerules.reasoning.conditions`), so durable-rules sees one conjunction;
    it still does the matching of tests, the joins, the chaining and the agenda."""
    groups: dict[Condition, str] = {}
    out = []
    for rule in rules:
        if alternatives(compile_condition(rule.when)) <= MAX_ALTERNATIVES:
            out.append(rule)
            continue
        items = rule.when.items if isinstance(rule.when, AllOf) else (rule.when,)
        kept: list[Condition] = []
        for item in items:
            if isinstance(item, FactTest) and alternatives(compile_condition(item)) == 1:
                kept.append(item)
            else:
                name = groups.setdefault(item, f"_group{len(groups)}")
                kept.append(FactTest(name, is_=True))
        out.append(attrs.evolve(rule, when=AllOf(tuple(kept))))
    return out, {name: condition for condition, name in groups.items()}


def plan_packs(rules: Sequence[Rule], sizes: Sequence[int] | None = None) -> list[Pack]:
    """The packs for ``rules`` (in precedence order); a small rule set is one pack.
    ``sizes`` are the rules' alternatives as compiled (default: of ``rules``)."""
    if sizes is None:
        sizes = [alternatives(compile_condition(rule.when)) for rule in rules]
    facts = [_rule_facts(rule) for rule in rules]
    usage = Counter(name for read in facts for name in read)
    rule_triggers = [triggers(rule.when, usage) for rule in rules]
    components = []
    for members in _components(rules):
        found = [rule_triggers[i] for i in members]
        trigger = None if any(t is None for t in found) else frozenset().union(*found)  # type: ignore[arg-type]
        component_facts = set().union(*(facts[i] for i in members))
        if len(members) > PACK_RULES or len(component_facts) > PACK_FACTS:
            raise ValueError(f"{len(members)} rules chained together (through derive/after) "
                             f"reading {len(component_facts)} facts: durable-rules takes at "
                             f"most {PACK_RULES} rules and {PACK_FACTS} facts in one chain")
        components.append((members, trigger, component_facts))
    # Components that always run go together, then those triggered by the same facts, so a
    # case's facts select few packs.
    components.sort(key=lambda c: (c[1] is not None, sorted(c[1] or ()), c[0][0]))
    packs: list[Pack] = []
    current: list[tuple[list[int], frozenset[str] | None, set[str]]] = []
    count, reads, spread = 0, set[str](), 0
    for component in components:
        members, _, component_facts = component
        more = sum(sizes[i] for i in members)
        if current:
            joined = reads | component_facts
            # The exact bucket layout is only worked out when it could matter.
            full = (count + len(members) > PACK_RULES or len(joined) > PACK_FACTS or (
                spread + more > MAX_BUCKETS * BUCKET_ALTERNATIVES // 2
                and _bucket_count([*current, component], sizes) > MAX_BUCKETS))
            if full:
                packs.append(_pack(current, sizes))
                current, count, joined, spread = [], 0, set(component_facts), 0
            reads = joined
        else:
            reads = set(component_facts)
        current.append(component)
        count += len(members)
        spread += more
    if current:
        packs.append(_pack(current, sizes))
    return packs


def _bucket_sizes(indices: Iterable[int], sizes: Sequence[int]) -> list[int]:
    buckets: list[int] = []
    for index in indices:
        if buckets and buckets[-1] + sizes[index] <= BUCKET_ALTERNATIVES:
            buckets[-1] += sizes[index]
        else:
            buckets.append(sizes[index])
    return buckets


def _bucket_count(components: Sequence[tuple[list[int], Any, Any]], sizes: Sequence[int]) -> int:
    return len(_bucket_sizes(sorted(i for c in components for i in c[0]), sizes))


def _pack(components: Sequence[tuple[list[int], frozenset[str] | None, set[str]]],
          sizes: Sequence[int]) -> Pack:
    members = sorted(i for c in components for i in c[0])
    buckets = []
    bucket, used = 0, 0
    for index in members:
        if used and used + sizes[index] > BUCKET_ALTERNATIVES:
            bucket, used = bucket + 1, 0
        used += sizes[index]
        buckets.append(bucket)
    found = [c[1] for c in components]
    trigger = None if any(t is None for t in found) else frozenset().union(*found)  # type: ignore[arg-type]
    return Pack(tuple(members), tuple(buckets), frozenset().union(*(c[2] for c in components)),
                trigger)


def merge_firings(sequences: Sequence[Sequence[int]]) -> list[int]:
    """One firing order from the packs' own: the lowest rule index among the heads first.

    Each pack fires its lowest-priority enabled rule next, and what one pack fires never
    enables a rule of another, so this is the order one ruleset holding every rule fires."""
    live = [list(s) for s in sequences if s]
    if len(live) <= 1:
        return live[0] if live else []
    positions = [0] * len(live)
    merged: list[int] = []
    while True:
        best = -1
        for n, sequence in enumerate(live):
            if positions[n] < len(sequence) and (
                    best < 0 or sequence[positions[n]] < live[best][positions[best]]):
                best = n
        if best < 0:
            return merged
        merged.append(live[best][positions[best]])
        positions[best] += 1
