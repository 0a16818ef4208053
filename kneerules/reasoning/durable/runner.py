"""durable-rules, wrapped so that none of its measured traps can reach a user.

See ``docs/durable-rules.md`` for the traps; each defence below names the one it
answers. One :class:`DurableRunner` owns the durable-rules rulesets of one rule set (its
rules packed several to a ruleset, :mod:`kneerules.reasoning.durable.packing`), each with
one session that every case reuses, all its facts retracted afterwards; it evaluates one
case at a time under its lock.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import durable_rules_engine

from kneerules.model.errors import EngineError
from kneerules.model.records import FactValue
from kneerules.model.rules import Condition, Rule, walk_tests
from kneerules.reasoning.chaining import compile_check
from kneerules.reasoning.durable.casefact import compile_writer, value_json
from kneerules.reasoning.durable.compiler import (
    DERIVED,
    END,
    bucket_name,
    compile_condition,
    compile_ruleset,
)
from kneerules.reasoning.durable.packing import (
    Pack,
    alternatives,
    flatten_wide_rules,
    merge_firings,
    plan_packs,
)

_ruleset_numbers = itertools.count()


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _compact_encoder() -> Callable[[Any], str]:
    """``_COMPACT.encode`` without building the C encoder again on every call (which
    ``JSONEncoder.encode`` does, at ~a third of the cost of writing a case fact)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return _COMPACT.encode
    encoder = make(None, _COMPACT.default, json.encoder.encode_basestring, None, ":", ",",
                   False, False, False)
    return lambda obj: "".join(encoder(obj, 0))


_encode = _compact_encoder()


_PLAIN_TYPES = frozenset((bool, int, str))


def _plain(value: FactValue) -> FactValue | None:
    """``value`` as the JSON encoder should see it, or None where only the general path
    below writes it as this module always has (exponent form, not finite, subclasses)."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value
    if kind is not float:
        return None
    assert isinstance(value, float)
    if value.is_integer():
        return int(value)
    if not math.isfinite(value) or "e" in repr(value):
        return None
    return value


def dump_fact(fact: Mapping[str, FactValue]) -> str:
    """A flat fact as JSON with every number in plain decimal notation."""
    # One call of the C encoder, where the values allow: a case has dozens of facts.
    kinds = set(map(type, fact.values()))
    if _PLAIN_TYPES.issuperset(kinds):
        return _encode(fact)
    plain = {key: value if type(value) in _PLAIN_TYPES else _plain(value)
             for key, value in fact.items()}
    if None not in plain.values():
        return _encode(plain)
    return dump_fact_general(fact)


def dump_fact_general(fact: Mapping[str, FactValue]) -> str:
    """:func:`dump_fact` value by value: the path for numbers the C encoder would write in
    exponent form, and the reference its fast paths are tested against."""
    parts = [f"{json.dumps(key, ensure_ascii=False)}:{value_json(value)}"
             for key, value in fact.items()]
    return "{" + ",".join(parts) + "}"


@attrs.define
class Firing:
    """What one evaluation recorded: the rules fired, in order, and what they derived."""

    uid: str
    sid: str
    fired: list[int] = attrs.Factory(list)
    derived_by: dict[str, list[int]] = attrs.Factory(dict)


def _release(held: dict[str, Any], sid: str) -> None:
    """Frees a dropped pack's session (if a case completed in it) and its ruleset."""
    with contextlib.suppress(Exception):
        if held["used"]:
            durable_rules_engine.delete_state(held["handle"], sid)
        durable_rules_engine.delete_ruleset(held["handle"])


