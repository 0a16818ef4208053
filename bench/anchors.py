"""Honest anchors: the same rules, fired other ways, for ``make bench`` to compare with.

- :class:`IdiomaticDurable`: what a user of durable-rules would write: the rules in the
  ``durable.lang`` DSL (``when_all``, ``pri``, ``c.case << ...``), asserted with
  ``durable.lang.assert_facts`` on its global host, actions recording the rule and
  deriving with ``c.assert_fact``, ``delete_state`` after each case.
- :class:`LeanestDurable`: the least Python that can drive the very rulesets kneerules
  compiled (same definitions, same case-fact JSON): C calls only, nothing checked.
- :class:`ClipsRules`: the same rules in CLIPS through clipspy (what a user might pick
  instead): one template slot per fact, salience for precedence, derived facts chained.
- :func:`python_assess`: the whole kneerules pipeline with the rules fired in straight
  Python (:mod:`kneerules.reasoning.chaining`) instead of durable-rules: the limit.

Each ``fire(...)`` returns the rule indices fired, in order; the benchmark checks every
anchor against kneerules' trace on every case before timing anything.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import durable_rules_engine

from kneerules import Engine
from kneerules.model.records import Assessment, FactValue
from kneerules.model.rules import AllOf, AnyOf, Condition, FactTest, NoneOf, Rule
from kneerules.reasoning.assess import build_assessment
from kneerules.reasoning.chaining import PythonChain
from kneerules.reasoning.durable.compiler import CASE, DERIVED, END, compile_condition
from kneerules.reasoning.durable.runner import Firing


def case_facts(engine: Engine, case: Mapping[str, Any]) -> dict[str, FactValue]:
    """Every fact the rules see for ``case`` (validated, scores and plugin facts added)."""
    facts, _ = engine.case_facts(engine.parse(case))
    return facts


# --- durable.lang, as its users write it --------------------------------------------------

def _dsl(expr: Any) -> Any:
    """A compiled condition (durable-rules JSON) as the durable.lang DSL object."""
    from durable.lang import m

    (key, value), = expr.items()
    if key in ("$and", "$or"):
        parts = [_dsl(item) for item in value]
        combine = (lambda a, b: a & b) if key == "$and" else (lambda a, b: a | b)
        return functools.reduce(combine, parts)
    if key in ("$ex", "$nex", "$lt", "$lte", "$gt", "$gte", "$neq"):
        (name, bound), = value.items()
        field = getattr(m, name)
        return {"$ex": lambda: +field, "$nex": lambda: -field, "$lt": lambda: field < bound,
                "$lte": lambda: field <= bound, "$gt": lambda: field > bound,
                "$gte": lambda: field >= bound, "$neq": lambda: field != bound}[key]()
    return getattr(m, key) == value


class IdiomaticDurable:
    """The rules written with durable.lang and run on its global host."""

    def __init__(self, rules: Sequence[Rule], name: str = "bench_idiomatic") -> None:
        from durable import lang
        from durable.lang import c, m, pri, ruleset, when_all

        self.lang = lang
        self.name = name
        self.fired: list[int] = []
        self.derived: set[str] = set()
        with ruleset(name):
            for index, rule in enumerate(rules):
                condition = compile_condition(rule.when)
                case = m.kind == CASE
                if condition is not None:
                    case = case & _dsl(condition)
                patterns = [c.case << case]
                for n, after in enumerate(rule.after):
                    patterns.append(getattr(c, f"d{n}") << ((m.kind == DERIVED)
                                                             & (m.name == after)))
                when_all(pri(index + 1), *patterns)(self._action(index, rule.then.derive))
            when_all(pri(65000), m.kind == END)(lambda c: None)
            # durable-rules refuses a fact no rule accepts; a join that never completes
            # accepts every case and derived fact.
            when_all(c.x << ((m.kind == CASE) | (m.kind == DERIVED)),
                     c.never << (m.kind == "__never__"))(lambda c: None)
        lang.get_host()

    def _action(self, index: int, derives: tuple[str, ...]) -> Any:
        def action(c: Any) -> None:
            if index in self.fired:  # "$or" alternatives each fire; count the rule once
                return
            self.fired.append(index)
            for name in derives:
                if name not in self.derived:
                    self.derived.add(name)
                    c.assert_fact({"kind": DERIVED, "name": name})
        return action

    def fire(self, facts: Mapping[str, FactValue]) -> list[int]:
        self.fired = []
        self.derived = set()
        self.lang.assert_facts(self.name, [{"kind": CASE, "sid": "1", **facts},
                                           {"kind": END, "sid": "1"}])
        self.lang.delete_state(self.name, "1")
        return self.fired


class IdiomaticDurableProcess:
    """:class:`IdiomaticDurable` in a process of its own, driven over a pipe.

    durable.lang's host runs timer threads that wake every 0.1-0.5 s and take the GIL:
    in the benchmark's process they slowed every other side measured after them (~5 %
    for kneerules, measured), and a process with threads no longer forks its batch
    workers. The child times its own rounds, so the pipe costs nothing measured."""

    def __init__(self, facts: Sequence[Mapping[str, FactValue]]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_idiomatic, args=(child, list(facts)),
                                        daemon=True)
        self._process.start()
        child.close()

    def _ask(self, request: Any) -> Any:
        self._conn.send(request)
        answer = self._conn.recv()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def fire_all(self) -> list[list[int]]:
        """The rules fired for each case, in order."""
        fired: list[list[int]] = self._ask(("fire",))
        return fired

    def time(self, repeats: int) -> float:
        """Seconds to fire every case ``repeats`` times, timed in the child."""
        seconds: float = self._ask(("time", repeats))
        return seconds

    def close(self) -> None:
        self._conn.send(("stop",))
        self._process.join(10)


def _serve_idiomatic(conn: Any, facts: list[Mapping[str, FactValue]]) -> None:
    import time

    try:
        side = IdiomaticDurable(Engine().knowledge.rules)
    except Exception as exc:  # reported on the first request
        side, error = None, exc
    while True:
        request = conn.recv()
        if request[0] == "stop":
            return
        if side is None:
            conn.send(error)
            continue
        if request[0] == "fire":
            conn.send([side.fire(f) for f in facts])
        else:
            start = time.perf_counter()
            for _ in range(request[1]):
                for fact in facts:
                    side.fire(fact)
            conn.send(time.perf_counter() - start)


# --- the leanest driver of kneerules' own compiled rulesets ------------------------------

class LeanestDurable:
    """kneerules' compiled pack rulesets, driven by the fewest C calls: assert the case,
    run the agenda, assert derived facts, retract everything. No checks at all.

    With ``fresh_session`` the session is deleted after each case instead (and so
    allocated again for the next), as the leanest driver issue 17 measured did."""

    def __init__(self, engine: Engine, fresh_session: bool = False,
                 name: str = "bench_lean") -> None:
        self.fresh_session = fresh_session
        runner = engine._runner
        self.packs = []
        for number, pack in enumerate(runner.packs):
            handle = durable_rules_engine.create_ruleset(f"{name}_{number}",
                                                         pack._definition)
            heads = {f'{{"r{i}":': i for i in pack.pack.members}
            derives = {i: [json.dumps({"kind": DERIVED, "sid": "s0", "uid": "u",
                                       "name": name}) for name in engine.knowledge.rules[i]
                           .then.derive] for i in pack.pack.members}
            self.packs.append((handle, pack, heads, derives))

    def payloads(self, facts: Mapping[str, FactValue]) -> list[str]:
        """The facts each pack is given for a case (what kneerules asserts, prepared ahead)."""
        out = []
        for _, pack, _, _ in self.packs:
            out.append(pack.write(facts, "u"))
        return out

    def fire(self, payloads: Sequence[str]) -> list[int]:
        runs = []
        for (handle, _, heads, derives), case in zip(self.packs, payloads, strict=True):
            asserted = [case, '{"kind":"end","sid":"s0","uid":"u"}']
            state = durable_rules_engine.assert_facts(handle, f"[{asserted[0]},{asserted[1]}]")[1]
            message = durable_rules_engine.start_action_for_state(handle, state)[1]
            fired: list[int] = []
            while message:
                index = heads.get(message[:message.index(":") + 1])
                if index is not None and index not in fired:
                    fired.append(index)
                    for fact in derives[index]:
                        if durable_rules_engine.assert_fact(handle, fact)[0] == 0:
                            asserted.append(fact)
                message = durable_rules_engine.complete_and_start_action(handle, state)
            if self.fresh_session:
                durable_rules_engine.delete_state(handle, "s0")
            else:
                durable_rules_engine.retract_facts(handle, "[" + ",".join(asserted) + "]")
            runs.append(fired)
        if len(runs) == 1:
            return runs[0]
        from kneerules.reasoning.durable.packing import merge_firings
        return merge_firings(runs)


# --- CLIPS -------------------------------------------------------------------------------

def _clips_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ClipsRules:
    """The rules as CLIPS defrules over one ``case`` fact with a slot per fact."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        import clips

        self.env = clips.Environment()
        names = sorted({name for rule in rules for name in rule.facts()
                        if name not in rule.after})
        self.slot = {name: f"f{n}" for n, name in enumerate(names)}
        self.env.build("(deftemplate case " + " ".join(f"(slot {s})" for s in
                                                        self.slot.values()) + ")")
        self.env.build("(deftemplate derived (slot name))")
        self.env.build("(defglobal ?*fired* = (create$))")
        for index, rule in enumerate(rules):
            reads = sorted({t.fact for t in _tests(rule.when)})
            case = "(case " + " ".join(f"({self.slot[n]} ?{self.slot[n]})" for n in reads) + ")"
            chained = "".join(f"(derived (name {_clips_string(n)}))" for n in rule.after)
            test = self._expr(rule.when)
            test = "" if test == "TRUE" else f"(test {test})"
            actions = f"(bind ?*fired* (create$ ?*fired* {index}))" + "".join(
                f"(assert (derived (name {_clips_string(n)})))" for n in rule.then.derive)
            self.env.build(f"(defrule r{index} (declare (salience {10000 - index})) {case} "
                           f"{chained} {test} => {actions})")
        # One call per case, all of it inside CLIPS: reset, assert, run. Driven from Python
        # step by step (reset, Template.assert_fact, run), every retracted fact stayed in
        # CLIPS' top-level garbage (~150 bytes a case, never freed: the API clipspy wraps
        # cleans garbage only when a call returns), and each case got slower than the last:
        # 87 us, then 187, 554, 950 over successive rounds of the bench cases.
        params = " ".join(f"?{s}" for s in self.slot.values())
        fields = " ".join(f"({s} ?{s})" for s in self.slot.values())
        self.env.build(f"(deffunction fire-case ({params}) (reset) (assert (case {fields})) "
                       "(run) ?*fired*)")
        self.fire_case = self.env.find_function("fire-case")

    def _expr(self, condition: Condition) -> str:
        if isinstance(condition, FactTest):
            return self._test(condition)
        parts = [self._expr(item) for item in condition.items]
        # CLIPS' and/or take at least two arguments.
        if isinstance(condition, AllOf):
            return "TRUE" if not parts else parts[0] if len(parts) == 1 else \
                f"(and {' '.join(parts)})"
        either = ("FALSE" if not parts else parts[0] if len(parts) == 1 else
                  f"(or {' '.join(parts)})")
        return either if isinstance(condition, AnyOf) else f"(not {either})"

    def _test(self, test: FactTest) -> str:
        v = f"?{self.slot[test.fact]}"
        if test.is_ == "unknown":
            return f"(eq {v} nil)"
        if test.is_ == "known":
            return f"(neq {v} nil)"
        if test.is_ is not None:
            return f"(eq {v} {'TRUE' if test.is_ else 'FALSE'})"
        if test.equals is not None:
            return f"(eq {v} {_clips_string(test.equals)})"
        if test.in_ is not None:
            return "(or " + " ".join(f"(eq {v} {_clips_string(x)})" for x in test.in_) + " FALSE)"
        comparisons = test.comparisons()
        if comparisons:
            symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
            bounds = " ".join(f"({symbol[op]} {v} {bound})" for op, bound in comparisons)
            return f"(and (numberp {v}) {bounds})"
        return f"(eq {v} TRUE)"

    def slots(self, facts: Mapping[str, FactValue]) -> tuple[Any, ...]:
        """The case fact's slot values for ``facts``, in slot order, ``nil`` where a fact is
        not recorded (prepared ahead of timing, like JSON text)."""
        import clips

        nil = clips.Symbol("nil")
        return tuple(
            nil if (value := facts.get(name)) is None
            else clips.Symbol("TRUE" if value else "FALSE") if isinstance(value, bool)
            else value
            for name in self.slot)

    def fire(self, slots: Sequence[Any]) -> list[int]:
        return list(self.fire_case(*slots))


def _tests(condition: Condition) -> list[FactTest]:
    if isinstance(condition, FactTest):
        return [condition]
    assert isinstance(condition, AllOf | AnyOf | NoneOf)
    return [t for item in condition.items for t in _tests(item)]


# --- straight Python: the limit ----------------------------------------------------------

class PythonPipeline:
    """kneerules' evaluation with the rules fired in Python: the same Assessment."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.chain = PythonChain(engine.knowledge.rules)

    def evaluate(self, case: Mapping[str, Any]) -> Assessment:
        engine = self.engine
        parsed = engine.parse(case)
        facts, scores = engine.case_facts(parsed)
        fired, derived_by = self.chain.run(facts)
        firing = Firing(uid="", sid="", fired=fired, derived_by=derived_by)
        return build_assessment(engine.knowledge, engine.plan, parsed, facts, scores, firing,
                                engine.info)
