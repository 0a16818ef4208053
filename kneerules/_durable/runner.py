"""durable-rules, wrapped so that none of its measured traps can reach a user.

See ``../shared/notes/durable-rules.md`` for the traps; each defence below
names the one it answers. One :class:`DurableRunner` owns one host and one
compiled ruleset and evaluates one case at a time under its lock.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import weakref
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
import durable_rules_engine
from durable.engine import Host, MessageNotHandledException, MessageObservedException

from kneerules._durable.compiler import CASE, DERIVED, END, compile_ruleset
from kneerules.errors import EngineError
from kneerules.model import FactValue
from kneerules.ruledata import Rule

SLOTS = 16
_ruleset_numbers = itertools.count()


class _QuietHost(Host):  # type: ignore[misc]
    """A host without the self-rescheduling timer threads (trap 1).

    Those threads run "stranded" actions of any session on a background
    thread; kneerules has no timer rules, so it never needs them."""

    def _run(self) -> None:
        pass


def json_number(value: int | float) -> str:
    """A JSON number never in exponent form, which durable-rules mis-parses (trap 8)."""
    if isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    if isinstance(value, int):
        return str(value)
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    return format(Decimal(text), "f") if "e" in text or "E" in text else text


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


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
    if _PLAIN_TYPES.issuperset(map(type, fact.values())):
        return _COMPACT.encode(fact)
    plain = {key: _plain(value) for key, value in fact.items()}
    if None not in plain.values():
        return _COMPACT.encode(plain)
    parts = []
    for key, value in fact.items():
        if isinstance(value, bool):
            encoded = "true" if value else "false"
        elif isinstance(value, int | float):
            encoded = json_number(value)
        else:
            encoded = json.dumps(value, ensure_ascii=False)
        parts.append(f"{json.dumps(key, ensure_ascii=False)}:{encoded}")
    return "{" + ",".join(parts) + "}"


@attrs.define
class Firing:
    """What one evaluation recorded: the rules fired, in order, and what they derived."""

    uid: str
    sid: str
    fired: list[int] = attrs.Factory(list)
    seen: set[int] = attrs.Factory(set)
    derived_by: dict[str, list[int]] = attrs.Factory(dict)
    ended: bool = False
    errors: list[str] = attrs.Factory(list)


class _Context:
    """What an action sees of durable-rules' Closure: the matched facts by pattern name
    (``_m``) and ``assert_fact``."""

    __slots__ = ("_m", "_runner")

    def __init__(self, runner: DurableRunner, facts: dict[str, Any]) -> None:
        self._runner = runner
        self._m = facts

    def assert_fact(self, fact: Mapping[str, Any]) -> None:
        ruleset = self._runner._ruleset
        text = json.dumps(fact, ensure_ascii=False)
        result = durable_rules_engine.assert_fact(ruleset._handle, text)
        # An identical fact asserted twice is refused, harmlessly here (trap 7).
        if result[0] != 2:
            ruleset._handle_result(result, fact)


class DurableRunner:
    """One compiled durable-rules ruleset on its own host, evaluated one case at a time."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self._derives = [rule.then.derive for rule in rules]
        self._host = _QuietHost()
        self.name = f"kneerules_{next(_ruleset_numbers)}"
        self._current: Firing | None = None
        self._lock = threading.Lock()
        self._slots = itertools.cycle([f"s{n}" for n in range(SLOTS)])
        self._uids = itertools.count()
        definition = compile_ruleset(rules, self._action_for, self._on_end)
        self._actions: dict[str, Any] = {name: rule["run"] for name, rule in definition.items()}
        try:
            self._host.set_rulesets({self.name: definition})
        except Exception as exc:
            raise EngineError(f"durable-rules refused the compiled ruleset: {exc}") from exc
        self._ruleset = self._host.get_ruleset(self.name)
        # durable-rules never frees a ruleset's C state by itself: ~1.7 MB per engine built
        # and dropped (issue 16). Not at exit: the process is going anyway.
        freeing = weakref.finalize(self, durable_rules_engine.delete_ruleset,
                                   self._ruleset._handle)
        freeing.atexit = False

    def _action_for(self, index: int) -> Any:
        derives = self._derives[index]

        def action(c: Any) -> None:
            firing = self._current
            case = c._m[CASE]
            # A fact of another case in this session would mean patients mixing (trap 3).
            if firing is None or case["uid"] != firing.uid:
                seen = None if firing is None else firing.uid
                message = f"case fact {case.get('uid')!r} fired while evaluating {seen!r}"
                if firing is not None:
                    firing.errors.append(message)
                raise EngineError(message)
            # durable-rules expands "$or" into alternatives that each fire; one rule fires once.
            if index in firing.seen:
                return
            firing.seen.add(index)
            firing.fired.append(index)
            for name in derives:
                by = firing.derived_by.setdefault(name, [])
                by.append(index)
                if len(by) == 1:  # an identical fact asserted twice raises (trap 7)
                    fact = {"kind": DERIVED, "sid": firing.sid, "uid": firing.uid, "name": name}
                    c.assert_fact(fact)

        return action

    def _on_end(self, c: Any) -> None:
        if self._current is not None:
            self._current.ended = True

    def _assert_batch(self, payload: str) -> None:
        ruleset = self._ruleset
        handle = ruleset._handle
        # One batch, so durable-rules' agenda orders the firings by priority (not fact order).
        state_handle = ruleset._handle_result(durable_rules_engine.assert_facts(handle, payload),
                                              payload)
        self._run_actions(handle, state_handle)

    def _run_actions(self, handle: Any, state_handle: Any) -> None:
        """durable-rules' own action loop (``Ruleset.do_actions``/``_flush_actions``) for
        synchronous actions, without what it adds per action: a Closure with two clock
        reads, a lease timer check and the state written back as fresh JSON. Python action
        dispatch is most of an evaluation's cost (notes, Costs).

        As there, an action that raises does not stop the chain (so the end marker still
        runs and the session can be deleted, trap 5); its error is recorded instead and
        :meth:`run` fails loudly (trap 9)."""
        result = durable_rules_engine.start_action_for_state(handle, state_handle)
        if not result:
            return
        # Our actions never change the session state, so its JSON is written back unchanged.
        state = json.dumps(json.loads(result[0]), ensure_ascii=False)
        message = json.loads(result[1])
        actions = self._actions
        while True:
            name, facts = next(iter(message.items()))
            try:
                actions[name](_Context(self, facts))
            except Exception as exc:
                current = self._current
                if current is not None and str(exc) not in current.errors:  # not yet recorded
                    current.errors.append(f"rule {name}: {exc!r}")
            try:
                durable_rules_engine.update_state(handle, state)
                following = durable_rules_engine.complete_and_start_action(handle, state_handle)
            except BaseException:
                # As durable-rules does: release the started action before failing, so the
                # ruleset is not left with an action in flight for the next case.
                durable_rules_engine.abandon_action(handle, state_handle)
                raise
            if not following:
                return
            message = json.loads(following)

    def busy(self) -> bool:
        """Whether a case is being evaluated (in a forked child: was, when it forked)."""
        return self._lock.locked()

    def run(self, facts: Mapping[str, FactValue], case_id: str | None) -> Firing:
        """Fires the rules on one case's facts; the session's state is gone afterwards."""
        with self._lock:
            # A small fixed pool of session ids: arbitrary sids can collide in
            # durable-rules' 32-bit hash and share state (trap 3).
            sid = next(self._slots)
            firing = Firing(uid=f"u{next(self._uids)}", sid=sid)
            case_fact: dict[str, FactValue] = {"kind": CASE, "sid": sid, "uid": firing.uid}
            if case_id is not None:
                case_fact["case_id"] = case_id
            case_fact.update(facts)
            end_fact = {"kind": END, "sid": sid, "uid": firing.uid}
            payload = f"[{dump_fact(case_fact)},{dump_fact(end_fact)}]"
            self._current = firing
            try:
                self._assert_batch(payload)
            except (MessageNotHandledException, MessageObservedException) as exc:
                raise EngineError(f"durable-rules refused a fact: {exc}") from exc
            except EngineError:
                raise
            except Exception as exc:
                raise EngineError(f"durable-rules failed: {exc!r}") from exc
            finally:
                self._current = None
                # Deleting a session in which no action ran can crash the process (trap 5);
                # the end marker's action always runs once the batch is in.
                if firing.ended or firing.fired:
                    self._ruleset.delete_state(sid)
            # An action's exception must not pass unnoticed (trap 9).
            if firing.errors:
                raise EngineError(f"a rule action failed: {'; '.join(firing.errors)}")
            if not firing.ended:
                raise EngineError("evaluation did not reach its end marker")
            return firing
