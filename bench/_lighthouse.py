"""Lighthouse 12.2.3 over the pages a phone uses, logged in and with the service worker
installed (bench/page_weight.py runs it; see its docstring and bench/README.md).

How it logs in and installs the worker: it starts Debian's Chromium itself (headless=new,
the quiet flags of /work/shared/TESTING.md, a fake camera, its own profile folder and
--remote-debugging-port), connects Playwright to it over CDP, logs in through the real
login form in that profile's default context and waits until the worker controls the
page and has saved the offline reference; then Playwright disconnects and Lighthouse
connects to the same port with --disable-storage-reset, so each run opens a tab in that
profile with its cookies, its worker and the worker's caches. Lighthouse's defaults
otherwise: the mobile form factor and simulated throttling (slow 4G, 4× CPU slowdown).

Lighthouse itself is installed by npm, pinned, into a folder under the temporary
directory (never into the repository), once.
"""

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from _server import CHROMIUM, CONTROLLED, DEMO_PASSWORD, LAUNCH_ARGS, free_port, wait_until

LIGHTHOUSE_VERSION = "12.2.3"
LIGHTHOUSE_DIR = Path(tempfile.gettempdir()) / f"dutypwa-lighthouse-{LIGHTHOUSE_VERSION}"
CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
STAFF, SUPERVISOR = "1001", "2001"
SITE = "CUIHU"
HAS_REFERENCE = """async () => {
  const { openDatabase, referenceSites } = await import('/sw/db.js');
  const db = await openDatabase();
  const sites = await referenceSites(db);
  db.close();
  return sites.some((site) => site.checkpoints?.length);
}"""
REFERENCE = """() => fetch('/api/v1/reference', {
  headers: { 'X-Dutypwa-Sync': '1' }, cache: 'no-store' }).then((r) => r.json())"""


def install_lighthouse() -> Path:
    """node_modules/.bin/lighthouse of the pinned version, installed with npm if missing."""
    binary = LIGHTHOUSE_DIR / "node_modules" / ".bin" / "lighthouse"
    installed = LIGHTHOUSE_DIR / "node_modules" / "lighthouse" / "package.json"
    if binary.exists() and json.loads(installed.read_text())["version"] == LIGHTHOUSE_VERSION:
        return binary
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to install Lighthouse (apt-get install -y npm)")
    LIGHTHOUSE_DIR.mkdir(parents=True, exist_ok=True)
    (LIGHTHOUSE_DIR / "package.json").write_text('{"private": true}\n')
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts",
         f"lighthouse@{LIGHTHOUSE_VERSION}"],
        cwd=LIGHTHOUSE_DIR, check=True,
    )  # fmt: skip
    return binary


