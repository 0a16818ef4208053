"""The frozen recipe of an engine: everything a worker process needs to build the same one."""

from __future__ import annotations

from pathlib import Path

import attrs

from kneerules.cases.validation import DEFAULT_MAX_BYTES
from kneerules.knowledge.rulesets import RulesetSpec

DEFAULT_CASE_DEADLINE = 60.0
"""Seconds one case may take in batch work before the batch fails, naming the plugin that
was running: a plugin hook that never returned hung a batch forever (issue 16). Here, not
in kneerules.batch.pool, so that the engine names it without importing the batch machinery."""


@attrs.frozen
class EngineConfig:
    """How to build an :class:`~kneerules.Engine`; pickles, so a worker rebuilds from it.

    ``ruleset`` is a shipped rule set's name, a rule-set file or a loaded spec, ``disable`` the
    plugins left out, ``plugins`` extra plugin objects (picklable by reference,
    i.e. defined at module level), ``max_bytes`` the largest case accepted as JSON.
    """

    ruleset: str | Path | RulesetSpec = "posterior-knee"
    disable: tuple[str, ...] = ()
    plugins: tuple[object, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
