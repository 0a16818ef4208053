"""Text that cannot drive a terminal: control characters shown, never obeyed.

A ``case_id`` holding ``ESC[1A`` redrew the lines above it (a spoofed "ROUTINE"),
and ``\\r``, ``\\n`` and OSC sequences pass through pipes into whatever reads them
later (issue 16.3). Everything kneerules prints goes through one of these.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (0x9b is a one-byte CSI to some terminals), and lone
# surrogates, which no UTF-8 stream can hold. Tab and newline are kept by terminal_safe.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSAFE_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control character but newline and tab written as an escape."""
    return _UNSAFE.sub(_escape, text)


def one_line(text: str) -> str:
    """``text`` as one line: newlines and carriage returns escaped too (for a value)."""
    return _UNSAFE_IN_LINE.sub(_escape, text)


def json_safe(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``, which escapes C0 already)
    with C1 controls, DEL, line separators and lone surrogates as ``\\uXXXX`` escapes.

    Those only occur inside JSON strings, where the escape means the same character."""
    if text.isascii() and "\x7f" not in text:
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


__all__ = ["json_safe", "one_line", "terminal_safe"]
