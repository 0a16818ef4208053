"""A made-up population to try an audit on (benchmarks, tests, a demo): never patients.

Each case is one of the given base cases (e.g. the vignettes) or an empty one, with a
few findings of the vocabulary set true or false at random, and a random age, sex,
onset and side, some left unknown. The same seed gives the same cases.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kneerules.model.rules import FactSpec


def synthetic_cases(vocabulary: Mapping[str, FactSpec], count: int, *, seed: int = 0,
                    base: Sequence[Mapping[str, Any]] = ()) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    findings = sorted(name for name, spec in vocabulary.items() if spec.kind == "finding")
    measurements = sorted((name, spec.minimum, spec.maximum)
                          for name, spec in vocabulary.items()
                          if spec.kind == "measurement" and spec.minimum is not None
                          and spec.maximum is not None)
    for number in range(count):
        start = base[rng.randrange(len(base))] if base and rng.random() < 0.6 else {}
        case: dict[str, Any] = {"case_id": f"synthetic-{seed}-{number}"}
        for field in ("onset", "side"):
            if field in start:
                case[field] = start[field]
        found = dict(start.get("findings", {}))
        for name in rng.sample(findings, rng.randint(0, 6)):
            found[name] = rng.random() < 0.7
        case["findings"] = found
        measured = dict(start.get("measurements", {}))
        if measurements and rng.random() < 0.2:
            name, low, high = measurements[rng.randrange(len(measurements))]
            measured[name] = round(rng.uniform(low, high), 1)
        if measured:
            case["measurements"] = measured
        if rng.random() < 0.9:
            case["patient"] = {"age": rng.randint(16, 95)}
            if rng.random() < 0.8:
                case["patient"]["sex"] = rng.choice(("female", "male"))
        if "onset" not in case and rng.random() < 0.5:
            case["onset"] = rng.choice(("sudden", "gradual"))
        if "side" not in case and rng.random() < 0.5:
            case["side"] = rng.choice(("left", "right", "both"))
        yield case
