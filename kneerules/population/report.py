"""``report.html``: the summary for people, one self-contained file (inline CSS, a few lines
of inline script for searching its tables, nothing fetched), drawn from summary.json, the
error rows and the changed cases, so the figures agree with the summary.

The first screen answers how many cases, the level and timeframe mix, the errors, and
when, on what and with which versions the audit ran. Then the conditions the red flags
named and the must-not-miss conditions, the rules that set the level (where a safety
review of a release starts), the leading condition by age band as one cross-table, the
error rows and, with ``--compare``, both releases side by side and every changed case.

Bars are HTML boxes sized in per cent, and labels are HTML text that wraps: nothing is
placed by a guessed text width, so no label can be clipped at any window width.

Every figure is printed in an element carrying ``data-figure``, ``data-key`` (and
``data-band``) and ``data-value``, so a program can read the report back and check it
against the summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from kneerules.population.summary import BAND_ORDER, NONE

_STYLE = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:72em;color:#1d2327;padding:.8em 1em 3em;overflow-wrap:break-word}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.8em 0 .5em;
border-bottom:1px solid #ccd;padding-bottom:.2em}h3{font-size:1em;margin:1em 0 .3em}
p{margin:.4em 0}.note{color:#555;font-size:.9em}.meta{color:#333}
.meta b{font-weight:600}
.kpis{display:flex;flex-wrap:wrap;gap:.5em 2em;margin:.6em 0}
.kpi b{font-size:1.7em;display:block;line-height:1.1;text-align:left}
.kpi.bad b{color:#a93226}
.mix{display:grid;grid-template-columns:repeat(auto-fit,minmax(17em,1fr));gap:.5em 2.5em}
.stack{display:flex;height:1.3em;border-radius:3px;overflow:hidden;background:#eee;
margin:.3em 0}
.stack span{display:block;height:100%;min-width:0}
.legend{list-style:none;padding:0;margin:.2em 0}
.legend li{display:flex;gap:.5em;align-items:baseline;flex-wrap:wrap}
.legend li .name{flex:1 1 8em;min-width:0;overflow-wrap:anywhere}
.sw{display:inline-block;width:.8em;height:.8em;border-radius:2px;flex:none}
.n,.pct{font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap}
.pct{color:#555;min-width:3.6em}
.bars{list-style:none;padding:0;margin:.3em 0}
.bars li{display:grid;grid-template-columns:minmax(0,2fr) minmax(4em,3fr) 4.5em 3.6em;
gap:.2em .6em;align-items:center;padding:.1em 0}
.bars .name{overflow-wrap:anywhere;min-width:0}
.track{background:#f0f0f0;height:.9em;border-radius:2px}
.track span{display:block;height:100%;background:#5d6d7e;border-radius:2px}
.bars.red .track span{background:#a93226}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.3em 0}
td,th{padding:.25em .6em;text-align:left;border-bottom:1px solid #e5e5e5;vertical-align:top}
th{font-weight:600}thead th{border-bottom:2px solid #ccd}
td.n,th.n{text-align:right}
.id{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;color:#555;overflow-wrap:anywhere}
.bars .id{display:block}

.cross td.zero{color:#bbb}
input[type=search]{font:inherit;padding:.3em .5em;width:100%;max-width:26em;
border:1px solid #aab;border-radius:3px}
details summary{cursor:pointer}
.up{color:#a93226}.down{color:#1e8449}
@media (min-width:900px){table.side td.id{white-space:nowrap}}
@media (max-width:560px){
.bars li{grid-template-columns:1fr 4.5em 3.6em}
.bars .name{grid-column:1/-1}
body{padding:.5em .6em 2em}
}
@media (max-width:899px){
table.stacked thead{display:none}
table.stacked,table.stacked tbody,table.stacked tfoot{display:block}
table.stacked tr{display:block;padding:.4em 0;border-bottom:1px solid #ddd}
table.stacked td{display:inline-block;border:0;padding:.1em .6em .1em 0}
table.stacked td.wide{display:block}
table.stacked td[data-label]::before{content:attr(data-label) ": ";color:#555}
table.side td.id,table.side th.id{display:none}
}
"""
# Filters the rows of the table a search box names: every word typed must be in the row.
_SCRIPT = """
for(const box of document.querySelectorAll('input[data-filter]')){
  const table=document.getElementById(box.dataset.filter);
  const count=document.getElementById(box.dataset.filter+'-shown');
  const rows=[...table.tBodies[0].rows];
  box.addEventListener('input',()=>{
    const words=box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    let shown=0;
    for(const row of rows){
      const text=row.textContent.toLowerCase();
      const hit=words.every(w=>text.includes(w));
      row.hidden=!hit;shown+=hit;
    }
    count.textContent=shown+' of '+rows.length+' shown';
  });
}
"""
LEVELS = ("emergency", "urgent", "routine")
_COLOURS = {"now": "#a93226", "today": "#dc7633", "within_48_hours": "#d4ac0d",
            "within_2_weeks": "#2e86c1", "routine": "#1e8449",
            "emergency": "#a93226", "urgent": "#dc7633"}


