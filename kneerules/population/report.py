"""``report.html``: the summary for people, one self-contained file (inline CSS and SVG,
no script, nothing fetched), drawn from summary.json alone so the figures agree.

Every figure is printed in a table cell carrying ``data-figure`` and ``data-key`` (and
``data-band``), so a program can read the report back and check it against the summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from kneerules.population.rows import CHANGE_COLUMNS

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .7em;text-align:left;
border-bottom:1px solid #eee;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.kpi{display:inline-block;margin-right:2em}.kpi b{font-size:1.8em;display:block}
.grid{display:flex;flex-wrap:wrap;gap:1.5em}.grid>div{flex:1 1 26em}
svg text{font:12px system-ui,sans-serif}.note{color:#666}
"""
_COLOURS = {"now": "#c0392b", "today": "#e67e22", "within_48_hours": "#f1c40f",
            "within_2_weeks": "#2e86c1", "routine": "#27ae60"}
_BAR = "#5d6d7e"


def render_report(summary: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]) -> str:
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>kneerules population audit</title>", f"<style>{_STYLE}</style></head><body>",
        "<h1>Population audit</h1>",
        f'<p class="note">Inputs: {escape(", ".join(summary["inputs"]))}'
        + (f"; FHIR records read as at {escape(summary['fhir_index_time'])}"
           if "fhir_index_time" in summary else "") + "</p>",
        _kpis(summary),
        "<h2>Cases by timeframe</h2>", _figure("timeframe", summary["timeframe"], _COLOURS),
        "<h2>Red flags</h2>",
        '<p class="note">Cases with each red flag (a case may have several).</p>',
        _figure("red_flags", summary["red_flags"]) if summary["red_flags"] else
        "<p>No case had a red flag.</p>",
        "<h2>Leading conditions by age band</h2>", _by_band(summary),
        "<h2>Must-not-miss conditions</h2>",
        _figure("must_not_miss", summary["must_not_miss"]) if summary["must_not_miss"] else
        "<p>None.</p>",
        "<h2>Errors</h2>", _errors(summary),
        "<h2>Engine versions</h2>", _engines("engines", summary["engines"]),
    ]
    if "compare" in summary:
        parts.append(_compare(summary, changes))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _cell(figure: str, key: str, value: int, band: str | None = None) -> str:
    extra = f' data-band="{escape(band)}"' if band is not None else ""
    return (f'<td class="n" data-figure="{escape(figure)}" data-key="{escape(key)}"{extra}>'
            f"{value}</td>")


def _kpis(summary: Mapping[str, Any]) -> str:
    items = (("cases", "cases"), ("assessed", "assessed"), ("errors", "errors"))
    cells = "".join(f'<span class="kpi"><b data-figure="{key}">{summary[key]}</b>{label}</span>'
                    for key, label in items)
    return f"<p>{cells}</p>"


def _figure(name: str, counts: Mapping[str, int], colours: Mapping[str, str] | None = None,
            band: str | None = None) -> str:
    """A bar chart (inline SVG) and the table of the same figures beside it."""
    rows = "".join(f"<tr><th>{escape(key)}</th>{_cell(name, key, n, band)}</tr>"
                   for key, n in counts.items())
    table = f"<table><tr><th>{escape(band or name.replace('_', ' '))}</th><th>cases</th></tr>" \
            f"{rows}</table>"
    return f'<div class="grid"><div>{_bars(counts, colours or {})}</div><div>{table}</div></div>'


def _bars(counts: Mapping[str, int], colours: Mapping[str, str]) -> str:
    label_width, bar_width, height = 190, 300, 22
    top = max(counts.values(), default=0) or 1
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
           f'width="{label_width + bar_width + 70}" height="{height * max(len(counts), 1) + 4}">']
    for row, (key, n) in enumerate(counts.items()):
        y = row * height + 2
        width = round(bar_width * n / top, 1)
        colour = colours.get(key, _BAR)
        svg.append(f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{escape(key)}'
                   "</text>")
        svg.append(f'<rect x="{label_width}" y="{y + 2}" width="{width}" height="{height - 6}"'
                   f' fill="{colour}"><title>{escape(key)}: {n}</title></rect>')
        svg.append(f'<text x="{label_width + width + 4}" y="{y + 15}">{n}</text>')
    svg.append("</svg>")
    return "".join(svg)