class DebuggableChromium:
    """Chromium with a profile folder of its own and a DevTools port, for Playwright (to
    log in) and Lighthouse (to measure) in turn."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.process = None

    def __enter__(self) -> "DebuggableChromium":
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", *LAUNCH_ARGS, *CAMERA_ARGS,
             f"--remote-debugging-port={self.port}", f"--user-data-dir={self.folder}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, timeout=30, what="Chromium's DevTools port")
        return self

    def _answers(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/version", timeout=1):
                return True
        except OSError:
            return False

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def log_in_with_worker(playwright, chromium: DebuggableChromium, base_url: str, user: str):
    """Log in through the form in the profile's default context and wait until the worker
    controls the page and the offline reference is saved; returns the reference data."""
    browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{chromium.port}")
    try:
        context = browser.contexts[0]
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{base_url}/login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.locator("form:has(input[name=password]) button").click()
        page.wait_for_url(lambda url: "/login" not in url)
        page.wait_for_function(CONTROLLED, timeout=30_000)
        wait_until(lambda: page.evaluate(HAS_REFERENCE), timeout=30, what="the reference")
        reference = page.evaluate(REFERENCE)
        page.wait_for_timeout(2000)  # the worker's own start-up fetches (shells) settle
        page.close()
        return reference
    finally:
        browser.close()  # disconnects; the browser and its default context stay


def lighthouse_once(binary: Path, port: int, url: str, output: Path) -> dict:
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    done = subprocess.run(
        [str(binary), url, f"--port={port}", "--disable-storage-reset",
         "--only-categories=performance", "--output=json", f"--output-path={output}",
         "--quiet", "--max-wait-for-load=60000"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not output.exists():
        raise RuntimeError(f"lighthouse failed for {url}:\n{done.stdout}\n{done.stderr[-3000:]}")
    report = json.loads(output.read_text())
    audits = report["audits"]
    if report.get("runtimeError"):
        raise RuntimeError(f"lighthouse: {report['runtimeError']}")
    requests = audits["network-requests"]["details"]["items"]
    shifts = audits.get("layout-shifts", {}).get("details", {}).get("items", [])
    return {
        "score": round(report["categories"]["performance"]["score"] * 100),
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        # What crossed the network as the page saw it: what the worker answered from its
        # caches counts 0 here (its own fetches are not the page's).
        "kb": audits["total-byte-weight"]["numericValue"] / 1000,
        "resource_kb": sum(item.get("resourceSize") or 0 for item in requests) / 1000,
        "requests": len(requests),
        "worst_shift": max(shifts, key=lambda item: item.get("score", 0), default={})
        .get("node", {})
        .get("selector"),
        "lcp_ms": audits["largest-contentful-paint"]["numericValue"],
        "tbt_ms": audits["total-blocking-time"]["numericValue"],
        "final_url": report.get("finalDisplayedUrl") or report.get("finalUrl"),
    }


def pages(reference: dict) -> dict[str, tuple[str, str]]:
    """Name: (who, path) for every page a phone uses."""
    site = next(site for site in reference["sites"] if site["code"] == SITE)
    checkpoint = next(c for c in site["checkpoints"] if c.get("checklist"))
    month = datetime.now(ZoneInfo(site.get("timezone") or "Asia/Shanghai")).strftime("%Y-%m")
    return {
        "patrol": (STAFF, f"/s/{SITE}/patrol"),
        "checkpoint": (STAFF, f"/c/{checkpoint['token']}"),
        "scan": (STAFF, f"/s/{SITE}/scan"),
        "problems": (STAFF, f"/s/{SITE}/findings"),
        "coverage": (SUPERVISOR, f"/s/{SITE}/coverage"),
        "roster": (SUPERVISOR, f"/s/{SITE}/roster/{month}"),
        "day": (SUPERVISOR, f"/s/{SITE}/day"),
    }


def run_lighthouse(server, playwright, folder: Path, runs: int, progress) -> dict:
    """{page: [run results]} with `runs` Lighthouse runs per page, staff pages in the
    staff member's profile, supervisor pages in the supervisor's."""
    binary = install_lighthouse()
    progress(f"Lighthouse {LIGHTHOUSE_VERSION}: {binary}")
    results: dict[str, list[dict]] = {}
    for user in (STAFF, SUPERVISOR):
        with DebuggableChromium(folder / f"profile-{user}") as chromium:
            reference = log_in_with_worker(playwright, chromium, server.url, user)
            mine = {name: path for name, (who, path) in pages(reference).items() if who == user}
            progress(f"logged in as {user}, worker installed; pages: {', '.join(mine)}")
            for name, path in mine.items():
                results[name] = []
                for number in range(runs):
                    load = os.getloadavg()[0]
                    started = time.perf_counter()
                    result = lighthouse_once(
                        binary, chromium.port, server.url + path, folder / f"{name}-{number}.json"
                    )
                    result["load"] = load
                    results[name].append(result)
                    progress(
                        f"  {name} run {number + 1}: score {result['score']}, CLS "
                        f"{result['cls']:.3f}, {result['kb']:.1f} KB "
                        f"({time.perf_counter() - started:.0f} s, load average {load:.1f})"
                    )
    return results


def report(results: dict, paths: dict | None = None) -> None:
    print(
        f"\nLighthouse {LIGHTHOUSE_VERSION}, mobile (simulated throttling), logged in, "
        "service worker installed; medians of each page's runs"
    )
    print(
        f"  {'page':11} {'runs':>4} {'score':>5} {'(range)':>9} {'CLS':>6} {'sent KB':>7} "
        f"{'all KB':>7} {'reqs':>4} {'LCP ms':>7} {'TBT ms':>7}  biggest shift"
    )
    for name, runs in results.items():
        scores = [run["score"] for run in runs]
        shifted = {run["worst_shift"] for run in runs if run["worst_shift"]}
        print(
            f"  {name:11} {len(runs):4d} {statistics.median(scores):5.0f} "
            f"{f'{min(scores)}–{max(scores)}':>9} "
            f"{statistics.median(run['cls'] for run in runs):6.3f} "
            f"{statistics.median(run['kb'] for run in runs):7.1f} "
            f"{statistics.median(run['resource_kb'] for run in runs):7.1f} "
            f"{statistics.median(run['requests'] for run in runs):4.0f} "
            f"{statistics.median(run['lcp_ms'] for run in runs):7.0f} "
            f"{statistics.median(run['tbt_ms'] for run in runs):7.0f}  {', '.join(shifted) or '-'}"
        )
    print(
        "  sent KB: total-byte-weight, the bytes the page's requests transferred (what the\n"
        "  worker answered from its caches counts 0); all KB: their decoded size, wherever\n"
        "  they came from; biggest shift: the element of each run's largest layout shift\n"
        "  ('-' also when Lighthouse 12.2.3's layout-shifts audit fails on this Chromium's\n"
        "  trace: 'Cannot read properties of undefined (reading 'frame_sequence')')."
    )
    loads = [run["load"] for runs in results.values() for run in runs]
    print(
        f"  targets: score ≥ 95 and CLS < 0.1 per page. Load average during the runs "
        f"{min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} CPUs (Lighthouse's simulated "
        "throttling models the phone, but a busy machine still lowers scores)."
    )
