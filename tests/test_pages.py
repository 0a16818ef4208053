"""The pages people read, in a real browser (headless Debian Chromium over WebDriver):
the audit report (alone and with --compare), the rule book and its release diff. No text
runs out of the viewport or its box, or out of an SVG, at 360 and 1280 px; the searches
find what they should; every internal link resolves. Skipped, saying why, without
Chromium (``make test`` installs it when apt can)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import browser
import pytest

WHY_NOT = browser.missing()
# A real browser: the whole suite (make test), not the fast lane (make check).
pytestmark = [pytest.mark.skipif(WHY_NOT is not None, reason=f"no browser: {WHY_NOT}"),
              pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
KNEERULES = str(Path(sys.executable).parent / "kneerules")
NEXT_RULESET = ROOT / "tests" / "data" / "rulesets" / "posterior-knee-next.yaml"
HAZARD_LOG = ROOT / "docs" / "safety" / "hazard-log.yaml"
WIDTHS = (360, 768, 1280, 1600)
BAD_LINES = ['{"case_id": "bad-finding", "findings": {"pain.calff": true}}', "{not json",
             '{"case_id": "bad-age", "patient": {"age": 150}}']


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile."""
    with browser.chromium() as session:
        yield session


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real audit (1,500 cases and bad lines, with --compare) and a real rule book with
    the diff against the next rule set, each made by the CLI."""
    pytest.importorskip("distributed", reason="needs kneerules[dask]")
    from kneerules import Engine
    from kneerules.population.synthetic import synthetic_cases

    folder = tmp_path_factory.mktemp("pages")
    engine = Engine()
    vignettes = [json.loads(p.read_text())["case"]
                 for p in sorted((ROOT / "tests" / "vignettes").glob("*.json"))]
    lines = [json.dumps(c) for c in synthetic_cases(engine.vocabulary, 1500, seed=27,
                                                    base=vignettes)]
    lines[700:700] = BAD_LINES
    cases = folder / "cases.jsonl"
    cases.write_text("\n".join(lines) + "\n")
    for name, extra in (("report", []), ("compare", ["--compare", str(NEXT_RULESET)])):
        done = subprocess.run([KNEERULES, "audit", str(cases), "--out", str(folder / name),
                               "--workers", "1", "--format", "jsonl", *extra],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 1, done.stderr  # the bad lines
    done = subprocess.run([KNEERULES, "book", "--out", str(folder / "book"), "--hazard-log",
                           str(HAZARD_LOG), "--diff", str(NEXT_RULESET)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return {"report": folder / "report" / "report.html",
            "compare": folder / "compare" / "report.html",
            "book": folder / "book" / "index.html", "diff": folder / "book" / "diff.html"}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", ["report", "compare", "book", "diff"])
def test_no_text_overflows(driver: Any, pages: dict[str, Path], page: str, width: int) -> None:
    """Every label and figure stays inside the viewport and its box (nothing clipped, no
    sideways scrolling), and SVG text inside its SVG, at a phone's and a desktop's width."""
    browser.open_at(driver, pages[page], width)
    assert browser.overflows(driver) == []
    shown = driver.execute_script("return document.body.innerText.length")
    assert shown > 1000, "the page shows its content"


@pytest.mark.parametrize("page", ["report", "compare", "book", "diff"])
def test_every_internal_link_resolves(driver: Any, pages: dict[str, Path], page: str) -> None:
    """Every link to the page itself or a page beside it reaches an existing element;
    nothing else is linked but DOIs and the bibliography's web addresses."""
    browser.open_at(driver, pages[page], 1280)
    broken, internal, external = browser.broken_links(driver, pages[page])
    assert broken == []
    assert internal > 0
    assert all(url.startswith("https://") for url in external), external
    if page == "report" or page == "compare":
        assert external == [], "the report links nowhere outside itself"


def type_into(driver: Any, element_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, element_id)
    box.clear()
    box.send_keys(text)


def visible(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]


