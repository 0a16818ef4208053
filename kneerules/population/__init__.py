"""Population audits on Dask: many cases, one engine per worker, a summary and a report.

Needs the extras ``kneerules[dask]`` (and ``kneerules[parquet]`` for Parquet input or
output). Importing this package imports neither: ``kneerules audit`` registers through
:mod:`kneerules.population.commands`, which stays light so that ``kneerules eval``
starts as fast without the extra as with it.

>>> from kneerules.population import audit            # doctest: +SKIP
>>> result = audit(["cases.jsonl"], "out/", workers=2)  # doctest: +SKIP
>>> result.summary["timeframe"]                        # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kneerules import lazy_exports

if TYPE_CHECKING:
    from kneerules.population.run import AuditResult, audit

_LAZY = {"audit": "kneerules.population.run", "AuditResult": "kneerules.population.run"}


__getattr__ = lazy_exports(__name__, _LAZY, globals())


__all__ = ["AuditResult", "audit"]
