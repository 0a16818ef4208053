"""The baseline: raw durable-rules running kneerules' own compiled ruleset.

Same ruleset definition (``kneerules._durable.compiler.compile_ruleset`` on the engine's
rules), same case-fact JSON (captured from the engine as it asserts it), on a
separate quiet host. Its actions only append the rule index, and assert the
rule's derived facts, without which rules chained with ``after`` could not
fire; so both sides fire the same rules and the difference is what kneerules
adds: validation, scores, the trace and the assessment.
"""

from __future__ import annotations

import contextlib
from typing import Any

import durable_rules_engine
from durable.engine import Host, MessageObservedException

from kneerules._durable.compiler import CASE, DERIVED, compile_ruleset
from kneerules.engine import Engine


class QuietHost(Host):  # type: ignore[misc]
    """A host without timer threads (durable-rules notes, trap 1)."""

    def _run(self) -> None:
        pass


class RawDurable:
    def __init__(self, engine: Engine) -> None:
        self.fired: list[int] = []
        rules = engine.knowledge.rules
        derives = [rule.then.derive for rule in rules]

        def action_for(index: int) -> Any:
            names = derives[index]

            def action(c: Any) -> None:
                self.fired.append(index)
                if names:
                    case = c._m[CASE]
                    for name in names:
                        with contextlib.suppress(MessageObservedException):
                            c.assert_fact({"kind": DERIVED, "sid": case["sid"],
                                           "uid": case["uid"], "name": name})

            return action

        def end(c: Any) -> None:
            pass

        self.host = QuietHost()
        self.host.set_rulesets({"raw": compile_ruleset(rules, action_for, end)})
        self.ruleset = self.host.get_ruleset("raw")

    def run(self, payload: str, sid: str) -> list[int]:
        """Asserts one case's facts (and end marker) as one batch; returns the rules fired."""
        self.fired = []
        ruleset = self.ruleset

        def assert_all(text: str) -> Any:
            return ruleset._handle_result(durable_rules_engine.assert_facts(ruleset._handle, text),
                                          text)

        self.host._handle_function(ruleset, assert_all, payload, None)
        ruleset.delete_state(sid)
        return self.fired


def capture_payloads(engine: Engine, cases: list[Any]) -> list[tuple[str, str]]:
    """The exact JSON kneerules asserts for each case, with the session id it used."""
    runner = engine._runner
    original = runner._assert_batch
    payloads: list[str] = []

    def record(payload: str) -> None:
        payloads.append(payload)
        original(payload)

    runner._assert_batch = record  # type: ignore[method-assign]
    try:
        fired = [engine.evaluate(case) for case in cases]
    finally:
        del runner._assert_batch
    out = []
    raw = RawDurable(engine)
    for payload, assessment in zip(payloads, fired, strict=True):
        sid = payload.split('"sid":"', 1)[1].split('"', 1)[0]
        rules = [step.rule for step in assessment.trace]
        got = [engine.knowledge.rules[i].id for i in dict.fromkeys(raw.run(payload, sid))]
        if got != rules:
            raise AssertionError(f"raw durable-rules fired {got}, kneerules {rules}")
        out.append((payload, sid))
    return out