def render_report(summary: Mapping[str, Any], changes: Sequence[Mapping[str, Any]],
                  errors: Sequence[Mapping[str, Any]] = ()) -> str:
    """The page for ``summary``; ``changes`` and ``errors`` are the first changed cases and
    error rows of the output (the summary gives their totals)."""
    other = summary.get("compare")
    names = summary.get("names", {})
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        "<title>kneerules population audit</title>", f"<style>{_STYLE}</style></head><body>",
        "<h1>Population audit</h1>", _meta(summary),
        _overview(summary, other),
        '<h2 id="named">Conditions named by red flags, and must-not-miss conditions</h2>',
        '<p class="note">Cases in which a red flag named each condition, and cases whose '
        "differential marks each condition must-not-miss (a case may count under several). "
        "Percentages are of the assessed cases.</p>",
        _counts("red_flags", "Red flags", summary, other, names.get("red_flags", {}), "red"),
        _counts("must_not_miss", "Must-not-miss conditions", summary, other,
                names.get("conditions", {}), "red"),
        '<h2 id="level-rules">Rules that set the level</h2>', _level_rules(summary, other,
                                                                          names),
        '<h2 id="by-age">Leading condition by age band</h2>', _by_band(summary, names),
    ]
    if other is not None:
        parts += [f"<h3>{escape(_release(other))}</h3>",
                  _by_band(other, names, figure="compare.leading_condition_by_age_band")]
    parts += ['<h2 id="errors">Errors</h2>', _errors(summary, errors)]
    if other is not None:
        parts.append(_changes(summary, other, changes, names))
    parts += ['<h2 id="versions">Engine versions</h2>', _engines("engines", summary["engines"])]
    if other is not None:
        parts += [f"<h3>Compared with {escape(_release(other))}</h3>",
                  _engines("compare.engines", other["engines"])]
    parts += [f"<script>{_SCRIPT}</script>", "</body></html>\n"]
    return "\n".join(parts)


# --- pieces ------------------------------------------------------------------------------


def _figure(figure: str, key: str | None, value: int, band: str | None = None,
            tag: str = "span", cls: str = "n", label: str | None = None) -> str:
    """One figure, as the summary has it, readable back by a program (``label``: what a
    narrow screen, where a table's head is hidden, prints before it)."""
    attributes = f'class="{cls}" data-figure="{escape(figure)}"'
    if label is not None:
        attributes += f' data-label="{escape(label)}"'
    if band is not None:
        attributes += f' data-band="{escape(band)}"'
    if key is not None:
        attributes += f' data-key="{escape(key)}"'
    return f'<{tag} {attributes} data-value="{value}">{value:,}</{tag}>'


def _pct(n: int, of: int) -> str:
    return f"{100 * n / of:.1f}%" if of else "&ndash;"


def _label(text: str, ident: str | None = None) -> str:
    """A human name, its id on hover when the two differ."""
    if ident is None or ident == text:
        return escape(text)
    return f'<span title="{escape(ident)}">{escape(text)}</span>'