def test_book_search_finds_a_rule_by_a_word_of_its_because(driver: Any,
                                                           pages: dict[str, Path]) -> None:
    """Typing a word that only one rule's because has leaves that rule's card shown and
    hides the rest of the rules."""
    book = json.loads((pages["book"].parent / "book.json").read_text())
    rules = book["rules"]
    target, word = None, None
    for rule in rules:
        for candidate in sorted(set(rule["because"].lower().split()), key=len, reverse=True):
            candidate = candidate.strip(".,;:()")
            if len(candidate) > 6 and sum(candidate in json.dumps(r).lower()
                                          for r in rules) == 1:
                target, word = rule, candidate
                break
        if target:
            break
    assert target is not None
    assert word is not None
    from kneerules.book.page import anchor

    browser.open_at(driver, pages["book"], 1280)
    assert len(visible(driver, "article.rule")) == len(rules)
    type_into(driver, "search", word)
    shown = visible(driver, "article.rule")
    assert [e.get_attribute("id") for e in shown] == [anchor("rule", target["id"])]
    assert "match" in driver.find_element("id", "search-shown").text
    type_into(driver, "search", " ")  # clear() fires no input event; a space does
    assert len(visible(driver, "article.rule")) == len(rules)


def test_report_error_search_finds_an_error_row(driver: Any, pages: dict[str, Path]) -> None:
    """Searching the error rows for a misspelt finding leaves its row alone."""
    browser.open_at(driver, pages["report"], 1280)
    rows = visible(driver, "#errors-table tbody tr")
    assert len(rows) == len(BAD_LINES)
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, 'input[data-filter="errors-table"]').send_keys("calff")
    shown = visible(driver, "#errors-table tbody tr")
    assert len(shown) == 1
    assert "bad-finding" in shown[0].text
    assert driver.find_element(By.ID, "errors-table-shown").text == "1 of 3 shown"


def test_the_top_screen_answers_the_first_questions(driver: Any, pages: dict[str, Path]
                                                    ) -> None:
    """At 1280x800 the first screen shows the case count, the level and timeframe mix with
    percentages, the errors and when and with which versions the audit ran."""
    from selenium.webdriver.common.by import By

    browser.open_at(driver, pages["report"], 1280, 800)
    for css in ('[data-figure="cases"]', '[data-figure="errors"]',
                '[data-figure="level"][data-key="emergency"]',
                '[data-figure="timeframe"][data-key="now"]', '[data-meta="started"]',
                '[data-meta="duration"]'):
        element = driver.find_element(By.CSS_SELECTOR, css)
        box = element.rect
        assert element.is_displayed(), css
        assert box["y"] + box["height"] <= 800, f"{css} is below the first screen"
    text = driver.find_element(By.TAG_NAME, "body").text
    assert "rule set posterior-knee" in text
    assert "%" in text


def test_the_checks_see_what_they_look_for(driver: Any, tmp_path: Path) -> None:
    """The overflow check catches SVG text guessed too wide, a label clipped by its box and
    a page wider than the viewport; the link check catches a link to a missing id."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><body style="margin:0">'
        '<svg width="100" height="30"><text x="40" y="20">pulmonary_embolism.suspected'
        "</text></svg>"
        '<div style="width:80px;overflow:hidden;white-space:nowrap">a label too long to fit'
        "</div><p style=\"width:2000px\">wide</p>"
        '<a href="#here">ok</a><a href="#nowhere">broken</a><b id="here">x</b>'
        "</body></html>")
    browser.open_at(driver, page, 360)
    found = "\n".join(browser.overflows(driver))
    assert "SVG text \"pulmonary_embolism.suspected\" overflows its SVG" in found
    assert '"a label too long to fit" overflows its <div> (hidden)' in found
    assert "the page is" in found
    broken, internal, _ = browser.broken_links(driver, page)
    assert internal == 2
    assert [b.rsplit("#", 1)[1] for b in broken] == ["nowhere: no element with this id"]