class _PackRunner:
    """One pack of rules (see :mod:`kneerules.reasoning.durable.packing`) as one durable-rules
    ruleset, created straight through its C module: no ``Host``, so no timer threads
    (trap 1) and no Python action objects."""

    def __init__(self, name: str, rules: Sequence[Rule], pack: Pack,
                 groups: Mapping[str, Condition]) -> None:
        self.pack = pack
        self.name = name
        self.facts = pack.facts
        # The computed group facts this pack's rules test (packing.flatten_wide_rules).
        used = {t.fact for i in pack.members for t in walk_tests(rules[i].when)}
        self.groups = [(name, compile_check(groups[name])) for name in sorted(used & set(groups))]
        self._definition = json.dumps(compile_ruleset(rules, pack.members, pack.buckets),
                                      ensure_ascii=False)
        # The rule of each action message, by the message's opening text, and what it derives.
        self.index_of = {f'{{"r{i}":': i for i in pack.members}
        self.derives = {i: rules[i].then.derive for i in pack.members}
        self.patterns = {i: 1 + len(rules[i].after) for i in pack.members}
        self.bucket_props = {bucket_name(b): 1 for b in sorted(set(pack.buckets))}
        self.sid = "s0"
        self.write = compile_writer(self.sid, list(self.bucket_props), pack.facts,
                                    [(name, groups[name]) for name, _ in self.groups])
        self.handle = self._create()
        self._free = self._finalizer()

    def _create(self) -> Any:
        try:
            return durable_rules_engine.create_ruleset(self.name, self._definition)
        except Exception as exc:
            raise EngineError(f"durable-rules refused the compiled ruleset: {exc}") from exc

    def _finalizer(self) -> Any:
        # durable-rules never frees a ruleset's C state by itself: ~1.7 MB per engine built
        # and dropped (issue 16), and its session (kept for reuse) ~1 MB more. Not at exit:
        # the process is going anyway.
        self._held = {"handle": self.handle, "used": False}
        freeing = weakref.finalize(self, _release, self._held, self.sid)
        freeing.atexit = False
        return freeing

    def reset(self) -> None:
        """A fresh ruleset in place of one a failure may have left a session in."""
        self._free.detach()
        old, self.handle = self.handle, self._create()
        self._free = self._finalizer()
        with contextlib.suppress(Exception):
            # Not its session: deleting one a failure left half done can crash (trap 5).
            durable_rules_engine.delete_ruleset(old)

    def run(self, facts: Mapping[str, FactValue], uid: str, firing: Firing) -> None:
        """Fires this pack's rules on one case's facts into ``firing``.

        Every fact asserted is retracted afterwards, so the one session is left empty and
        reused: creating a session clears ~8 KB per rule node, which cost more than the
        rest of a small case (measured 29 us against 10 us for a reused one). What trap 4
        saw leak was derived facts left in place; here every derived fact is retracted
        too, a message carrying another case's uid fails the case, and any failure
        replaces the ruleset, sessions and all, so nothing carries over to the next case."""
        sid = self.sid
        asserted = [self.write(facts, uid), f'{{"kind":"{END}","sid":"{sid}","uid":"{uid}"}}']
        handle = self.handle
        try:
            # One batch, so the agenda orders the firings by priority (not by fact order).
            result = durable_rules_engine.assert_facts(handle, f"[{asserted[0]},{asserted[1]}]")
            if result[0] in (1, 2):
                raise EngineError(f"durable-rules refused a fact (code {result[0]})")
            if not self._run_actions(handle, result[1], asserted, uid, firing):
                raise EngineError("evaluation did not reach its end marker")
            result = durable_rules_engine.retract_facts(handle, "[" + ",".join(asserted) + "]")
            if result[0] != 0 or durable_rules_engine.start_action_for_state(handle, result[1]):
                raise EngineError(f"durable-rules did not clear the case (code {result[0]})")
            self._held["used"] = True  # a session that saw actions: safe to delete (trap 5)
        except EngineError:
            self.reset()
            raise
        except Exception as exc:
            self.reset()
            raise EngineError(f"durable-rules failed: {exc}") from exc

    def _run_actions(self, handle: Any, state_handle: Any, asserted: list[str], uid: str,
                     firing: Firing) -> bool:
        """durable-rules' action loop over its C calls, with no Python action at all: each
        message only names the rule that fired (its facts are not decoded, which for a
        large case fact was most of the loop), the fired rule is recorded and its derived
        facts asserted here. Returns whether the end marker's rule fired."""
        result = durable_rules_engine.start_action_for_state(handle, state_handle)
        if not result:
            return False
        message: str = result[1]
        index_of = self.index_of
        patterns = self.patterns
        fired = firing.fired
        derived_by = firing.derived_by
        seen: set[int] = set()
        ended = False
        # The uid of the case being evaluated, as it appears in every message of it.
        mark = f'"uid":"{uid}"'
        prefix = f'"kind":"{DERIVED}","sid":"{self.sid}","uid":"{uid}",'
        while True:
            head = message[:message.index(":") + 1]
            index = index_of.get(head)
            # Each of the rule's facts (the case, each derived fact joined, or the end
            # marker) carries the case's uid: one scan of the message checks them all.
            if message.count(mark) != (1 if index is None else patterns[index]):
                # A fact of another case in this session would mean patients mixing (trap 3).
                durable_rules_engine.abandon_action(handle, state_handle)
                raise EngineError(f"a fact of another case fired while evaluating {uid}")
            if index is None:
                ended = ended or head == f'{{"{END}":'
            elif index not in seen:  # "$or" alternatives each fire; a rule fires once
                seen.add(index)
                fired.append(index)
                for name in self.derives[index]:
                    by = derived_by.setdefault(name, [])
                    by.append(index)
                    if len(by) == 1:  # an identical fact asserted twice is refused (trap 7)
                        fact = f'{{{prefix}"name":{json.dumps(name)}}}'
                        code = durable_rules_engine.assert_fact(handle, fact)[0]
                        if code != 0:
                            raise EngineError(f"durable-rules refused a derived fact ({code})")
                        asserted.append(fact)
            try:
                following = durable_rules_engine.complete_and_start_action(handle, state_handle)
            except BaseException:
                # As durable-rules does: release the started action before failing.
                durable_rules_engine.abandon_action(handle, state_handle)
                raise
            if not following:
                return ended
            message = following