def _id(ident: str) -> str:
    """An id that may break after its dots and underscores, never inside a word."""
    return escape(ident).replace(".", ".<wbr>").replace("_", "_<wbr>")


def _words(ident: str) -> str:
    """A timeframe or level id as words: within_48_hours -> Within 48 hours."""
    text = ident.replace("_", " ")
    return text[:1].upper() + text[1:]


def _release(summary: Mapping[str, Any]) -> str:
    engines = summary.get("engines") or []
    return ", ".join(f"{e['ruleset']} {e['ruleset_version']}" for e in engines) or "no cases"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _meta(summary: Mapping[str, Any]) -> str:
    bits = []
    if "started" in summary:
        when = datetime.fromisoformat(summary["started"])
        bits.append(f'started <b data-meta="started">{when:%Y-%m-%d %H:%M:%S} UTC</b>')
    if "duration_seconds" in summary:
        bits.append(f'took <b data-meta="duration">'
                    f'{_duration(summary["duration_seconds"])}</b>')
    engines = summary.get("engines") or []
    versions = sorted({e["version"] for e in engines})
    if versions:
        bits.append(f"kneerules <b>{escape(', '.join(versions))}</b>")
    bits.append(f"rule set <b>{escape(_release(summary))}</b>")
    plugins = sorted({p for e in engines for p in e["plugins"]})
    workers = summary.get("workers", {}).get("count")
    if workers is not None:
        bits.append(f"{workers} worker{'s' if workers != 1 else ''}")
    inputs = summary.get("inputs", [])
    shown = ", ".join(inputs[:3]) + (f" and {len(inputs) - 3} more" if len(inputs) > 3 else "")
    text = (f'<p class="meta">{"; ".join(bits)}.</p>'
            f'<p class="meta">Cases from <span class="id">{escape(shown)}</span>'
            + (f"; FHIR records read as at {escape(summary['fhir_index_time'])}"
               if "fhir_index_time" in summary else "") + ".</p>")
    if plugins:
        items = ", ".join(f'<span class="id">{escape(p)}</span>' for p in plugins)
        text += f"<details><summary>{len(plugins)} plugins</summary><p>{items}</p></details>"
    return text


def _overview(summary: Mapping[str, Any], other: Mapping[str, Any] | None) -> str:
    kpis = [("cases", "cases"), ("assessed", "assessed"), ("errors", "errors")]
    cells = []
    for key, label in kpis:
        bad = " bad" if key == "errors" and summary[key] else ""
        link = f'<a href="#errors">{label}</a>' if key == "errors" else label
        cells.append(f'<div class="kpi{bad}">{_figure(key, None, summary[key], tag="b")}'
                     f"{link}</div>")
    if other is not None:
        errors = _figure("compare.errors", None, other["errors"], tag="b")
        changed = _figure("compare.changed", None, other["changed"], tag="b")
        cells.append(f'<div class="kpi">{errors}errors with {escape(_release(other))}</div>')
        cells.append(f'<div class="kpi">{changed}<a href="#changes">cases changed</a></div>')
    text = f'<div class="kpis">{"".join(cells)}</div>'
    if other is None:
        return text + ('<div class="mix">' + _mix("level", "Level", summary) +
                       _mix("timeframe", "Timeframe", summary) + "</div>")
    return (text + f'<p class="note">This release, <b>{escape(_release(summary))}</b>, beside '
            f"<b>{escape(_release(other))}</b> on the same cases.</p>"
            + _side_by_side("level", "Level", summary, other, LEVELS, _words)
            + _side_by_side("timeframe", "Timeframe", summary, other,
                            tuple(summary["timeframe"]), _words))


