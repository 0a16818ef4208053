"""Shared fixtures: one engine per test module (building one compiles every rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kneerules import Engine

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The default engine: every built-in plugin, rule set posterior-knee."""
    return Engine()
