"""A checker for CDS Hooks 2.0 cards and responses, written from the specification.

It checks what the specification requires of a card (a ``summary`` under 140 characters,
an ``indicator`` of info / warning / critical, a ``source`` with a ``label``, codings with a
``display`` in ``overrideReasons``, ``selectionBehavior`` with suggestions, link types) and
what kneerules promises on top: a ``uuid`` on every card and no empty or null attribute
anywhere. Each problem is a JSON path and what is wrong with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from kneerules.model.errors import Problem

SUMMARY_LIMIT = 140
"""The specification: "<140-character summary message for display to the user"."""

INDICATORS = ("info", "warning", "critical")
_CARD_KEYS = {"uuid", "summary", "detail", "indicator", "source", "suggestions",
              "selectionBehavior", "overrideReasons", "links", "extension"}
_SOURCE_KEYS = {"label", "url", "icon", "topic"}
_CODING_KEYS = {"system", "code", "display"}
_LINK_KEYS = {"label", "url", "type", "appContext", "autolaunchable"}
_SUGGESTION_KEYS = {"label", "uuid", "isRecommended", "actions"}


def _empty(value: Any, path: str) -> Iterator[Problem]:
    if value is None:
        yield Problem(path, "null: leave the attribute out instead")
    elif isinstance(value, str | list | dict) and not value:
        yield Problem(path, "empty: leave the attribute out instead")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _empty(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _empty(item, f"{path}[{i}]")


def _unknown(value: dict[str, Any], keys: set[str], path: str) -> Iterator[Problem]:
    for key in value:
        if key not in keys:
            yield Problem(f"{path}.{key}", "not a card attribute of CDS Hooks 2.0")


def _string(value: Any, path: str, required: bool = True) -> Iterator[Problem]:
    if value is None:
        if required:
            yield Problem(path, "required")
    elif not isinstance(value, str):
        yield Problem(path, f"expected a string, got {type(value).__name__}")


def _url(value: Any, path: str) -> Iterator[Problem]:
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            yield Problem(path, f"expected an absolute URL, got {value!r}")


def _labelled_objects(items: list[Any], path: str, keys: set[str], problems: list[Problem]
                      ) -> list[tuple[str, dict[str, Any]]]:
    """The objects (with their paths) of a list whose items must carry a ``label``
    (suggestions, links); what is wrong with their shape goes into ``problems``."""
    found = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(where, "expected an object"))
            continue
        problems += _unknown(item, keys, where)
        problems += _string(item.get("label"), f"{where}.label")
        found.append((where, item))
    return found


def _coding(value: Any, path: str, display_required: bool) -> Iterator[Problem]:
    if not isinstance(value, dict):
        yield Problem(path, "expected a Coding object")
        return
    yield from _unknown(value, _CODING_KEYS, path)
    yield from _string(value.get("code"), f"{path}.code")
    yield from _string(value.get("system"), f"{path}.system")
    yield from _string(value.get("display"), f"{path}.display", required=display_required)


def check_card(card: Any, path: str = "$") -> list[Problem]:
    """Every problem with one card (an empty list when it is valid)."""
    if not isinstance(card, dict):
        return [Problem(path, "expected a card object")]
    problems = list(_empty(card, path))
    problems += _unknown(card, _CARD_KEYS, path)
    card_id = card.get("uuid")
    problems += _string(card_id, f"{path}.uuid")
    if isinstance(card_id, str):
        try:
            uuid.UUID(card_id)
        except ValueError:
            problems.append(Problem(f"{path}.uuid", f"not a UUID: {card_id!r}"))
    summary = card.get("summary")
    problems += _string(summary, f"{path}.summary")
    if isinstance(summary, str) and len(summary) >= SUMMARY_LIMIT:
        problems.append(Problem(f"{path}.summary",
                                f"{len(summary)} characters: must be under {SUMMARY_LIMIT}"))
    problems += _string(card.get("detail"), f"{path}.detail", required=False)
    if card.get("indicator") not in INDICATORS:
        problems.append(Problem(f"{path}.indicator",
                                f"expected one of {', '.join(INDICATORS)}, "
                                f"got {card.get('indicator')!r}"))
    source = card.get("source")
    if not isinstance(source, dict):
        problems.append(Problem(f"{path}.source", "required: an object with a label"))
    else:
        problems += _unknown(source, _SOURCE_KEYS, f"{path}.source")
        problems += _string(source.get("label"), f"{path}.source.label")
        for key in ("url", "icon"):
            problems += _url(source.get(key), f"{path}.source.{key}")
        if "topic" in source:
            problems += _coding(source["topic"], f"{path}.source.topic", False)
    reasons = card.get("overrideReasons")
    if reasons is not None:
        if not isinstance(reasons, list):
            problems.append(Problem(f"{path}.overrideReasons", "expected a list of Codings"))
        else:
            for i, reason in enumerate(reasons):
                problems += _coding(reason, f"{path}.overrideReasons[{i}]", True)
    suggestions = card.get("suggestions")
    if suggestions is not None:
        if not isinstance(suggestions, list):
            problems.append(Problem(f"{path}.suggestions", "expected a list"))
        else:
            _labelled_objects(suggestions, f"{path}.suggestions", _SUGGESTION_KEYS, problems)
            if card.get("selectionBehavior") not in ("at-most-one", "any"):
                problems.append(Problem(f"{path}.selectionBehavior",
                                        "required with suggestions: at-most-one or any"))
    elif "selectionBehavior" in card:
        problems.append(Problem(f"{path}.selectionBehavior", "only with suggestions"))
    links = card.get("links")
    if links is not None:
        if not isinstance(links, list):
            problems.append(Problem(f"{path}.links", "expected a list"))
        else:
            for where, link in _labelled_objects(links, f"{path}.links", _LINK_KEYS, problems):
                problems += _url(link.get("url"), f"{where}.url")
                if link.get("type") not in ("absolute", "smart"):
                    problems.append(Problem(f"{where}.type", "expected absolute or smart"))
    return problems


def check_response(response: Any) -> list[Problem]:
    """Every problem with a service response ``{"cards": [...]}``."""
    if not isinstance(response, dict) or not isinstance(response.get("cards"), list):
        return [Problem("$.cards", "required: a list of cards (empty when there is none)")]
    problems = []
    for key in response:
        if key not in ("cards", "systemActions"):
            problems.append(Problem(f"$.{key}", "not a response attribute of CDS Hooks 2.0"))
    for i, card in enumerate(response["cards"]):
        problems += check_card(card, f"$.cards[{i}]")
    uuids = [c.get("uuid") for c in response["cards"] if isinstance(c, dict)]
    if len(set(uuids)) != len(uuids):
        problems.append(Problem("$.cards", "two cards share a uuid"))
    return problems
