"""Fuzz target: bytes -> case -> assessment -> every rendering.

Anything but an assessment or a :class:`CaseError` is a finding: an exception, a crash
of durable-rules' C core, a hang (libFuzzer's -timeout), unbounded memory (-rss_limit_mb),
or output that a terminal would obey (a control character in text output) or that is not
valid UTF-8.
"""

from __future__ import annotations

import sys
from typing import Any

import atheris

from fuzz.instrument import instrument_kneerules

instrument_kneerules()

from kneerules import CaseError, Engine, to_json  # noqa: E402
from kneerules.knowledge.plugins import get_plugin_manager  # noqa: E402
from kneerules.output.rendering import RenderOptions, render  # noqa: E402

ENGINE = Engine(plugin_manager=get_plugin_manager(entry_points=False), max_bytes=64 * 1024)
_UNSAFE = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} - {"\n"}


FINDINGS = sorted(n for n, spec in ENGINE.vocabulary.items() if spec.kind == "finding")
MEASUREMENTS = sorted(n for n, spec in ENGINE.vocabulary.items() if spec.kind == "measurement")
CHOICES = {"onset": ["sudden", "gradual", "Sudden", 1], "side": ["left", "right", "both", ""]}


def structured(fdp: atheris.FuzzedDataProvider) -> dict[str, Any]:
    """A case in the case format, built from the vocabulary: raw bytes rarely get past
    the JSON parser to the rules, this does (and reaches the Python API's path)."""
    case: dict[str, Any] = {"findings": {}, "measurements": {}}
    if fdp.ConsumeBool():
        case["case_id"] = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40))
    if fdp.ConsumeBool():
        case["patient"] = {"age": fdp.ConsumeIntInRange(-2, 125),
                           "sex": fdp.PickValueInList(["female", "male", "other", "x"])}
    for field, values in CHOICES.items():
        if fdp.ConsumeBool():
            case[field] = fdp.PickValueInList(values)
    for _ in range(fdp.ConsumeIntInRange(0, 30)):
        name = fdp.PickValueInList(FINDINGS)
        case["findings"][name] = fdp.ConsumeBool()
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        name = fdp.PickValueInList(MEASUREMENTS)
        case["measurements"][name] = (fdp.ConsumeRegularFloat() if fdp.ConsumeBool()
                                      else fdp.ConsumeIntInRange(-10, 300))
    return case


def check(data: bytes) -> None:
    if data[:1] == b"\x00":
        case: Any = structured(atheris.FuzzedDataProvider(data[1:]))
    else:
        case = data
    try:
        assessment = (ENGINE.evaluate_json(case, "fuzz") if isinstance(case, bytes)
                      else ENGINE.evaluate(case))
    except CaseError as error:
        text = "\n".join(str(p) for p in error.problems)
        text.encode("utf-8")  # a message must be printable as UTF-8
        return
    to_json(assessment).encode("utf-8")
    for output_format in ("text", "json"):
        shown = render(assessment, output_format, options=RenderOptions(explain=True))
        shown.encode("utf-8")
        if output_format == "text" and _UNSAFE.intersection(shown):
            raise AssertionError(f"a control character in text output: {shown!r}")


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
