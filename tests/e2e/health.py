"""What a page must be, whoever looks at it: the page-health checks of issue 11 §4.

`watch(page)` records what goes wrong while the page lives (5xx and 4xx answers, uncaught
script errors, console errors); `check_page_health(page)` then looks at the page as it
stands (after a load or an htmx swap) and fails with the problems found, the watched
errors since the last check included; `page_problems(page)` returns them instead. The crawl
(test_page_health.py) runs this on every page; other browser tests call it after a swap.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from playwright.sync_api import Page, Response

AXE_VERSION = "4.10.3"
# Test-only copy, fetched with `make vendor-axe` (npm pack axe-core@AXE_VERSION); never a CDN.
AXE_JS = Path(__file__).resolve().parents[1] / "vendor" / f"axe-core-{AXE_VERSION}" / "axe.min.js"

# Rule IDs stay in code, tests and docs; people never read them (issue 11 §1.8).
RULE_ID = re.compile(r"\b[RDHS]\d{1,2}\b")

# Elements that may scroll sideways because a person scrolls them on purpose, with why.
SCROLLING = {
    ".roster-scroll": "the roster grid: 31 days × people never fit a phone; it scrolls "
    "under a sticky name column and day header",
}

# Answers below 500 that a page may get and still be healthy: (path pattern, status, why).
EXPECTED_4XX: list[tuple[re.Pattern, int, str]] = []

_watches: "WeakKeyDictionary[Page, Watch]" = WeakKeyDictionary()


class Watch:
    """Errors a page met since the last check."""

    def __init__(self, page: Page):
        self.problems: list[str] = []
        page.on("response", self._response)
        page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def _response(self, response: Response) -> None:
        status = response.status
        if status < 400:
            return
        path = urlsplit(response.url).path
        if status < 500 and any(
            pattern.search(path) and status == expected for pattern, expected, _ in EXPECTED_4XX
        ):
            return
        self.problems.append(f"{status} for {response.request.method} {path}")

    def _console(self, message) -> None:
        if message.type != "error":
            return
        # The browser logs each 4xx/5xx answer too; the answer itself is judged above.
        if message.text.startswith("Failed to load resource: the server responded"):
            return
        self.problems.append(f"console error: {message.text}")

    def take(self) -> list[str]:
        problems, self.problems = self.problems, []
        return problems


def watch(page: Page) -> Watch:
    """Start recording the page's errors (once per page; later calls return the same)."""
    if page not in _watches:
        _watches[page] = Watch(page)
    return _watches[page]


# One round trip: the document's width, sideways scrollers, torn tables, rule IDs.
_LOOK = """(scrolling) => {
  const problems = [];
  const root = document.documentElement;
  const allowed = (element) => scrolling.some((selector) => element.closest(selector));
  // Content inside a scroller is clipped by it; the scroller is judged on its own below.
  const clipped = (element) => {
    for (let parent = element.parentElement; parent && parent !== document.body;
      parent = parent.parentElement) {
      if (getComputedStyle(parent).overflowX !== 'visible') return true;
    }
    return false;
  };
  const describe = (element) => element.tagName.toLowerCase()
    + (element.id ? '#' + element.id : '')
    + (element.classList.length ? '.' + [...element.classList].join('.') : '');
  if (root.scrollWidth > window.innerWidth) {
    const wide = [...document.body.querySelectorAll('*')].filter((element) => {
      const box = element.getBoundingClientRect();
      return box.width > 0 && box.right > window.innerWidth + 1 && !clipped(element);
    }).slice(0, 4).map((element) => `${describe(element)} (right edge ${Math.round(
      element.getBoundingClientRect().right)})`);
    problems.push(`the page is ${root.scrollWidth} px wide in a ${window.innerWidth} px window: `
      + wide.join(', '));
  }
  for (const element of document.body.querySelectorAll('*')) {
    const style = getComputedStyle(element);
    if (!['auto', 'scroll'].includes(style.overflowX)) continue;
    if (element.scrollWidth <= element.clientWidth + 1 || allowed(element)) continue;
    if (element.matches('textarea, input, select, pre')) continue;
    problems.push(`${describe(element)} scrolls sideways (${element.scrollWidth} px in `
      + `${element.clientWidth} px) and is not a named scrolling element`);
  }
  for (const [index, table] of [...document.querySelectorAll('table')].entries()) {
    // Slots taken by each row, rowspans of the rows above included (the HTML table model).
    const rows = [...table.rows];
    const carried = [];
    const widths = rows.map((row, r) => {
      let width = carried[r] || 0;
      for (const cell of row.cells) {
        width += cell.colSpan;
        for (let below = 1; below < cell.rowSpan; below += 1) {
          carried[r + below] = (carried[r + below] || 0) + cell.colSpan;
        }
      }
      return width;
    });
    if (!rows.length) continue;
    const headerRow = table.tHead && table.tHead.rows.length ? table.tHead.rows[0] : rows[0];
    const columns = widths[rows.indexOf(headerRow)];
    const name = describe(table) + (table.id ? '' : ` (table ${index + 1})`);
    rows.forEach((row, r) => {
      if (widths[r] !== columns) {
        problems.push(`${name}: row ${r + 1} (${row.id || row.className || 'no id'}, `
          + `"${row.innerText.trim().slice(0, 30)}") has ${widths[r]} columns, its header `
          + `${columns}`);
      }
    });
  }
  return problems;
}"""

# An init script: window.__layoutShift sums every layout shift since the page began,
# as Lighthouse counts them (buffered; not those right after the person's input).
LAYOUT_SHIFT_OBSERVER = """
window.__layoutShift = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.__layoutShift += entry.value;
  }
}).observe({ type: 'layout-shift', buffered: true });
"""
_VISIBLE_TEXT = "() => document.body.innerText"

_AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations
    .filter((violation) => ['serious', 'critical'].includes(violation.impact))
    .map((violation) => ({
      id: violation.id, impact: violation.impact, count: violation.nodes.length,
      nodes: violation.nodes.slice(0, 3).map((node) => node.target.join(' ')
        + ' — ' + node.failureSummary.split('\\n').slice(1, 2).join('').trim()),
    }));
}"""


def axe_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on the page, every rule on."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol, so the app's CSP (script-src 'self')
        # does not apply and the page needs no test-only <script>.
        page.evaluate(AXE_JS.read_text())
    return page.evaluate(_AXE_RUN)


def page_problems(page: Page, *, axe: bool = False) -> list[str]:
    """The problems a person would meet on the page as it stands; [] when healthy.
    With `axe`, axe-core's serious and critical violations too (≈1 s a page)."""
    problems = list(_watches[page].take()) if page in _watches else []
    problems += page.evaluate(_LOOK, list(SCROLLING))
    for match in sorted(set(RULE_ID.findall(page.evaluate(_VISIBLE_TEXT)))):
        problems.append(f"the rule ID {match} is shown to people")
    if axe:
        for violation in axe_violations(page):
            problems.append(
                f"axe {violation['impact']} {violation['id']} ×{violation['count']}: "
                + "; ".join(violation["nodes"])
            )
    return problems


def check_page_health(page: Page, what: str = "", *, axe: bool = False) -> None:
    """Fail with every problem page_problems finds: call it after a load or an htmx swap
    (and `watch(page)` before the first load, to catch the errors on the way too)."""
    problems = page_problems(page, axe=axe)
    where = what or urlsplit(page.url).path
    assert not problems, f"{where}:\n  " + "\n  ".join(problems)
