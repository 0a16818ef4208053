"""What changed between two releases of a rule set, from their books' data
(:func:`kneerules.book.data.book_data`): what a clinical safety officer signs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kneerules.book.data import flat_text

RULE_FIELDS = ("plugin", "priority", "when", "after", "timeframe", "message", "red_flag",
               "evidence", "derive", "advise", "consider", "because", "source")
"""What a rule change is made of, in the order the diff lists it (the level follows from
the timeframe, so a moved timeframe is one change)."""
SECTIONS = (("conditions", "id", ("name", "description", "commonness",
                                  "outranks_while_named", "source")),
            ("scores", "id", ("name", "fact", "items", "bands", "applies_when", "notes",
                              "source")),
            ("advice", "id", ("kind", "text", "audience", "condition", "level", "always",
                              "timeframes", "treatments", "unsafe_with", "source")),
            ("hazards", "id", ("title", "cause", "effect", "initial", "residual", "rules",
                               "tests", "measured_by", "actions")),
            ("plugins", "name", ("version",)))


def _rule_view(rule: Mapping[str, Any]) -> dict[str, Any]:
    view = {key: rule.get(key) for key in RULE_FIELDS}
    view["when"] = flat_text(rule["when"])
    view["after"] = [a["fact"] for a in rule.get("after", [])]
    view.update(rule.get("more", {}))  # what a later release adds, diffed all the same
    return view


def _by(items: Sequence[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    return {str(item[key]): item for item in items}


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], fields: Sequence[str]
             ) -> dict[str, list[Any]]:
    return {f: [old.get(f), new.get(f)] for f in fields if old.get(f) != new.get(f)}


def diff_books(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Rules added, removed and changed (field by field), timeframes moved and sources
    changed; conditions, scores, advice, hazards and plugins added, removed or changed."""
    before = {r["id"]: _rule_view(r) for r in old["rules"]}
    after = {r["id"]: _rule_view(r) for r in new["rules"]}
    changed = []
    for rid in sorted(before.keys() & after.keys()):
        extra = sorted((before[rid].keys() | after[rid].keys()) - set(RULE_FIELDS))
        differs = _changed(before[rid], after[rid], (*RULE_FIELDS, *extra))
        if differs:
            changed.append({"id": rid, "fields": differs})
    out: dict[str, Any] = {
        "old": {**old["ruleset"], "content_hash": old["content_hash"]},
        "new": {**new["ruleset"], "content_hash": new["content_hash"]},
        "rules": {
            "added": [after[r] | {"id": r} for r in sorted(after.keys() - before.keys())],
            "removed": [before[r] | {"id": r} for r in sorted(before.keys() - after.keys())],
            "changed": changed,
        },
        "timeframes_moved": [{"id": c["id"], "from": c["fields"]["timeframe"][0],
                              "to": c["fields"]["timeframe"][1]}
                             for c in changed if "timeframe" in c["fields"]],
        "sources_changed": [{"id": c["id"], "from": c["fields"]["source"][0],
                             "to": c["fields"]["source"][1]}
                            for c in changed if "source" in c["fields"]],
    }
    for section, key, fields in SECTIONS:
        mine, theirs = _by(old.get(section, []), key), _by(new.get(section, []), key)
        out[section] = {
            "added": sorted(theirs.keys() - mine.keys()),
            "removed": sorted(mine.keys() - theirs.keys()),
            "changed": [{"id": k, "fields": f} for k in sorted(mine.keys() & theirs.keys())
                        if (f := _changed(mine[k], theirs[k], fields)
                            or _changed(mine[k].get("more", {}), theirs[k].get("more", {}),
                                        _keys(mine[k], theirs[k])))],
        }
    return out


def _keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return sorted(a.get("more", {}).keys() | b.get("more", {}).keys())


def is_empty(diff: Mapping[str, Any]) -> bool:
    parts = [diff["rules"], *(diff[s] for s, _, _ in SECTIONS)]
    return not any(part[k] for part in parts for k in ("added", "removed", "changed"))


def diff_text(diff: Mapping[str, Any]) -> str:
    """The diff as lines for a terminal or a review ticket."""
    old, new = diff["old"], diff["new"]
    lines = [f"{old['name']} {old['version']} ({old['content_hash'][:12]}) -> "
             f"{new['name']} {new['version']} ({new['content_hash'][:12]})"]
    if is_empty(diff):
        lines.append("no change to rules, conditions, scores, advice, hazards or plugins")
        return "\n".join(lines) + "\n"
    rules = diff["rules"]
    lines += [f"rule added: {r['id']}" for r in rules["added"]]
    lines += [f"rule removed: {r['id']}" for r in rules["removed"]]
    for change in rules["changed"]:
        for field, (a, b) in change["fields"].items():
            lines.append(f"rule changed: {change['id']}: {field}: {_short(a)} -> {_short(b)}")
    for section, _, _ in SECTIONS:
        part = diff[section]
        noun = section.rstrip("s") if section != "advice" else "advice"
        lines += [f"{noun} added: {k}" for k in part["added"]]
        lines += [f"{noun} removed: {k}" for k in part["removed"]]
        for change in part["changed"]:
            for field, (a, b) in change["fields"].items():
                lines.append(f"{noun} changed: {change['id']}: {field}: {_short(a)} -> "
                             f"{_short(b)}")
    return "\n".join(lines) + "\n"


def _short(value: Any, limit: int = 160) -> str:
    text = "(none)" if value is None else str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
