"""The durable-rules backend, private to kneerules: the compiler from rule data to a
durable-rules ruleset, and the runner that fires it for one case at a time while
defending against each trap in ``docs/durable-rules.md``."""

from kneerules._durable.compiler import MAX_NESTED_GROUPS, compile_condition, nested_groups
from kneerules._durable.runner import DurableRunner, Firing

__all__ = ["MAX_NESTED_GROUPS", "DurableRunner", "Firing", "compile_condition", "nested_groups"]
