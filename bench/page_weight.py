"""Page weight: Lighthouse 12.2.3 over every page a phone uses, and (--bytes) the bytes
the patrol pages cost over the network. Prints figures; asserts no size or score.

    .venv/bin/python bench/page_weight.py [--runs 5]      # Lighthouse
    .venv/bin/python bench/page_weight.py --bytes [--list]

Lighthouse (the default; bench/_lighthouse.py says how it logs in and installs the worker):
the demo app (bench/_server.py) on loopback; patrol, checkpoint, scan and problems as staff
member 1001, coverage, roster (this month) and day as supervisor 2001, each in its own
Chromium profile, logged in, with the service worker installed and controlling; mobile
form factor, simulated throttling; `--runs` runs per page (5). Prints per page the median
performance score (and its range), CLS, transferred KB (total-byte-weight), LCP and TBT.
Targets (issue 11): score ≥ 95, CLS < 0.1.

--bytes: first load ≤ 60 KB compressed, excluding the lazily loaded scanner wasm; repeat
loads fetch no static bytes. Runs the demo app (bench/_server.py) on loopback and Debian's
Chromium (a 360×640 phone, a fake camera so that the scanner loads its reader) and
measures, for /s/CUIHU/patrol, /c/<token> of a demo checkpoint with a checklist and
/s/CUIHU/scan:

- first load, cold cache, no worker: a profile with service workers blocked, logged in
  as 1001, the HTTP cache cleared before each page: the document and every static file;
- then reloaded in that profile (HTTP cache only, no worker);
- first load with the worker: a fresh profile that logged in as 1001 (the login page
  installed the worker; see the install figures) and opens the page for the first time;
- repeat load with the worker: that page reloaded.

"Bytes" are what the server wrote to the socket for each request it answered (status
line, headers, body; see bench/_server.py), with the browser's own count, the sum of CDP
Network.loadingFinished.encodedDataLength over the page's and the worker's targets, next
to it. The server does not compress; the gzip-6 column replaces each compressible body
(text, JavaScript, JSON, SVG, wasm; ≥ 500 bytes) by its gzip size plus the two headers.
"""

import argparse
import contextlib
import json
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _lighthouse import report as lighthouse_report
from _lighthouse import run_lighthouse
from _server import (
    CHROMIUM,
    CONTROLLED,
    DEMO_PASSWORD,
    DEMO_SITE,
    DEMO_USER,
    LAUNCH_ARGS,
    PHONE,
    Server,
    WorkerSession,
    log_in,
    require_chromium,
    wait_until,
)
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