def _by_band(summary: Mapping[str, Any]) -> str:
    bands = summary["leading_condition_by_age_band"]
    if not bands:
        return "<p>No case was assessed.</p>"
    blocks = [f"<h3>Age {escape(band)}</h3>" +
              _figure("leading_condition_by_age_band", counts, band=band)
              for band, counts in bands.items()]
    return ('<p class="note">The leading condition is the first of the differential; '
            '"(none)" when nothing spoke for any condition. Age bands group the population '
            "for reading; they are not clinical thresholds.</p>" + "".join(blocks))


def _errors(summary: Mapping[str, Any]) -> str:
    count = summary["errors"]
    head = f'<p><b data-figure="errors-count">{count}</b> case(s) could not be assessed; ' \
           "each is an error row of the output, with every problem.</p>"
    if not summary["error_examples"]:
        return head
    rows = "".join(
        f"<tr><td>{escape(e['input'])}</td><td class='n'>{e['position']}</td>"
        f"<td>{escape(e['case_id'] or '')}</td><td>{escape('; '.join(e['problems']))}</td></tr>"
        for e in summary["error_examples"])
    shown = len(summary["error_examples"])
    note = f'<p class="note">The first {shown} of {count}.</p>' if shown < count else ""
    return (head + "<table><tr><th>input</th><th>position</th><th>case id</th><th>problems</th>"
            f"</tr>{rows}</table>{note}")


def _engines(figure: str, engines: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>kneerules {escape(e['version'])}</td><td>{escape(e['ruleset'])} "
        f"{escape(e['ruleset_version'])}</td><td>{escape(', '.join(e['plugins']))}</td>"
        f"{_cell(figure, e['ruleset'] + ' ' + e['ruleset_version'], e['cases'])}</tr>"
        for e in engines)
    return ("<table><tr><th>engine</th><th>rule set</th><th>plugins</th><th>cases</th></tr>"
            f"{rows}</table>")


def _compare(summary: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]) -> str:
    other = summary["compare"]
    rows = "".join(
        f"<tr><th>{escape(tf)}</th><td class='n'>{n}</td>"
        f"{_cell('compare.timeframe', tf, other['timeframe'].get(tf, 0))}</tr>"
        for tf, n in summary["timeframe"].items())
    transitions = "".join(
        f"<tr><td>{escape(t['from'])}</td><td>{escape(t['to'])}</td>"
        f"{_cell('compare.timeframe_changes', t['from'] + ' -> ' + t['to'], t['cases'])}</tr>"
        for t in other["timeframe_changes"])
    shown = "".join(
        f'<tr data-change="{escape(str(change["input"]))}:{change["position"]}">'
        + "".join(f"<td>{escape(_text(change[c]))}</td>" for c in CHANGE_COLUMNS) + "</tr>"
        for change in changes)
    note = (f'<p class="note">The first {len(changes)} of {other["changed"]}; all are in '
            "changes/.</p>" if len(changes) < other["changed"] else "")
    this = summary["engines"][0]["ruleset"] + " " + summary["engines"][0]["ruleset_version"] \
        if summary["engines"] else "this rule set"
    return (
        "<h2>Release comparison</h2>"
        f"<p>Against {escape(_versions(other['engines']))}: "
        f'<b data-figure="compare.changed">{other["changed"]}</b> case(s) change timeframe '
        "or leading condition.</p>"
        f"<table><tr><th>timeframe</th><th>{escape(this)}</th>"
        f"<th>{escape(_versions(other['engines']))}</th></tr>{rows}</table>"
        "<h3>Changes by timeframe</h3><table><tr><th>from</th><th>to</th><th>cases</th></tr>"
        f"{transitions}</table>"
        "<h3>Every changed case</h3><table><tr>"
        + "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in CHANGE_COLUMNS)
        + f"</tr>{shown}</table>{note}"
        + "<h3>Engine versions compared</h3>" + _engines("compare.engines", other["engines"])
    )


def _versions(engines: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{e['ruleset']} {e['ruleset_version']}" for e in engines) or "?"


def _text(value: Any) -> str:
    return "" if value is None else str(value)
