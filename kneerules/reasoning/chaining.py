"""The rules fired in straight Python: the reference the durable-rules engine is held to.

Each rule's condition is compiled once into a Python expression (the meaning of
:mod:`kneerules.reasoning.conditions`, without its tree walk), and forward chaining is
durable-rules' agenda: of the rules whose condition holds and whose ``after`` conclusions have all been
derived, the one of lowest precedence index fires next; a conclusion exists once its
first deriving rule has fired. The benchmark uses it as the limit of what evaluating the
same rules can cost; tests use it to check durable-rules on rule sets too large to reason
about by hand.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence

from kneerules.model.records import FactValue
from kneerules.model.rules import AllOf, AnyOf, Condition, FactTest, NoneOf, Rule

_SYMBOL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _test(test: FactTest) -> str:
    value = f"f.get({test.fact!r})"
    if test.is_ == "unknown":
        return f"{value} is None"
    if test.is_ == "known":
        return f"{value} is not None"
    if test.is_ is not None:
        return f"{value} is {test.is_!r}"
    if test.equals is not None:
        return f"{value} == {test.equals!r}"
    if test.in_ is not None:
        return f"{value} in {tuple(test.in_)!r}"
    comparisons = test.comparisons()
    if comparisons:
        bounds = " and ".join(f"v {_SYMBOL[op]} {bound!r}" for op, bound in comparisons)
        return f"(type(v := {value}) in _NUMBER and {bounds})"
    return f"{value} is True"


def expression(condition: Condition) -> str:
    """``condition`` as a Python expression over the facts mapping ``f``."""
    if isinstance(condition, FactTest):
        return _test(condition)
    parts = [expression(item) for item in condition.items]
    if isinstance(condition, AllOf):
        return "(" + " and ".join(parts) + ")" if parts else "True"
    either = "(" + " or ".join(parts) + ")" if parts else "False"
    return either if isinstance(condition, AnyOf) else f"(not {either})"


Check = Callable[[Mapping[str, FactValue]], bool]


def compile_check(condition: Condition) -> Check:
    """A function telling whether ``condition`` holds for a facts mapping."""
    assert isinstance(condition, FactTest | AllOf | AnyOf | NoneOf)
    # The source is built from fact names and values through repr(): data, never code.
    check: Check = eval(
        f"lambda f: bool({expression(condition)})", {"_NUMBER": (int, float)})
    return check



class PythonChain:
    """A rule set's forward chaining in Python; :meth:`run` gives what durable-rules fires."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._checks = [compile_check(rule.when) for rule in self.rules]
        self._derives = [rule.then.derive for rule in self.rules]
        self._after = [frozenset(rule.after) for rule in self.rules]

    def run(self, facts: Mapping[str, FactValue]) -> tuple[list[int], dict[str, list[int]]]:
        """The rules fired, in firing order, and the rules that derived each conclusion."""
        ready: list[int] = []
        waiting: list[int] = []
        after = self._after
        for index, check in enumerate(self._checks):
            if check(facts):
                (waiting if after[index] else ready).append(index)
        fired: list[int] = []
        derived_by: dict[str, list[int]] = {}
        heapq.heapify(ready)
        while ready:
            index = heapq.heappop(ready)
            fired.append(index)
            new = False
            for name in self._derives[index]:
                by = derived_by.setdefault(name, [])
                new = new or not by
                by.append(index)
            if new and waiting:
                still = []
                for other in waiting:
                    if after[other].issubset(derived_by):
                        heapq.heappush(ready, other)
                    else:
                        still.append(other)
                waiting = still
        return fired, derived_by