def _mix(figure: str, title: str, summary: Mapping[str, Any]) -> str:
    """A stacked bar of the whole and its legend with counts and percentages."""
    counts: Mapping[str, int] = summary[figure]
    total = sum(counts.values())
    stack = "".join(
        f'<span style="width:{100 * n / total:.3f}%;background:{_COLOURS.get(k, "#5d6d7e")}"'
        f' title="{escape(_words(k))}: {n:,}"></span>'
        for k, n in counts.items() if n and total)
    legend = "".join(
        f'<li><span class="sw" style="background:{_COLOURS.get(k, "#5d6d7e")}"></span>'
        f'<span class="name">{_label(_words(k), k)}</span>{_figure(figure, k, n)}'
        f'<span class="pct">{_pct(n, total)}</span></li>'
        for k, n in counts.items())
    return (f"<div><h3>{title}</h3><div class=\"stack\" role=\"img\" "
            f'aria-label="{title} mix">{stack}</div><ul class="legend">{legend}</ul></div>')


def _side_by_side(figure: str, title: str, summary: Mapping[str, Any],
                  other: Mapping[str, Any], keys: Sequence[str],
                  name: Any = None, ids: bool = False) -> str:
    """The same figure for both releases (count and per cent of the assessed), and the
    change; on a narrow screen each row is a block, each figure named by its release."""
    mine: Mapping[str, int] = summary[figure]
    theirs: Mapping[str, int] = other[figure]
    keys = [*keys, *(k for k in theirs if k not in keys)]
    a_name, b_name = _release(summary), _release(other)
    rows = []
    for key in keys:
        a, b = mine.get(key, 0), theirs.get(key, 0)
        label = _label(name(key) if name else key, key)
        ident = f'<td class="id">{_id(key)}</td>' if ids else ""
        delta = b - a
        cls = "up" if delta > 0 else "down" if delta < 0 else ""
        rows.append(
            f'<tr><td class="wide">{label}</td>{ident}'
            f'<td class="n" data-label="{escape(a_name)}">{_figure(figure, key, a)} '
            f'<span class="pct">{_pct(a, summary["assessed"])}</span></td>'
            f'<td class="n" data-label="{escape(b_name)}">{_figure("compare." + figure, key, b)} '
            f'<span class="pct">{_pct(b, other["assessed"])}</span></td>'
            f'<td class="n {cls}" data-label="change">{delta:+,}</td></tr>')
    head = '<th class="id">id</th>' if ids else ""
    return (f'<h3>{title}</h3><div class="scroll"><table class="side stacked"><thead><tr>'
            f'<th></th>{head}<th class="n">{escape(a_name)}</th><th class="n">'
            f'{escape(b_name)}</th><th class="n">change</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _counts(figure: str, title: str, summary: Mapping[str, Any],
            other: Mapping[str, Any] | None, names: Mapping[str, str], style: str = "") -> str:
    counts: Mapping[str, int] = summary[figure]
    if other is not None:
        return _side_by_side(figure, title, summary, other, tuple(counts),
                             lambda key: names.get(key, key), ids=True)
    if not counts:
        return f"<h3>{title}</h3><p>None.</p>"
    return f"<h3>{title}</h3>" + _bars(figure, counts, summary["assessed"], names, style)


def _bars(figure: str, counts: Mapping[str, int], of: int, names: Mapping[str, str],
          style: str = "") -> str:
    """One bar per key, largest first, each with its name and, under it, its id."""
    top = max(counts.values(), default=0) or 1
    rows = "".join(
        f'<li><span class="name">{escape(names.get(k, k))}<span class="id">{_id(k)}</span>'
        "</span>"
        f'<span class="track"><span style="width:{100 * n / top:.2f}%"></span></span>'
        f'{_figure(figure, k, n)}<span class="pct">{_pct(n, of)}</span></li>'
        for k, n in counts.items())
    return f'<ul class="bars {style}">{rows}</ul>'


