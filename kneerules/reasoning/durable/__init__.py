"""The durable-rules backend, private to kneerules: the compiler from rule data to a
durable-rules ruleset, and the runner that fires it for one case at a time while
defending against each trap listed in ``docs/durable-rules.md``."""

from kneerules.knowledge.base import BackendChecks
from kneerules.reasoning.durable.compiler import (
    MAX_NESTED_GROUPS,
    check_fact,
    check_rule,
    compile_condition,
    nested_groups,
)
from kneerules.reasoning.durable.runner import DurableRunner, Firing

CHECKS = BackendChecks(fact=check_fact, rule=check_rule)
"""What durable-rules can hold, checked on every fact and rule as the knowledge is built."""

__all__ = ["CHECKS", "MAX_NESTED_GROUPS", "DurableRunner", "Firing", "compile_condition",
           "nested_groups"]
