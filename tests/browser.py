"""Headless Chromium for the page tests: Debian's chromium and chromium-driver over
WebDriver (selenium), a fresh profile each time, no network, nothing downloaded.

``make test`` installs the two packages when apt can; without them the page tests are
skipped, saying so.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

CHROMIUM = os.environ.get("KNEERULES_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KNEERULES_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--force-device-scale-factor=1")


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not found: apt-get install {package} (make test does, when it can)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A WebDriver session on headless Chromium with a profile of its own, removed after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="kneerules-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # The driver is given: Selenium Manager (which would look for one online) never runs.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_at(driver: Any, page: Path, width: int, height: int = 900) -> None:
    """``page`` in a viewport exactly ``width`` CSS pixels wide."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    driver.get(page.resolve().as_uri())


# Every piece of text laid out on the page, checked against the viewport and against every
# ancestor that clips it; every SVG text against its SVG. Returns what overflows.
_OVERFLOW_JS = """
const W = document.documentElement.clientWidth, out = [];
const page = document.documentElement.scrollWidth;
if (page > W) out.push('the page is ' + page + ' px wide in a ' + W + ' px viewport');
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode;
  if (!node.textContent.trim()) continue;
  const range = document.createRange();
  range.selectNodeContents(node);
  for (const r of range.getClientRects()) {
    if (r.width === 0 || r.height === 0) continue;
    const what = JSON.stringify(node.textContent.trim().slice(0, 40));
    if (r.left < -0.5 || r.right > W + 0.5)
      out.push(what + ' runs out of the viewport (' + Math.round(r.left) + '..' +
               Math.round(r.right) + ' of ' + W + ')');
    for (let a = node.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
      const box = a.getBoundingClientRect();
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5)
        out.push(what + ' overflows its <' + a.tagName.toLowerCase() + '> (' +
                 s.overflowX + ')');
    }
  }
}
for (const t of document.querySelectorAll('svg text')) {
  const svg = t.ownerSVGElement.getBoundingClientRect(), b = t.getBoundingClientRect();
  if (b.left < svg.left - 0.5 || b.right > svg.right + 0.5 || b.top < svg.top - 0.5 ||
      b.bottom > svg.bottom + 0.5)
    out.push('SVG text ' + JSON.stringify(t.textContent) + ' overflows its SVG');
}
return out;
"""


def overflows(driver: Any) -> list[str]:
    """Text that runs out of the viewport or is clipped by its box, and SVG text outside
    its SVG, as the browser laid the page out."""
    found: list[str] = driver.execute_script(_OVERFLOW_JS)
    return found


_LINKS_JS = """
return [...document.querySelectorAll('a[href]')].map(a => a.href);
"""


def broken_links(driver: Any, page: Path) -> tuple[list[str], int, list[str]]:
    """Internal links of the open page that lead nowhere (a missing file or id), how many
    internal links there are, and the external ones (never followed)."""
    broken, external, internal = [], [], 0
    ids: dict[Path, set[str]] = {}
    for href in driver.execute_script(_LINKS_JS):
        url = urlparse(href)
        if url.scheme != "file":
            external.append(href)
            continue
        internal += 1
        target = Path(unquote(url.path))
        if not target.is_file():
            broken.append(f"{href}: no such file")
            continue
        if url.fragment:
            if target not in ids:
                text = target.read_text(encoding="utf-8")
                ids[target] = set(re.findall(r'\sid="([^"]+)"', text))
            if unquote(url.fragment) not in ids[target]:
                broken.append(f"{href}: no element with this id")
    return broken, internal, external


def screenshot(driver: Any, path: Path, width: int, height: int) -> None:
    """A PNG of the open page's first ``height`` pixels at ``width`` (its layout at that
    viewport width)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    driver.save_screenshot(str(path))