def _level_rules(summary: Mapping[str, Any], other: Mapping[str, Any] | None,
                 names: Mapping[str, Any]) -> str:
    rules: Mapping[str, Mapping[str, str]] = names.get("rules", {})
    mine: Mapping[str, int] = summary["level_rules"]
    theirs: Mapping[str, int] = other["level_rules"] if other is not None else {}
    keys = [*mine, *(k for k in theirs if k not in mine)]
    if not keys:
        return "<p>No rule set a level (no case was assessed).</p>"
    top = max([*mine.values(), *theirs.values()]) or 1
    head = (f'<th class="n">{escape(_release(summary))}</th><th class="n">'
            f"{escape(_release(other))}</th>" if other is not None else
            '<th class="n">cases</th><th class="n">%</th>')
    rows = []
    for key in keys:
        rule = rules.get(key, {})
        a = mine.get(key, 0)
        timeframe = rule.get("timeframe", "")
        if other is not None:
            cells = (_figure("level_rules", key, a, tag="td", label=_release(summary))
                     + _figure("compare.level_rules", key, theirs.get(key, 0), tag="td",
                               label=_release(other)))
        else:
            cells = (_figure("level_rules", key, a, tag="td", label="cases")
                     + f'<td class="pct">{_pct(a, summary["assessed"])}</td>')
        bar = (f'<div class="track"><span style="width:{100 * a / top:.2f}%;background:'
               f'{_COLOURS.get(timeframe, "#5d6d7e")}"></span></div>')
        rows.append(f'<tr><td class="wide">{escape(rule.get("because", key))}{bar}</td>'
                    f'<td class="id wide">{_id(key)}</td>'
                    f"<td>{_label(_words(timeframe), timeframe) if timeframe else ''}</td>"
                    f"{cells}</tr>")
    return ('<p class="note">For each rule, the cases whose timeframe it set: it fired and '
            "its timeframe was the most pressing of the case (a case counts under each rule "
            "that set the same timeframe).</p>"
            '<div class="scroll"><table id="rules-table" class="stacked"><thead><tr>'
            f"<th>rule (because)</th><th>id</th><th>timeframe</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}"
            "</tbody></table></div>")


def _by_band(summary: Mapping[str, Any], names: Mapping[str, Any],
             figure: str = "leading_condition_by_age_band") -> str:
    bands: Mapping[str, Mapping[str, int]] = summary["leading_condition_by_age_band"]
    if not bands:
        return "<p>No case was assessed.</p>"
    conditions: Mapping[str, str] = names.get("conditions", {})
    columns = [b for b in BAND_ORDER if b in bands]
    totals: dict[str, int] = {}
    for counts in bands.values():
        for condition, n in counts.items():
            totals[condition] = totals.get(condition, 0) + n
    order = sorted(totals, key=lambda c: (c == NONE, -totals[c], c))
    rows = []
    for condition in order:
        name = ("nothing spoke for any condition" if condition == NONE
                else conditions.get(condition, condition))
        cells = "".join(
            _figure(figure, condition, bands[b][condition], band=b, tag="td", label=b)
            if condition in bands[b] else f'<td class="n zero" data-label="{escape(b)}">0</td>'
            for b in columns)
        rows.append(f'<tr><td class="wide">{_label(name, condition)}</td>{cells}'
                    f'<td class="n" data-label="all"><b>{totals[condition]:,}</b></td></tr>')
    sums = "".join(f'<td class="n" data-label="{escape(b)}">{sum(bands[b].values()):,}</td>'
                   for b in columns)
    head = "".join(f'<th class="n">{escape(b)}</th>' for b in columns)
    return ('<p class="note">Assessed cases by the first condition of their differential '
            "and the patient's age band. Age bands group the population for reading; they are "
            "not clinical thresholds.</p>"
            f'<div class="scroll"><table class="cross stacked"><thead><tr><th>leading '
            f'condition</th>{head}<th class="n">all</th></tr></thead><tbody>{"".join(rows)}'
            f'</tbody><tfoot><tr><td class="wide"><b>all ages</b></td>{sums}'
            f'<td class="n" data-label="all"><b>{sum(totals.values()):,}</b></td>'
            "</tr></tfoot></table></div>")


def _search(table: str, what: str) -> str:
    return (f'<p><input type="search" data-filter="{table}" placeholder="Search {what}" '
            f'aria-label="Search {what}"> <span class="note" id="{table}-shown"></span></p>')


