"""Writing the rule book (index.html and book.json) and the release diff into a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kneerules.book.data import (
    BOOK_FORMAT,
    BookError,
    book_data,
    docstrings_of_tests,
    find_hazard_log,
    read_capped,
    read_hazard_log,
)
from kneerules.book.diff import diff_books
from kneerules.book.page import render_book, render_diff

if TYPE_CHECKING:
    from kneerules.knowledge.base import KnowledgeBase

BOOK_JSON = "book.json"
INDEX = "index.html"
DIFF_HTML = "diff.html"
DIFF_JSON = "diff.json"
MAX_BOOK_BYTES = 64 << 20


def make_book(kb: KnowledgeBase, hazard_log: Path | None) -> dict[str, Any]:
    """The book's data for ``kb``, with the hazard log's hazards and the tests they name
    (found beside the log: its checkout's tests/)."""
    from kneerules.model.version import __version__

    hazards: list[dict[str, Any]] = []
    tests: dict[str, str | None] = {}
    if hazard_log is not None:
        hazards = read_hazard_log(hazard_log)
        names = sorted({t for h in hazards for t in (*h["tests"], *h["measured_by"])})
        root = _checkout(hazard_log, names)
        tests = docstrings_of_tests(names, root)
    return book_data(kb, hazards, tests, __version__)


def _checkout(hazard_log: Path, tests: list[str]) -> Path:
    """The folder the log's test paths are relative to: the nearest one above it that has
    the first of them (docs/safety/ -> the checkout), else the log's own folder."""
    first = tests[0].partition("::")[0] if tests else ""
    for folder in hazard_log.resolve().parents:
        if first and (folder / first).is_file():
            return folder
    return hazard_log.resolve().parent


def default_hazard_log() -> Path | None:
    return find_hazard_log(Path.cwd())


def write_book(book: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / BOOK_JSON).write_text(json.dumps(book, indent=1, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    page = out / INDEX
    page.write_text(render_book(book), encoding="utf-8")
    return page


def read_book(folder: Path) -> dict[str, Any]:
    """An earlier book's data (its folder's book.json)."""
    from kneerules.cases.validation import parse_json
    from kneerules.model.errors import CaseError

    path = folder / BOOK_JSON
    raw = read_capped(path, MAX_BOOK_BYTES, "an earlier rule book")
    try:
        # Strict, as a case is read: duplicate keys, NaN and deep nesting are refused.
        data = parse_json(raw, str(path), MAX_BOOK_BYTES)
    except CaseError as error:
        raise BookError(f"{path}: not JSON: {error.problems[0]}") from None
    if not isinstance(data, dict) or data.get("format") != BOOK_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise BookError(f"{path}: $.format: expected {BOOK_FORMAT!r}, got {found!r}")
    return data


def write_diff(old: dict[str, Any], new: dict[str, Any], out: Path) -> dict[str, Any]:
    diff = diff_books(old, new)
    out.mkdir(parents=True, exist_ok=True)
    (out / DIFF_JSON).write_text(json.dumps(diff, indent=1, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    (out / DIFF_HTML).write_text(render_diff(diff), encoding="utf-8")
    return diff