class DurableRunner:
    """A rule set over one or more durable-rules rulesets, one case at a time."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        number = next(_ruleset_numbers)
        flat, groups = flatten_wide_rules(rules)
        try:
            # Which facts trigger a pack is read from the rules as written.
            plan = plan_packs(rules, [alternatives(compile_condition(rule.when)) for rule in flat])
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        self.packs = [_PackRunner(f"kneerules_{number}_{n}", flat, pack, groups)
                      for n, pack in enumerate(plan)]
        self._always = [p for p in self.packs if p.pack.triggers is None]
        self._by_fact: dict[str, list[_PackRunner]] = {}
        for runner in self.packs:
            for name in runner.pack.triggers or ():
                self._by_fact.setdefault(name, []).append(runner)
        self._lock = threading.Lock()
        self._uids = itertools.count()

    def select(self, facts: Mapping[str, FactValue]) -> list[_PackRunner]:
        """The packs some recorded fact can trigger, and those that need none."""
        if len(self.packs) == 1:
            return self.packs
        chosen = set(self._always)
        by_fact = self._by_fact
        for name in facts:
            found = by_fact.get(name)
            if found:
                chosen.update(found)
        return sorted(chosen, key=self.packs.index)

    def busy(self) -> bool:
        """Whether a case is being evaluated (in a forked child: was, when it forked)."""
        return self._lock.locked()

    def run(self, facts: Mapping[str, FactValue], case_id: str | None = None) -> Firing:
        """Fires the rules on one case's facts. No fact of the case is left afterwards,
        even when the evaluation fails (the failing pack's ruleset is then replaced)."""
        with self._lock:
            uid = f"u{next(self._uids)}"
            packs = self.select(facts)
            if len(packs) == 1:
                firing = Firing(uid=uid, sid=packs[0].sid)
                packs[0].run(facts, uid, firing)
                return firing
            parts = []
            for pack in packs:
                part = Firing(uid=uid, sid=pack.sid)
                pack.run(facts, uid, part)
                parts.append(part)
            firing = Firing(uid=uid, sid="", fired=merge_firings([p.fired for p in parts]))
            for part in parts:
                firing.derived_by.update(part.derived_by)
            return firing