def _errors(summary: Mapping[str, Any], errors: Sequence[Mapping[str, Any]]) -> str:
    count = summary["errors"]
    head = (f"<p>{_figure('errors-count', None, count, tag='b')} case(s) could not be "
            "assessed; each is an error row of the output, with every problem.</p>")
    if not errors:
        return head
    rows = "".join(
        f'<tr><td class="id">{_id(str(e["input"]))}</td>'
        f'<td class="n" data-label="position">{e["position"]}</td>'
        f'<td data-label="case id">{escape(e["case_id"] or "")}</td>'
        f'<td class="wide">{"<br>".join(escape(p) for p in e["problems"])}</td></tr>'
        for e in errors)
    note = (f'<p class="note">The first {len(errors):,} of {count:,}; all are rows of the '
            "output (status error).</p>" if len(errors) < count else "")
    return (head + _search("errors-table", "errors (words of a problem, a case id, a field)")
            + '<div class="scroll"><table id="errors-table" class="stacked"><thead><tr>'
            '<th>input</th><th class="n">position</th><th>case id</th><th>problems</th>'
            "</tr></thead>"
            f"<tbody>{rows}</tbody></table></div>{note}")


def _changes(summary: Mapping[str, Any], other: Mapping[str, Any],
             changes: Sequence[Mapping[str, Any]], names: Mapping[str, Any]) -> str:
    conditions: Mapping[str, str] = names.get("conditions", {})

    def condition(ident: str | None) -> str:
        return _label(conditions.get(ident, ident), ident) if ident else "&ndash;"

    def timeframe(ident: str | None, status: str) -> str:
        return _label(_words(ident), ident) if ident else escape(status)

    transitions = "".join(
        f"<tr><td>{_label(_words(t['from']), t['from'])}</td>"
        f"<td>{_label(_words(t['to']), t['to'])}</td>"
        + _figure("compare.timeframe_changes", f"{t['from']} -> {t['to']}", t["cases"], tag="td")
        + "</tr>" for t in other["timeframe_changes"])
    rows = "".join(
        f'<tr data-change="{escape(str(c["input"]))}:{c["position"]}">'
        f'<td class="wide"><span class="id">{_id(str(c["input"]))}:{c["position"]}</span>'
        f'{"<br>" + escape(c["case_id"]) if c["case_id"] else ""}</td>'
        f'<td data-label="age">{escape(c["age_band"])}</td>'
        f'<td class="wide">{timeframe(c["timeframe"], c["status"])} &rarr; '
        f'{timeframe(c["other_timeframe"], c["other_status"])}</td>'
        f'<td class="wide">{condition(c["leading_condition"])} &rarr; '
        f'{condition(c["other_leading_condition"])}</td></tr>'
        for c in changes)
    note = (f'<p class="note">The first {len(changes):,} of {other["changed"]:,}; all are in '
            "changes/.</p>" if len(changes) < other["changed"] else "")
    return (
        '<h2 id="changes">Changed cases</h2>'
        f"<p>{_figure('compare.changed', None, other['changed'], tag='b', cls='n total')} "
        f"case(s) change timeframe or leading condition from {escape(_release(summary))} to "
        f"{escape(_release(other))}.</p>"
        "<h3>Changes by timeframe</h3><div class=\"scroll\"><table><thead><tr><th>from</th>"
        f'<th>to</th><th class="n">cases</th></tr></thead><tbody>{transitions}</tbody>'
        "</table></div><h3>Every changed case</h3>"
        + _search("changes-table", "changed cases")
        + '<div class="scroll"><table id="changes-table" class="stacked"><thead><tr><th>case</th>'
        "<th>age</th><th>timeframe</th><th>leading condition</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>{note}")


def _engines(figure: str, engines: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>kneerules {escape(e['version'])}</td><td>{escape(e['ruleset'])} "
        f"{escape(e['ruleset_version'])}</td>"
        f'<td class="id">{escape(", ".join(e["plugins"]))}</td>'
        f"{_figure(figure, e['ruleset'] + ' ' + e['ruleset_version'], e['cases'], tag='td')}"
        "</tr>" for e in engines)
    return ('<div class="scroll"><table><thead><tr><th>engine</th><th>rule set</th>'
            f'<th>plugins</th><th class="n">cases</th></tr></thead><tbody>{rows}</tbody>'
            "</table></div>")