STARTED = time.perf_counter()
TARGET_FIRST_KB = 60
# A camera that shows a test pattern: the scan page starts it and loads its QR reader.
CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
STATIC = re.compile(r"^/(static/|sw\.js$|sw/[^/]+\.js$|manifest\.webmanifest$|offline$)")
LAZY_READER = "/static/vendor/barcode-detector-"  # scan.js imports it when the camera runs
PRECACHE_LIST = re.compile(r"const PRECACHE_URLS = (\[.*?\]);")
# The scanner's state, from the sentence it shows: null while it starts and loads its reader.
SCANNER_STATE = """() => {
  const status = document.getElementById('scan-status');
  const messages = document.getElementById('scan-messages')?.content;
  if (!status || !messages) return null;
  for (const message of messages.querySelectorAll('[data-key]')) {
    if (message.textContent === status.textContent) {
      const key = message.dataset.key;
      return key === 'starting' || key === 'loading' ? null : key;
    }
  }
  return null;
}"""
REFERENCE = """() => fetch('/api/v1/reference', {
  headers: { 'X-Dutypwa-Sync': '1' }, cache: 'no-store' }).then((r) => r.json())"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calm", type=float, default=1.2, help="seconds without a request that end a load"
    )
    parser.add_argument("--list", action="store_true", help="list every request of each load")
    parser.add_argument(
        "--bytes", action="store_true", help="the byte accounting instead of Lighthouse"
    )
    parser.add_argument("--runs", type=int, default=5, help="Lighthouse runs per page")
    return parser.parse_args()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", flush=True)


class BrowserBytes:
    """Σ Network.loadingFinished.encodedDataLength over the CDP sessions given (the page's
    and the worker's): what the browser counts as received over the network."""

    def __init__(self):
        self.total = 0

    def listen(self, session) -> None:
        session.send("Network.enable")
        session.on("Network.loadingFinished", self._finished)

    def _finished(self, event) -> None:
        self.total += int(event.get("encodedDataLength") or 0)


class Load:
    """The requests the server answered during one load, sorted into kinds."""

    def __init__(self, name: str, path: str, rows: list[dict], browser_bytes: int):
        self.name = name
        self.rows = rows
        self.browser_bytes = browser_bytes
        self.document = [r for r in rows if r["method"] == "GET" and r["path"] == path]
        self.wasm = [r for r in rows if r["path"].endswith(".wasm")]
        self.static = [r for r in rows if STATIC.match(r["path"]) and r not in self.wasm]
        self.other = [r for r in rows if r not in self.document + self.wasm + self.static]

    @staticmethod
    def raw(rows) -> int:
        return sum(r["wire_out"] for r in rows)

    @staticmethod
    def gzip6(rows) -> int:
        return sum(
            r["wire_out"] - r["response_body_bytes"] + r["response_gzip6_bytes"] for r in rows
        )

    def without_wasm(self) -> list[dict]:
        return [r for r in self.rows if r not in self.wasm]


def measure(server, page, counter: BrowserBytes, name: str, path: str, action, calm) -> Load:
    before = len(server.requests())
    counter.total = 0
    action()
    with contextlib.suppress(PlaywrightError):  # the server log decides below
        page.wait_for_load_state("networkidle", timeout=15_000)
    if path.endswith("/scan"):  # the reader loads once the camera runs
        state = wait_until(lambda: page.evaluate(SCANNER_STATE), timeout=20, what="the scanner")
        if state != "scanning":
            print(f"  note: the scanner says '{state}', not 'scanning'", flush=True)
    server.quiet(calm)
    page.wait_for_timeout(50)  # the last CDP events
    return Load(name, path, server.requests()[before:], counter.total)


def open_profile(playwright, folder: Path, server: Server, **options):
    context = playwright.chromium.launch_persistent_context(
        str(folder),
        executable_path=CHROMIUM,
        args=[*LAUNCH_ARGS, *CAMERA_ARGS],
        headless=True,
        base_url=server.url,
        locale="zh-CN",
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        permissions=["camera"],
        **options,
    )
    context.set_default_timeout(20_000)
    return context, context.pages[0] if context.pages else context.new_page()


def without_worker(playwright, folder: Path, server: Server, pages: list[str], calm) -> dict:
    """First loads with a cold HTTP cache and no worker, then a reload (HTTP cache)."""
    context, page = open_profile(playwright, folder, server, service_workers="block")
    try:
        counter = BrowserBytes()
        cdp = context.new_cdp_session(page)
        counter.listen(cdp)
        log_in(page)
        server.quiet(calm)
        loads = {}
        for path in pages:
            cdp.send("Network.clearBrowserCache")
            first = measure(
                server, page, counter, "first load, cold cache, no worker", path,
                lambda path=path: page.goto(path), calm,
            )  # fmt: skip
            again = measure(
                server, page, counter, "reload, HTTP cache, no worker", path, page.reload, calm
            )
            loads[path] = [first, again]
        return loads
    finally:
        context.close()


def with_worker(playwright, folder: Path, server: Server, token_path: str, calm):
    """A fresh profile: the login page (which installs the worker), logging in (lands on
    the patrol page: its first load), then each page's first load and a reload."""
    context, page = open_profile(playwright, folder, server)
    try:
        counter = BrowserBytes()
        counter.listen(context.new_cdp_session(page))
        login = measure(
            server, page, counter, "login page", "/login", lambda: page.goto("/login"), calm
        )
        page.wait_for_function(CONTROLLED)
        server.quiet(calm)
        with urllib.request.urlopen(f"{server.url}/sw.js", timeout=10) as response:
            worker_source = response.read().decode()
        precached = set(json.loads(PRECACHE_LIST.search(worker_source).group(1)))
        worker = WorkerSession(context, pump=lambda: page.wait_for_timeout(20))
        counter.listen(worker)
        patrol = f"/s/{DEMO_SITE}/patrol"

        def load(name: str, path: str, action) -> Load:
            return measure(server, page, counter, name, path, action, calm)

        def submit():
            page.fill("input[name=username]", DEMO_USER)
            page.fill("input[name=password]", DEMO_PASSWORD)
            page.locator("form:has(input[name=password]) button").click()
            page.wait_for_url(f"**{patrol}")

        loads = {patrol: [load("first load with the worker (after login)", patrol, submit)]}
        loads[patrol].append(load("repeat load (reload), worker", patrol, page.reload))
        for path in (token_path, f"/s/{DEMO_SITE}/scan"):
            loads[path] = [
                load("first load with the worker", path, lambda path=path: page.goto(path)),
                load("repeat load (reload), worker", path, page.reload),
            ]
        worker.detach()
        return login, precached, loads
    finally:
        context.close()


def pair(rows: list[dict]) -> str:
    """Raw / gzip-6 kilobytes of these responses."""
    if not rows:
        return f"{'-':>11}"
    return f"{Load.raw(rows) / 1000:5.1f}/{Load.gzip6(rows) / 1000:<5.1f}"


def print_load(load: Load) -> None:
    static_bodies = sum(r["response_body_bytes"] for r in load.static)
    print(
        f"  {load.name:40} {len(load.rows):4d} {pair(load.document)} {pair(load.static)} "
        f"{pair(load.other)} {pair(load.without_wasm())} {pair(load.wasm)} "
        f"{load.browser_bytes / 1000:7.1f} {len(load.static):6d} {static_bodies / 1000:7.1f}"
    )


def describe(rows: list[dict]) -> str:
    return "; ".join(f"{r['method']} {r['path']} {r['status']} {r['wire_out']:,} B" for r in rows)


def run(args) -> None:
    require_chromium()
    with tempfile.TemporaryDirectory(prefix="dutypwa-weight-") as folder:
        progress("migrating and seeding the demo database, starting the server")
        with Server() as server, sync_playwright() as playwright:
            try:
                if args.bytes:
                    report(args, server, playwright, Path(folder))
                else:
                    results = run_lighthouse(server, playwright, Path(folder), args.runs, progress)
                    lighthouse_report(results)
            except BaseException:
                print(f"--- end of the server's output:\n{server.output_tail()}", flush=True)
                raise


COLUMNS = """\
Columns: requests the server answered during the load; raw/gzip-6 KB (wire bytes: status
line, headers and body) of the document, of static files (/static/, the worker's scripts,
the manifest, /offline), of the rest (API, saved shells, login redirects) and in all
without the wasm; the wasm; the browser's Σ encodedDataLength (page and worker targets);
static requests that reached the server, and their body KB."""


def report(args, server, playwright, folder: Path) -> None:
    calm = args.calm
    progress("a profile without service worker: logging in, reading the demo checkpoints")
    context, page = open_profile(playwright, folder / "probe", server, service_workers="block")
    try:
        log_in(page)
        reference = page.evaluate(REFERENCE)
    finally:
        context.close()
    site = next(site for site in reference["sites"] if site["code"] == DEMO_SITE)
    checkpoint = next(c for c in site["checkpoints"] if c.get("checklist"))
    token_path = f"/c/{checkpoint['token']}"
    pages = [f"/s/{DEMO_SITE}/patrol", token_path, f"/s/{DEMO_SITE}/scan"]

    progress("first loads with a cold cache and no worker")
    cold = without_worker(playwright, folder / "no-worker", server, pages, calm)
    progress("a fresh profile with the worker: login, first and repeat loads")
    login, precached, warm = with_worker(playwright, folder / "worker", server, token_path, calm)

    encodings = {r["content_encoding"] for r in server.requests()} - {None}
    compression = ", ".join(sorted(encodings)) or "none (no Content-Encoding on any response)"
    print(f"\nPage weight, KB = 1000 bytes. Server compression: {compression}.\n{COLUMNS}")
    header = (
        f"  {'load':40} {'reqs':>4} {'document':>11} {'static':>11} {'other':>11} "
        f"{'total':>11} {'wasm':>11} {'browser':>7} {'static':>6} {'st.body':>7}"
    )
    verdicts = []
    for path in pages:
        label = "/c/<token>" if path == token_path else path
        about = f" ({checkpoint['name']}, {len(checkpoint['checklist'])} checklist items)"
        print(f"\n{label}{about if path == token_path else ''}")
        print(header)
        for load in cold[path] + warm[path]:
            print_load(load)
        if args.list:
            for load in cold[path] + warm[path]:
                print(f"    {load.name}:")
                for row in load.rows:
                    print(
                        f"      {row['method']:4} {row['status']} {row['path']:60} "
                        f"{row['wire_out']:>9,} B  gzip-6 body {row['response_gzip6_bytes']:>9,} B"
                    )
        first = cold[path][0]
        heads = sum(r["wire_out"] - r["response_body_bytes"] for r in first.without_wasm())
        print(f"    first load: {heads / 1000:.1f} KB of it are response headers (HTTP/1.1)")
        reader = [r for r in first.rows if r["path"].startswith(LAZY_READER)]
        if reader:
            print(
                f"    first load: the lazily loaded reader's JS is {pair(reader).strip()} KB "
                f"({', '.join(r['path'].rsplit('/', 1)[1] for r in reader)})"
            )
        for load in warm[path]:
            if load.other:
                print(f"    other in '{load.name}': {describe(load.other)}")
        repeat = warm[path][1]
        if repeat.static:
            print(f"    static on repeat: {describe(repeat.static)}")
        verdicts.append((label, first, reader, repeat))

    install = [r for r in login.rows if r["path"] in precached and r["status"] == 200]
    seen, fetched = set(), []
    for row in reversed(install):  # the worker's fetch of each file is the later one
        if row["path"] not in seen:
            seen.add(row["path"])
            fetched.append(row)
    wasm = [r for r in fetched if r["path"].endswith(".wasm")]
    print(
        f"\nlogin page and the worker's install (fresh profile): {len(login.rows)} requests, "
        f"{pair(login.rows).strip()} KB; the precache: {len(fetched)} of {len(precached)} "
        f"files, {pair(fetched).strip()} KB, of which the wasm {pair(wasm).strip()} KB"
    )
    print()
    target = TARGET_FIRST_KB * 1000
    for label, first, reader, repeat in verdicts:
        gzip_total = Load.gzip6(first.without_wasm())
        raw_total = Load.raw(first.without_wasm())
        line = (
            f"{label:15} first load {gzip_total / 1000:5.1f} KB gzip-6 without the wasm: "
            f"{'met' if gzip_total <= target else 'NOT met'} (raw {raw_total / 1000:.1f} KB)"
        )
        if reader:
            lean = Load.gzip6([r for r in first.without_wasm() if r not in reader])
            line += f"; {lean / 1000:.1f} KB without any of the lazy reader"
        static_bodies = sum(r["response_body_bytes"] for r in repeat.static)
        print(
            f"{line}\n{'':15} repeat with the worker: {len(repeat.static)} static requests "
            f"(update check), {static_bodies} static body bytes: "
            f"{'met' if static_bodies == 0 else 'NOT met'}"
        )


def main() -> None:
    args = parse_args()
    run(args)
    progress("done")


if __name__ == "__main__":
    sys.exit(main())
