"""durable-rules, wrapped so that none of its measured traps can reach a user.

See ``../shared/notes/durable-rules.md`` for the traps; each defence below
names the one it answers. One :class:`DurableRunner` owns one host and one
compiled ruleset and evaluates one case at a time under its lock.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
import durable_rules_engine
from durable.engine import Host, MessageNotHandledException, MessageObservedException

from kneerules.compiler import CASE, DERIVED, END, compile_ruleset
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


def dump_fact(fact: Mapping[str, FactValue]) -> str:
    """A flat fact as JSON with every number in plain decimal notation."""
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
        try:
            self._host.set_rulesets({self.name: definition})
        except Exception as exc:
            raise EngineError(f"durable-rules refused the compiled ruleset: {exc}") from exc
        self._ruleset = self._host.get_ruleset(self.name)

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
                    with contextlib.suppress(MessageObservedException):
                        c.assert_fact(fact)

        return action

    def _on_end(self, c: Any) -> None:
        if self._current is not None:
            self._current.ended = True

    def _assert_batch(self, payload: str) -> None:
        ruleset = self._ruleset

        def assert_all(text: str) -> Any:
            result = durable_rules_engine.assert_facts(ruleset._handle, text)
            return ruleset._handle_result(result, text)

        # One batch, so durable-rules' agenda orders the firings by priority (not fact order).
        self._host._handle_function(ruleset, assert_all, payload, None)

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
                state = self._ruleset.get_state(sid)
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
            # Exceptions inside actions are swallowed into the state (trap 9).
            if "exception" in state or firing.errors:
                detail = state.get("exception") or "; ".join(firing.errors)
                raise EngineError(f"a rule action failed: {detail}")
            if not firing.ended:
                raise EngineError("evaluation did not reach its end marker")
            return firing
