"""The rule book and the release diff as HTML: one self-contained page each (inline CSS and
a few lines of inline script for the search), nothing fetched when it is read."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from kneerules.book.diff import SECTIONS, is_empty

_STYLE = """
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:64em;color:#1d2327;padding:0 1em 4em;overflow-wrap:break-word}
header{position:sticky;top:0;background:#fff;padding:.6em 0 .4em;border-bottom:1px solid #ccd;
z-index:1}
h1{font-size:1.4em;margin:0}h2{font-size:1.25em;margin:2em 0 .5em;border-bottom:1px solid #ccd}
h3{font-size:1.05em;margin:1.4em 0 .4em}h4{margin:.2em 0;font-size:1em}
p{margin:.3em 0}.note{color:#555;font-size:.9em}
nav{display:flex;flex-wrap:wrap;gap:.2em 1em;margin:.4em 0;font-size:.92em}
input[type=search]{font:inherit;padding:.3em .5em;width:100%;max-width:30em;
border:1px solid #aab;border-radius:3px}
.card{border:1px solid #dde;border-radius:4px;padding:.5em .8em;margin:.6em 0}
.card:target{outline:3px solid #2e86c1}
.id,code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;color:#444;
overflow-wrap:anywhere}
.tag{display:inline-block;font-size:.8em;padding:0 .45em;border-radius:3px;color:#fff;
background:#5d6d7e;white-space:nowrap}
.tf-now{background:#a93226}.tf-today{background:#dc7633}.tf-within_48_hours{background:#b7950b}
.tf-within_2_weeks{background:#2e86c1}.tf-routine{background:#1e8449}
dl{display:grid;grid-template-columns:minmax(6em,9em) minmax(0,1fr);gap:.15em .8em;margin:.3em 0}
dt{color:#555}dd{margin:0;min-width:0;overflow-wrap:anywhere}
ul.when,ul.when ul{margin:.1em 0;padding-left:1.2em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.3em 0}
td,th{padding:.2em .6em;text-align:left;border-bottom:1px solid #e5e5e5;vertical-align:top;
overflow-wrap:anywhere}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.missing{color:#a93226;font-weight:600}
.hash{font:12px ui-monospace,monospace;overflow-wrap:anywhere}
[hidden]{display:none!important}
ins{background:#e8f6ea;text-decoration:none}del{background:#fbeaea}
@media (max-width:560px){
body{padding:0 .6em 3em}
dl{grid-template-columns:1fr}dt{margin-top:.3em}
header{position:static}
}
"""
# Shows the cards in which every word typed appears (their text, ids included), hides the
# sections left with none; all on the page itself, nothing fetched.
_SCRIPT = """
const box=document.getElementById('search');
const shown=document.getElementById('search-shown');
const cards=[...document.querySelectorAll('.card')];
const groups=[...document.querySelectorAll('section[data-cards],div.group')];
const text=new Map(cards.map(c=>[c,c.textContent.toLowerCase()]));
box.addEventListener('input',()=>{
  const words=box.value.toLowerCase().split(/\\s+/).filter(Boolean);
  let n=0;
  for(const card of cards){
    const hit=words.every(w=>text.get(card).includes(w));
    card.hidden=!hit;n+=hit;
  }
  for(const s of groups){s.hidden=words.length>0&&!s.querySelector('.card:not([hidden])');}
  shown.textContent=words.length?n+' of '+cards.length+' match':'';
});
"""


def anchor(kind: str, ident: str) -> str:
    """The page id of a rule, condition, test...: the kind, then the id made safe."""
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_.-]", "-", ident)


def _a(kind: str, ident: str, text: str | None = None) -> str:
    return f'<a href="#{anchor(kind, ident)}">{escape(text if text is not None else ident)}</a>'


def _words(ident: str | None) -> str:
    text = (ident or "").replace("_", " ")
    return text[:1].upper() + text[1:]


def _timeframe(ident: str | None) -> str:
    if not ident:
        return ""
    return f'<span class="tag tf-{escape(ident)}">{escape(_words(ident))}</span>'


def _when(words: Mapping[str, Any], facts: Mapping[str, Mapping[str, Any]]) -> str:
    """A condition in words as nested lists, each fact linked to the vocabulary."""
    if "text" in words:
        return _fact(words["fact"], words["text"], facts)
    (word, items), = words.items()
    if not items:
        return "always (every case)"
    lead = {"all": "all of", "any": "any of", "none": "none of"}[word]
    if word == "none" and len(items) == 1:
        return "not: " + _when(items[0], facts)
    if word == "all" and len(items) == 1:
        return _when(items[0], facts)
    inner = "".join(f"<li>{_when(item, facts)}</li>" for item in items)
    return f'{lead}:<ul class="when">{inner}</ul>'


def _fact(name: str, text: str, facts: Mapping[str, Mapping[str, Any]]) -> str:
    if name in facts:
        return f'<a href="#{anchor("fact", name)}" title="{escape(name)}">{escape(text)}</a>'
    return f'{escape(text)} <span class="missing">(unknown fact {escape(name)})</span>'


def _source(citations: Sequence[Mapping[str, Any]]) -> str:
    parts = [_a("ref", c["ref"], c["text"]) if c["ref"] else
             f'{escape(c["text"])} <span class="missing">(not in the bibliography)</span>'
             for c in citations]
    return "; ".join(parts)


def _list(items: Sequence[str], kind: str, names: Mapping[str, str] | None = None) -> str:
    return ", ".join(_a(kind, i, (names or {}).get(i, i)) for i in items) or "&ndash;"


def _more(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Fields the book does not know by name (a later release's), shown as they are."""
    return [(escape(k.replace("_", " ")), f"<code>{escape(v)}</code>")
            for k, v in item.get("more", {}).items()]


def _dl(rows: Sequence[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows if v) + "</dl>"


def render_book(book: Mapping[str, Any]) -> str:
    """The rule book's page (index.html) for :func:`kneerules.book.data.book_data`."""
    facts = {f["name"]: f for f in book["facts"]}
    conditions = {c["id"]: c["name"] for c in book["conditions"]}
    rs = book["ruleset"]
    title = f"Rule book: {rs['name']} {rs['version']}"
    sections = [
        ("conditions", "Conditions", _conditions(book)),
        ("rules", "Rules", _rules(book, facts, conditions)),
        ("scores", "Scores", _scores(book, facts)),
        ("advice", "Advice", _advice(book, conditions, facts)),
        ("considerations", "Other causes to consider", _considerations(book)),
        ("policy", "Triage policy", _policy(book, conditions, facts)),
        ("hazards", "Hazard log", _hazards(book)),
        ("tests", "Tests that control the hazards", _tests(book)),
        ("plugins", "Plugins and versions", _plugins(book)),
        ("bibliography", "Bibliography", _bibliography(book)),
        ("vocabulary", "Vocabulary", _vocabulary(book)),
    ]
    nav = "".join(f'<a href="#{key}">{escape(name)}</a>' for key, name, _ in sections)
    body = "".join(
        f'<section id="{key}" data-cards><h2>{escape(name)}</h2>{html}</section>'
        for key, name, html in sections)
    scores = len(book["scores"])
    counts = (f"{len(book['conditions'])} conditions, {len(book['rules'])} rules, "
              f"{scores} score{'' if scores == 1 else 's'}, {len(book['advice'])} advice, "
              f"{len(book['hazards'])} hazards, {len(book['plugins'])} plugins")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
        '<p><input type="search" id="search" placeholder="Search rules, conditions, advice, '
        'hazards (any words)" aria-label="Search the rule book"> '
        '<span class="note" id="search-shown"></span></p>'
        f"<nav>{nav}</nav></header>",
        f"<p>{escape(rs['description'])}</p>",
        f'<p class="note">{counts}. Generated by kneerules {escape(book["kneerules"])} from '
        "the rule set as loaded. Content hash (sha256 of the rules, conditions, scores, advice, "
        f'vocabulary, bibliography and plugin versions): <span class="hash" id="content-hash">'
        f'{escape(book["content_hash"])}</span></p>',
        body, f"<script>{_SCRIPT}</script>", "</body></html>\n"])


def _conditions(book: Mapping[str, Any]) -> str:
    names = {c["id"]: c["name"] for c in book["conditions"]}
    cards = []
    for c in sorted(book["conditions"], key=lambda c: c["name"].lower()):
        cards.append(
            f'<article class="card" id="{anchor("condition", c["id"])}">'
            f'<h4>{escape(c["name"])} <span class="id">{escape(c["id"])}</span></h4>'
            f"<p>{escape(c['description'])}</p>"
            + _dl([("source", _source(c["citations"])),
                   ("named by", _list(c["named_by"], "rule")),
                   ("commonness", f'{c["commonness"]} <span class="note">(rank by how common '
                    "the source says it is, 1 most; breaks ties)</span>"),
                   ("listed above", _list(c["outranks_while_named"], "condition", names)
                    + " whenever a red flag names it" if c["outranks_while_named"] else ""),
                   ("plugin", f'{_a("plugin", c["plugin"])}'), *_more(c)])
            + "</article>")
    return "".join(cards)


def _rules(book: Mapping[str, Any], facts: Mapping[str, Mapping[str, Any]],
           conditions: Mapping[str, str]) -> str:
    out = ['<p class="note">Each rule as it is loaded: when it fires (in words; every fact '
           "links to its meaning), what it concludes, why and on what source. Rules fire in "
           "priority order (lower first); the most pressing timeframe of the fired rules is "
           "the case's.</p>"]
    plugin = None
    for rule in sorted(book["rules"], key=lambda r: (r["plugin"], r["priority"], r["id"])):
        if rule["plugin"] != plugin:
            if plugin is not None:
                out.append("</div>")
            plugin = rule["plugin"]
            out.append(f'<div class="group"><h3>{_a("plugin", plugin)}</h3>')
        flag = rule["red_flag"]
        then = [
            ("timeframe", _timeframe(rule["timeframe"])
             + (f" {escape(rule['message'])}" if rule["message"] else "")),
            ("red flag", f'<span class="id">{escape(flag["id"])}</span> '
             f"{escape(flag['message'])}" if flag else ""),
            ("names", _list(rule["names"], "condition", conditions) if rule["names"] else ""),
            ("evidence", ", ".join(f"{_a('condition', c, conditions.get(c, c))} {w:+g}"
                                   for c, w in rule["evidence"])),
            ("concludes", ", ".join(_fact(n, facts[n]["meaning"] if n in facts else n, facts)
                                    for n in rule["derive"])),
            ("advises", _list(rule["advise"], "advice") if rule["advise"] else ""),
            ("considers", _list(rule["consider"], "consider") if rule["consider"] else ""),
        ]
        after = ", ".join(_fact(a["fact"], a["text"], facts) for a in rule["after"])
        out.append(
            f'<article class="card rule" id="{anchor("rule", rule["id"])}">'
            f'<h4><span class="id">{escape(rule["id"])}</span> '
            f'{_timeframe(rule["timeframe"])}</h4>'
            f"<p><b>Because</b> {escape(rule['because'])}</p>"
            + _dl([("when", "" if after and rule["when"] == {"all": []} else
                    _when(rule["when"], facts)),
                   ("after", after),
                   *then,
                   ("source", _source(rule["citations"])),
                   ("priority", str(rule["priority"])),
                   ("hazards", _list(rule["hazards"], "hazard") if rule["hazards"] else ""),
                   *_more(rule)])
            + "</article>")
    if plugin is not None:
        out.append("</div>")
    return "".join(out)


def _scores(book: Mapping[str, Any], facts: Mapping[str, Mapping[str, Any]]) -> str:
    cards = []
    for s in book["scores"]:
        items = "".join(f'<tr><td>{escape(i["label"])}</td><td class="n">{i["points"]:+g}</td>'
                        f"<td>{_when(i['when'], facts)}</td></tr>" for i in s["items"])
        bands = "".join(f'<tr><td class="n">{b["at_least"]:g}</td>'
                        f"<td>{escape(b['interpretation'])}</td><td>{escape(b['text'])}</td>"
                        "</tr>" for b in s["bands"])
        notes = "".join(f"<li>{escape(n)}</li>" for n in s["notes"])
        cards.append(
            f'<article class="card" id="{anchor("score", s["id"])}">'
            f'<h4>{escape(s["name"])} <span class="id">{escape(s["id"])}</span></h4>'
            '<div class="scroll"><table><thead><tr><th>item</th><th class="n">points</th>'
            f"<th>counted when</th></tr></thead><tbody>{items}</tbody></table></div>"
            '<div class="scroll"><table><thead><tr><th class="n">at least</th>'
            f"<th>reads</th><th>text</th></tr></thead><tbody>{bands}</tbody></table></div>"
            + _dl([("result", _fact(s["fact"], s["fact"], facts)),
                   ("applies when", _when(s["applies_when"], facts)),
                   ("notes", f"<ul>{notes}</ul>" if notes else ""),
                   ("source", _source(s["citations"]))])
            + "</article>")
    return "".join(cards) or "<p>No scores.</p>"


def _advice(book: Mapping[str, Any], conditions: Mapping[str, str],
            facts: Mapping[str, Mapping[str, Any]]) -> str:
    given_by: dict[str, list[str]] = {}
    for rule in book["rules"]:
        for advice in rule["advise"]:
            given_by.setdefault(advice, []).append(rule["id"])
    cards = []
    for a in sorted(book["advice"], key=lambda a: (a["plugin"], a["id"])):
        when = []
        if a["always"]:
            when.append("every case")
        if a["condition"]:
            when.append("when " + _a("condition", a["condition"],
                                     conditions.get(a["condition"], a["condition"]))
                        + " is named or leads")
        if a["level"]:
            when.append(f"at the {escape(a['level'])} level")
        if a["timeframes"]:
            when.append("at " + ", ".join(_timeframe(t) for t in a["timeframes"]))
        if a["id"] in given_by:
            when.append("when " + _list(given_by[a["id"]], "rule") + " fires")
        unsafe = [
            *(_a("condition", c, conditions.get(c, c)) + " named"
              for c in a["unsafe_while_named"]),
            *(_fact(f, facts[f]["meaning"] if f in facts else f, facts) + " recorded"
              for f in a["unsafe_with_findings"]),
            *((_a("condition", n, conditions[n]) + " named") if n in conditions else
              _fact(n, facts[n]["meaning"] if n in facts else n, facts) + " recorded"
              for n in a["unsafe_with"]),
        ]
        cards.append(
            f'<article class="card" id="{anchor("advice", a["id"])}">'
            f'<h4><span class="id">{escape(a["id"])}</span> '
            f'<span class="tag">{escape(a["kind"])}</span> '
            f'<span class="note">for {escape(a["audience"])}</span></h4>'
            f"<p>{escape(a['text'])}</p>"
            + _dl([("given", "; ".join(when)),
                   ("advises", escape(", ".join(a["treatments"]))),
                   ("unsafe with", "never while " + "; ".join(unsafe) if unsafe else ""),
                   ("source", _source(a["citations"])), *_more(a)])
            + "</article>")
    return ('<p class="note">Whatever selected it, advice is withheld when it is unsafe: '
            "with what its treatments are unsafe with under the triage policy, and with "
            "what it declares itself unsafe with.</p>" + "".join(cards))


def _considerations(book: Mapping[str, Any]) -> str:
    return "".join(
        f'<article class="card" id="{anchor("consider", c["id"])}">'
        f'<h4>{escape(c["name"])} <span class="id">{escape(c["id"])}</span></h4>'
        f"<p>{escape(c['description'])}</p>" + _dl([("source", _source(c["citations"]))])
        + "</article>" for c in book["considerations"]) or "<p>None.</p>"


def _policy(book: Mapping[str, Any], conditions: Mapping[str, str],
            facts: Mapping[str, Mapping[str, Any]]) -> str:
    policy = book["policy"]
    timeframes = "".join(
        f"<tr><td>{_timeframe(t['id'])}</td><td>{escape(t['level'])}</td>"
        f"<td>{escape(t['words'])}</td></tr>" for t in policy["timeframes"])
    floor = "".join(
        f'<article class="card" id="{anchor("policy", p["policy"])}">'
        f"<h4>{escape(p['policy'])}</h4><p>Carried by {_list(p['rules'], 'rule')}"
        + (f' <span class="missing">missing from this rule set: '
           f'{escape(", ".join(p["missing"]))}</span>' if p["missing"] else "")
        + "</p></article>" for p in policy["floor_rules"])
    named = "".join(
        f"<tr><td>{escape(t)}</td><td>{_list(cs, 'condition', conditions)}</td></tr>"
        for t, cs in policy["unsafe_while_named"].items())
    findings = "".join(
        f"<tr><td>{escape(t)}</td><td>"
        + ", ".join(_fact(f, facts[f]["meaning"] if f in facts else f, facts) for f in fs)
        + "</td></tr>" for t, fs in policy["unsafe_with_finding"].items())
    return (
        "<h3>Timeframes</h3><p class=\"note\">Most pressing first; the level follows from "
        "the timeframe.</p><div class=\"scroll\"><table><thead><tr><th>timeframe</th>"
        f"<th>level</th><th>the patient is told to</th></tr></thead><tbody>{timeframes}"
        "</tbody></table></div>"
        "<h3>The policy floor</h3><p>Plugins every rule set must include, none of which can "
        f"be switched off: {_list(policy['floor_plugins'], 'plugin')}.</p>"
        "<p class=\"note\">Each rule of the policy and the rules that carry it; an engine "
        f"without any of them is refused.</p>{floor}"
        "<h3>Advice never given</h3><div class=\"scroll\"><table><thead><tr><th>treatment"
        "</th><th>while a red flag names</th></tr></thead>"
        f"<tbody>{named}</tbody></table></div><div class=\"scroll\"><table><thead><tr>"
        f"<th>treatment</th><th>while recorded</th></tr></thead><tbody>{findings}</tbody>"
        "</table></div>")


def _risk(risk: Mapping[str, str]) -> str:
    if not risk:
        return ""
    return (f"{escape(risk.get('risk', '?'))} ({escape(risk.get('severity', '?'))}, "
            f"{escape(risk.get('likelihood', '?'))})")


def _hazards(book: Mapping[str, Any]) -> str:
    if not book["hazards"]:
        return ("<p>No hazard log was given (<code>kneerules book --hazard-log FILE</code>; "
                "in a checkout, docs/safety/hazard-log.yaml is found).</p>")
    rules = {r["id"] for r in book["rules"]}
    cards = []
    for h in book["hazards"]:
        controls = ", ".join(
            _a("rule", r) if r in rules else
            f'<span class="missing">{escape(r)} (not in this rule set)</span>'
            for r in h["rules"]) or "&ndash;"
        tests = ", ".join(
            _a("test", t, t.partition("::")[2] or t) for t in h["tests"]) or "&ndash;"
        measured = ", ".join(_a("test", t, t.partition("::")[2] or t)
                             for t in h.get("measured_by", []))
        why = h["residual"].get("why", "")
        cards.append(
            f'<article class="card" id="{anchor("hazard", h["id"])}">'
            f'<h4><span class="id">{escape(h["id"])}</span> {escape(h["title"])}</h4>'
            + _dl([("cause", escape(h["cause"])), ("effect", escape(h["effect"])),
                   ("initial risk", _risk(h["initial"])),
                   ("controlled by rules", controls), ("proved by tests", tests),
                   ("residual risk", _risk(h["residual"])
                    + (f'<br><span class="note">{escape(why)}</span>' if why else "")),
                   ("measured by", measured),
                   ("actions", escape(h.get("actions", "")))])
            + "</article>")
    return ('<p class="note">DCB0129 style: risk 1 (acceptable) to 5 (unacceptable), from '
            "severity and likelihood. The ratings are for the Clinical Safety Officer to "
            "review and sign.</p>" + "".join(cards))


def _tests(book: Mapping[str, Any]) -> str:
    if not book["tests"]:
        return "<p>No tests are named (no hazard log).</p>"
    rows = []
    for name, doc in book["tests"].items():
        text = (escape(doc) if doc else '<span class="missing">not found</span>'
                if doc is None else "")
        rows.append(f'<article class="card" id="{anchor("test", name)}">'
                    f'<h4 class="id">{escape(name)}</h4><p>{text}</p></article>')
    return ('<p class="note">Each test a hazard names, with what it checks (its '
            "docstring).</p>" + "".join(rows))


def _plugins(book: Mapping[str, Any]) -> str:
    rows = "".join(f'<tr id="{anchor("plugin", p["name"])}"><td>{escape(p["name"])}</td>'
                   f"<td>{escape(p['version'])}</td><td>{escape(p['origin'])}</td></tr>"
                   for p in book["plugins"])
    rs = book["ruleset"]
    return (f"<p>Safety plugin (evaluated first, never switched off): "
            f"{_a('plugin', rs['safety'])}. A condition is likely at a summed weight of "
            f"{rs['likely_at']:g}, possible at {rs['possible_at']:g}; treatment advice goes "
            f"to at most {rs['leading']} leading conditions.</p>"
            '<div class="scroll"><table><thead><tr><th>plugin</th><th>version</th>'
            f"<th>from</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _bibliography(book: Mapping[str, Any]) -> str:
    items = []
    for r in book["references"]:
        links = []
        if r["doi"]:
            links.append(f'DOI <a href="https://doi.org/{escape(r["doi"])}">'
                         f"{escape(r['doi'])}</a>")
        url = r["url"] or ""
        if url.startswith(("https://", "http://")):
            links.append(f'<a href="{escape(url)}">{escape(url)}</a>')
        sections = (f'<p class="note">Sections: {escape("; ".join(r["sections"]))}</p>'
                    if r["sections"] else "")
        year = f" ({r['year']})" if r["year"] else ""
        items.append(
            f'<article class="card" id="{anchor("ref", r["key"])}">'
            f'<h4>{escape(r["title"])}{year} <span class="id">{escape(r["key"])}</span></h4>'
            f"<p>{escape(r['authors'])}{'. ' if r['authors'] else ''}"
            f"{escape(r['journal'] or '')}</p>"
            + (f"<p>{' '.join(links)}</p>" if links else "") + sections + "</article>")
    return "".join(items)


def _vocabulary(book: Mapping[str, Any]) -> str:
    rows = "".join(
        f'<tr id="{anchor("fact", f["name"])}"><td class="id">{escape(f["name"])}</td>'
        f"<td>{escape(f['kind'])}</td><td>{escape(f['meaning'])}"
        + (f" ({escape(f['unit'])})" if f["unit"] else "")
        + (f"; concluded by {_list(f['derived_by'], 'rule')}" if f["derived_by"] else "")
        + "</td></tr>" for f in book["facts"])
    return ('<div class="scroll"><table><thead><tr><th>fact</th><th>kind</th><th>meaning'
            f"</th></tr></thead><tbody>{rows}</tbody></table></div>")


# --- the release diff --------------------------------------------------------------------


def render_diff(diff: Mapping[str, Any]) -> str:
    """diff.html: what changed between two releases, for the clinical safety officer."""
    old, new = diff["old"], diff["new"]
    title = (f"What changed: {old['name']} {old['version']} to "
             f"{new['name']} {new['version']}")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width,initial-scale=1">',
             f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{escape(title)}</h1>",
             f'<p class="note">Content hash <span class="hash">{escape(old["content_hash"])}'
             f'</span> to <span class="hash">{escape(new["content_hash"])}</span>. Rule links '
             'go to the new book (<a href="index.html">index.html</a>).</p>']
    if is_empty(diff):
        parts.append('<p id="no-change">No change to rules, conditions, scores, advice, '
                     "hazards or plugins.</p>")
    rules = diff["rules"]
    moved = "".join(f'<tr><td>{_link_rule(m["id"])}</td><td>{_timeframe(m["from"])}</td>'
                    f"<td>{_timeframe(m['to'])}</td></tr>" for m in diff["timeframes_moved"])
    parts.append(f'<h2>Timeframes moved</h2><div class="scroll"><table id="moved"><thead><tr>'
                 f"<th>rule</th><th>was</th><th>now</th></tr></thead><tbody>{moved}</tbody>"
                 "</table></div>" if moved else "<h2>Timeframes moved</h2><p>None.</p>")
    sources = "".join(f"<tr><td>{_link_rule(s['id'])}</td><td><del>{escape(s['from'])}"
                      f"</del></td><td><ins>{escape(s['to'])}</ins></td></tr>"
                      for s in diff["sources_changed"])
    parts.append('<h2>Sources changed</h2><div class="scroll"><table id="sources"><thead><tr>'
                 f"<th>rule</th><th>was</th><th>now</th></tr></thead><tbody>{sources}</tbody>"
                 "</table></div>" if sources else "<h2>Sources changed</h2><p>None.</p>")
    parts.append("<h2>Rules added</h2>" + (
        "".join(f'<article class="card added"><h4>{_link_rule(r["id"])}</h4>'
                f"<p>{escape(r['because'])}</p><p class=\"note\">when {escape(r['when'])}</p>"
                "</article>" for r in rules["added"]) or "<p>None.</p>"))
    parts.append("<h2>Rules removed</h2>" + (
        "".join(f'<article class="card removed"><h4 class="id">{escape(r["id"])}</h4>'
                f"<p>{escape(r['because'])}</p></article>" for r in rules["removed"])
        or "<p>None.</p>"))
    parts.append("<h2>Rules changed</h2>" + (
        "".join(f'<article class="card changed" data-rule="{escape(c["id"])}">'
                f"<h4>{_link_rule(c['id'])}</h4>{_fields(c['fields'])}</article>"
                for c in rules["changed"]) or "<p>None.</p>"))
    for section, _, _ in SECTIONS:
        part = diff[section]
        if not any(part.values()):
            continue
        parts.append(f"<h2>{escape(section.capitalize())}</h2>")
        if part["added"]:
            parts.append(f"<p>Added: {escape(', '.join(part['added']))}</p>")
        if part["removed"]:
            parts.append(f"<p>Removed: {escape(', '.join(part['removed']))}</p>")
        parts += [f'<article class="card changed"><h4 class="id">{escape(c["id"])}</h4>'
                  f"{_fields(c['fields'])}</article>" for c in part["changed"]]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _link_rule(ident: str) -> str:
    return f'<a class="id" href="index.html#{anchor("rule", ident)}">{escape(ident)}</a>'


def _fields(fields: Mapping[str, Sequence[Any]]) -> str:
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td><del>{escape(_text(a))}</del></td>"
        f"<td><ins>{escape(_text(b))}</ins></td></tr>" for name, (a, b) in fields.items())
    return ('<div class="scroll"><table><thead><tr><th></th><th>was</th><th>now</th></tr>'
            f"</thead><tbody>{rows}</tbody></table></div>")


def _text(value: Any) -> str:
    return "(none)" if value is None else str(value)
