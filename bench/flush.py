"""Flush over a slow link: the outbox of a phone that worked offline, sent when the
network comes back over 1.6 Mbps down/up with a 150 ms round trip (Chromium's network
emulation), 200 check-ins and 30 photos. Prints the flush time, the bytes sent and
received, the bandwidth floor (bytes sent ÷ link rate), their ratio, and when the last
check-in was acknowledged against when the first photo upload started. Target: ratio
≤ 1.3, and check-ins not held back behind photos. Prints figures; asserts no timing.

    .venv/bin/python bench/flush.py [--checkins 200] [--photos 30] [--rtt-ms 150]

Runs the demo app (bench/_server.py) on loopback and Debian's Chromium with a fresh
persistent profile; logs in as 1001 and queues everything through the app's own write
path while offline (the forms' POSTs, answered 202 by the service worker; photos shrunk
by the app's photos.js), then throttles and brings back the network and asks the worker
to flush ("sync now"). While the photos upload it makes one more check-in, online, to see
whether that one waits behind them. See bench/README.md for what is counted.
"""

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _server import (
    CHROMIUM,
    CONTROLLED,
    DEMO_SITE,
    LAUNCH_ARGS,
    PHONE,
    Server,
    WorkerSession,
    log_in,
    network_conditions,
    require_chromium,
    wait_until,
)
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from playwright.sync_api import sync_playwright
from sqlalchemy import create_engine, func, select

from dutypwa.models import CheckIn, Finding, Photo

STARTED = time.perf_counter()
SYNC_PATH = "/api/v1/sync"
PHOTO_PATH = "/api/v1/photos/"
TARGET_RATIO = 1.3

HAS_REFERENCE = """async () => {
  const { openDatabase, referenceSites } = await import('/sw/db.js');
  const db = await openDatabase();
  const sites = await referenceSites(db);
  db.close();
  return sites.some((site) => site.checkpoints?.length);
}"""
# Records in the outbox (all of this device's; only 1001 uses it): a count, no blobs read.
OUTBOX_SIZE = """async () => {
  const { openDatabase } = await import('/sw/db.js');
  const db = await openDatabase();
  const count = await new Promise((resolve, reject) => {
    const request = db.transaction('outbox').objectStore('outbox').count();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  db.close();
  return count;
}"""
OUTBOX_KEYS = """async () => {
  const { openDatabase } = await import('/sw/db.js');
  const db = await openDatabase();
  const keys = await new Promise((resolve, reject) => {
    const request = db.transaction('outbox').objectStore('outbox').getAllKeys();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  db.close();
  return keys;
}"""
OUTBOX_STATES = """async () => {
  const { openDatabase } = await import('/sw/db.js');
  const db = await openDatabase();
  const records = await new Promise((resolve, reject) => {
    const request = db.transaction('outbox').objectStore('outbox').getAll();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  db.close();
  const states = {};
  for (const record of records) states[record.state] = (states[record.state] ?? 0) + 1;
  return { states, errors: [...new Set(records.map((record) => record.last_error))] };
}"""
# The app's own shrinking (static/photos.js, ARCHITECTURE §8) of each camera photo.
SHRINK = """async () => {
  const { shrink } = await import('/static/photos.js');
  const input = document.getElementById('bench-sources');
  window.benchPhotos = [];
  for (const file of input.files) window.benchPhotos.push(await shrink(file));
  return window.benchPhotos.map((photo) => ({ id: photo.id, size: photo.file.size }));
}"""
# What the check-in and finding forms post (docs/offline.md, "One write path"), sent the
# way htmx sends them: the service worker queues each and answers 202.
QUEUE = """async ({ plan, queuedText }) => {
  const answers = [];
  for (const item of plan) {
    const form = new FormData();
    const id = crypto.randomUUID();
    form.set('op_id', id);
    form.set('device_time', new Date().toISOString());
    form.set('_queued', queuedText);
    for (const [name, value] of Object.entries(item.fields)) form.set(name, value);
    for (const index of item.photos ?? []) {
      const photo = window.benchPhotos[index];
      form.append('photos', photo.file);
      form.append('photo_sha256', photo.sha256);
    }
    const response = await fetch(item.url, {
      method: 'POST', body: form, headers: { 'HX-Request': 'true' },
    });
    answers.push({ id, kind: item.kind, status: response.status });
  }
  return answers;
}"""
# A PUT of `size` bytes made by the worker itself (the server reads it and refuses the
# checksum, 422): how long it takes says whether the worker's traffic is throttled.
PROBE = """(async () => {
  const started = performance.now();
  const response = await fetch('/api/v1/photos/' + crypto.randomUUID(), {
    method: 'PUT', cache: 'no-store', body: new Uint8Array(%d),
    headers: { 'X-Dutypwa-Sync': '1', 'Content-Type': 'image/jpeg',
               'X-Content-SHA256': '0'.repeat(64), 'X-Dutypwa-Site': '%s' },
  });
  await response.text();
  return [response.status, (performance.now() - started) / 1000];
})()"""
OFFLINE_FETCH = (
    "fetch('/login', { cache: 'no-store' }).then((r) => 'answered ' + r.status, () => 'failed')"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkins", type=int, default=200)
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--photos-per-finding", type=int, default=3, help="at most 6")
    parser.add_argument("--mbps", type=float, default=1.6, help="link rate, each direction")
    parser.add_argument("--rtt-ms", type=float, default=150.0)
    parser.add_argument("--time-limit", type=float, default=150.0, help="seconds for the flush")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-late-checkin",
        dest="late_checkin",
        action="store_false",
        help="do not make one more check-in while the photos upload",
    )
    args = parser.parse_args()
    if not 1 <= args.photos_per_finding <= 6:
        parser.error("--photos-per-finding must be 1 to 6 (the form takes at most 6)")
    if args.checkins < 1 or args.photos < 0:
        parser.error("--checkins must be at least 1 and --photos at least 0")
    return args


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", flush=True)


def camera_photo(seed: int, width: int = 2400, height: int = 1800) -> bytes:
    """A camera-like JPEG: colour fields, shapes, slight blur and sensor grain, so that the
    app's 1600 px / quality 0.8 re-encoding comes out at a phone photo's size (~150–300 KB;
    a flat test image would shrink to a few KB and flatter the link)."""
    rnd = random.Random(seed)
    channels = []
    for _ in range(3):
        broad = Image.effect_noise((width // 64, height // 64), 60).resize(
            (width, height), Image.Resampling.BICUBIC
        )
        medium = Image.effect_noise((width // 8, height // 8), 40).resize(
            (width, height), Image.Resampling.BICUBIC
        )
        channels.append(ImageChops.add(broad, medium, scale=2.0))
    image = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rnd.randrange(width), rnd.randrange(height)
        box = (x, y, x + rnd.randrange(50, 600), y + rnd.randrange(20, 400))
        draw.rectangle(box, fill=tuple(rnd.randrange(256) for _ in range(3)))
    image = image.filter(ImageFilter.GaussianBlur(2))
    grain = Image.effect_noise((width, height), rnd.uniform(2.0, 4.5)).convert("RGB")
    image = ImageChops.add(image, grain, offset=-128)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def queue_plan(reference: dict, args) -> list[dict]:
    """The check-ins (every demo checkpoint in turn, checklists all answered OK) with a
    finding at a checkpoint after every few of them, so that photos are queued before
    later check-ins, as on a patrol."""
    site = next(site for site in reference["sites"] if site["code"] == DEMO_SITE)
    checkpoints = site["checkpoints"]
    category = reference["categories"][0]["key"]
    findings = -(-args.photos // args.photos_per_finding) if args.photos else 0
    every = max(1, args.checkins // max(findings, 1))
    plan = []
    photo = 0
    for n in range(args.checkins):
        if findings and n % every == every // 2 and photo < args.photos:
            where = checkpoints[n % len(checkpoints)]
            count = min(args.photos_per_finding, args.photos - photo)
            plan.append(
                {
                    "kind": "finding",
                    "url": f"/s/{DEMO_SITE}/findings",
                    "fields": {
                        "site": DEMO_SITE,
                        "checkpoint_token": where["token"],
                        "category": category,
                        "severity": "normal",
                        "description": f"压测问题 {len(plan)}：地面有积水，需要清理",
                    },
                    "photos": list(range(photo, photo + count)),
                }
            )
            photo += count
        where = checkpoints[n % len(checkpoints)]
        fields = {f"item-{i}": "ok" for i, _ in enumerate(where.get("checklist") or [])}
        fields["note"] = "正常" if n % 4 == 0 else ""
        plan.append({"kind": "checkin", "url": f"/c/{where['token']}", "fields": fields})
    while photo < args.photos:  # fewer check-ins than findings: the rest at the end
        count = min(args.photos_per_finding, args.photos - photo)
        plan.append(
            {
                "kind": "finding",
                "url": f"/s/{DEMO_SITE}/findings",
                "fields": {"site": DEMO_SITE, "category": category, "severity": "normal"}
                | {"description": "压测问题"},
                "photos": list(range(photo, photo + count)),
            }
        )
        photo += count
    return plan


class WorkerNetwork:
    """The worker's requests as its CDP target reports them (Network domain), with wall
    clock times (requestWillBeSent's wallTime maps the monotonic timestamps)."""

    def __init__(self, worker: WorkerSession):
        self.requests: dict = {}
        self.clock = None  # wall time − monotonic timestamp
        worker.on("Network.requestWillBeSent", self._sent)
        worker.on("Network.responseReceived", self._answered)
        worker.on("Network.loadingFinished", self._finished)
        worker.on("Network.loadingFailed", self._failed)

    def _sent(self, event):
        if self.clock is None and event.get("wallTime"):
            self.clock = event["wallTime"] - event["timestamp"]
        request = event["request"]
        self.requests[event["requestId"]] = {
            "method": request["method"],
            "url": request["url"],
            "sent": event["timestamp"],
            "status": None,
            "done": None,
            "encoded": 0,
            "failed": None,
        }

    def _answered(self, event):
        if event["requestId"] in self.requests:
            self.requests[event["requestId"]]["status"] = event["response"]["status"]

    def _finished(self, event):
        if event["requestId"] in self.requests:
            entry = self.requests[event["requestId"]]
            entry["done"] = event["timestamp"]
            entry["encoded"] = event["encodedDataLength"]

    def _failed(self, event):
        if event["requestId"] in self.requests:
            entry = self.requests[event["requestId"]]
            entry["done"] = event["timestamp"]
            entry["failed"] = event.get("errorText")

    def since(self, wall: float) -> list[dict]:
        if self.clock is None:
            return []
        rows = [
            {**entry, "sent": entry["sent"] + self.clock, "done": (entry["done"] or 0) + self.clock}
            for entry in self.requests.values()
        ]
        return sorted((row for row in rows if row["sent"] >= wall), key=lambda row: row["sent"])


def run(args) -> None:
    require_chromium()
    slow = network_conditions(rtt_ms=args.rtt_ms, down_bps=args.mbps * 1e6, up_bps=args.mbps * 1e6)
    offline = network_conditions(offline=True)
    unthrottled = network_conditions()
    rate = args.mbps * 1e6 / 8  # bytes per second

    progress(f"making {args.photos} camera photos")
    with tempfile.TemporaryDirectory(prefix="dutypwa-flush-") as folder:
        sources = []
        for n in range(args.photos):
            path = Path(folder) / f"IMG_{n:04d}.jpg"
            path.write_bytes(camera_photo(args.seed * 1000 + n))
            sources.append(str(path))

        progress("migrating and seeding the demo database, starting the server")
        with Server() as server, sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(Path(folder) / "profile"),
                executable_path=CHROMIUM,
                args=LAUNCH_ARGS,
                headless=True,
                base_url=server.url,
                locale="zh-CN",
                viewport=PHONE,
                is_mobile=True,
                has_touch=True,
            )
            try:
                measure(args, server, context, sources, slow, offline, unthrottled, rate)
            except BaseException:
                print(f"--- end of the server's output:\n{server.output_tail()}", flush=True)
                raise
            finally:
                context.close()


def measure(args, server, context, sources, slow, offline, unthrottled, rate) -> None:
    context.set_default_timeout(30_000)
    page = context.pages[0] if context.pages else context.new_page()
    progress("logging in as 1001; waiting for the worker and the reference data")
    log_in(page)
    page.wait_for_function(CONTROLLED)
    wait_until(lambda: page.evaluate(HAS_REFERENCE), timeout=20, what="the reference data")
    server.quiet()
    reference = page.evaluate(
        """() => fetch('/api/v1/reference', { headers: { 'X-Dutypwa-Sync': '1' },
                                              cache: 'no-store' }).then((r) => r.json())"""
    )
    queued_text = page.locator("#pwa").get_attribute("data-queued")

    worker = WorkerSession(context, pump=lambda: page.wait_for_timeout(20))
    worker.send("Network.enable")
    network = WorkerNetwork(worker)
    page_cdp = context.new_cdp_session(page)
    page_cdp.send("Network.enable")

    # Does the page's emulation throttle the worker's own fetches? Measured and printed.
    probe_size = 200_000
    page_cdp.send("Network.emulateNetworkConditions", slow)
    _, page_only = worker.evaluate(PROBE % (probe_size, DEMO_SITE))
    worker.send("Network.emulateNetworkConditions", slow)
    _, on_worker = worker.evaluate(PROBE % (probe_size, DEMO_SITE))
    expected = probe_size / rate + args.rtt_ms / 1000
    for session in (page_cdp, worker):
        session.send("Network.emulateNetworkConditions", unthrottled)

    progress(f"shrinking {len(sources)} photos with the app's photos.js")
    page.evaluate(
        """() => document.body.insertAdjacentHTML('beforeend',
             '<input type="file" id="bench-sources" multiple hidden>')"""
    )
    if sources:
        page.set_input_files("#bench-sources", sources)
    photos = page.evaluate(SHRINK)
    plan = queue_plan(reference, args)

    # Offline for the page and for the worker (its fetches would go out otherwise).
    worker.send("Network.emulateNetworkConditions", offline)
    page_cdp.send("Network.emulateNetworkConditions", offline)
    offline_check = worker.evaluate(OFFLINE_FETCH)
    if offline_check != "failed" or page.evaluate("navigator.onLine"):
        raise RuntimeError(f"not offline: worker fetch {offline_check}")

    progress(
        f"offline: queueing {sum(i['kind'] == 'checkin' for i in plan)} check-ins and "
        f"{sum(i['kind'] == 'finding' for i in plan)} findings with {len(photos)} photos"
    )
    began = time.perf_counter()
    answers = page.evaluate(QUEUE, {"plan": plan, "queuedText": queued_text})
    queue_seconds = time.perf_counter() - began
    statuses = {answer["status"] for answer in answers}
    if statuses != {202}:
        raise RuntimeError(f"the worker did not queue every form: statuses {statuses}")
    size = page.evaluate(OUTBOX_SIZE)
    if size != len(plan):
        raise RuntimeError(f"{size} records in the outbox, expected {len(plan)}")
    page.wait_for_timeout(1500)  # the worker's last (failing) flush attempt ends
    before = len(server.requests())

    progress(f"queued in {queue_seconds:.1f} s; back online at {args.mbps} Mbps, flushing")
    t0 = time.time()
    # The worker first: online, the page's `online` event asks it to flush at once.
    worker.send("Network.emulateNetworkConditions", slow)
    page_cdp.send("Network.emulateNetworkConditions", slow)
    page.evaluate("navigator.serviceWorker.controller.postMessage({ type: 'flush' })")
    deadline = time.monotonic() + args.time_limit
    queued = {answer["id"] for answer in answers}
    late_item = next(item for item in reversed(plan) if item["kind"] == "checkin")

    emptied = late = None
    while time.monotonic() < deadline:
        if not queued & set(page.evaluate(OUTBOX_KEYS)):
            emptied = time.time()
            break
        uploads = [r["sent"] for r in network.since(t0) if r["method"] == "PUT"]
        if args.late_checkin and late is None and uploads and time.time() > uploads[0] + 2:
            # A check-in made on the spot while the photos upload (online now).
            [answer] = page.evaluate(QUEUE, {"plan": [late_item], "queuedText": queued_text})
            late = {**answer, "queued_at": time.time()}
        page.wait_for_timeout(100)
    if emptied is None:
        states = page.evaluate(OUTBOX_STATES)
        raise RuntimeError(f"the outbox was not empty after {args.time_limit:.0f} s: {states}")
    # What follows the last photo: the backlog report, the late check-in's own flush.
    wait_until(lambda: not page.evaluate(OUTBOX_KEYS), timeout=30, what="the late check-in")
    server.quiet(seconds=0.6)
    for session in (page_cdp, worker):
        session.send("Network.emulateNetworkConditions", unthrottled)
    report(args, server, network, answers, photos, t0, emptied, before, rate, late)
    print(
        f"\nworker throttling check (a {probe_size // 1000} KB PUT made by the worker): "
        f"{page_only:.2f} s with only the page's emulation, {on_worker:.2f} s with the "
        f"worker target's own (expected ≈ {expected:.2f} s): "
        + (
            "the page's emulation does not reach the worker, so it is set on both."
            if page_only < expected / 2
            else "the page's emulation reaches the worker too."
        )
    )
    check_server(server, answers + ([late] if late else []), photos)
    worker.detach()


def report(args, server, network, answers, photos, t0, emptied, before, rate, late) -> None:
    logged = server.requests()[before:]
    # The flush: what went out between going back online and the outbox being empty.
    rows = [row for row in logged if t0 <= row["started_at"] <= emptied]
    syncs = [row for row in rows if row["method"] == "POST" and row["path"] == SYNC_PATH]
    puts = [row for row in rows if row["method"] == "PUT" and row["path"].startswith(PHOTO_PATH)]
    others = [row for row in rows if row not in syncs and row not in puts]
    up = sum(row["wire_in"] for row in rows)
    down = sum(row["wire_out"] for row in rows)
    bodies_up = sum(row["body_bytes"] for row in rows)
    floor = up / rate
    flush_seconds = emptied - t0
    ratio = flush_seconds / floor

    worker_rows = [r for r in network.since(t0) if r["sent"] <= emptied]
    worker_syncs = [r for r in worker_rows if r["method"] == "POST" and SYNC_PATH in r["url"]]
    worker_puts = [r for r in worker_rows if r["method"] == "PUT" and PHOTO_PATH in r["url"]]
    first_put = min((row["started_at"] for row in puts), default=emptied)
    # The batches of the check-ins queued before the flush: those sent before any photo
    # (the check-in made during the uploads goes in a batch of its own, between photos).
    with_checkins = [
        i
        for i, row in enumerate(syncs)
        if row.get("ops", {}).get("checkin")
        and (i == 0 or row["started_at"] < min((r["started_at"] for r in puts), default=emptied))
    ]
    last_batch = with_checkins[-1]
    last_checkin_server = syncs[last_batch]["finished_at"] - t0
    same_order = len(worker_syncs) == len(syncs)
    last_checkin_worker = worker_syncs[last_batch]["done"] - t0 if same_order else float("nan")
    first_put_worker = worker_puts[0]["sent"] - t0 if worker_puts else float("nan")
    photo_bytes = [photo["size"] for photo in photos]
    put_seconds = [r["done"] - r["sent"] for r in worker_puts if r["done"]]
    ops_sent = sum(sum(row.get("ops", {}).values()) for row in syncs)

    print()
    print(
        f"Flush over {args.mbps} Mbps down/up, {args.rtt_ms:.0f} ms round trip "
        "(Chromium network emulation, set on the page's and on the worker's target)"
    )
    print(
        f"queued offline: {sum(a['kind'] == 'checkin' for a in answers)} check-ins, "
        f"{sum(a['kind'] == 'finding' for a in answers)} findings with {len(photos)} photos"
        + (
            f" (the app's shrunk JPEGs: median {statistics.median(photo_bytes) / 1000:.0f} KB, "
            f"{min(photo_bytes) / 1000:.0f}–{max(photo_bytes) / 1000:.0f} KB, "
            f"{sum(photo_bytes) / 1e6:.2f} MB in all)"
            if photos
            else ""
        )
    )
    print(
        f"flush requests: {len(syncs)} POST {SYNC_PATH} ({ops_sent} ops), {len(puts)} PUT "
        f"photos, {len(others)} other ({', '.join(sorted({r['path'] for r in others})) or '-'})"
    )
    print()
    width = 46
    print(f"{'flush time (back online → outbox empty)':{width}} {flush_seconds:9.2f} s")
    print(f"{'bytes up (request lines + headers + bodies)':{width}} {up:>11,} B")
    print(f"{'  of which bodies':{width}} {bodies_up:>11,} B")
    print(f"{'bytes down (status lines + headers + bodies)':{width}} {down:>11,} B")
    browser_down = sum(r["encoded"] for r in worker_rows)
    print(f"{'  worker target encodedDataLength (CDP)':{width}} {browser_down:>11,} B")
    print(f"{'bandwidth floor (bytes up ÷ link rate)':{width}} {floor:9.2f} s")
    print(f"{'  bytes down ÷ link rate':{width}} {down / rate:9.2f} s")
    print(f"{'ratio flush time / floor':{width}} {ratio:9.2f}   (target ≤ {TARGET_RATIO})")
    round_trips = len(rows) * args.rtt_ms / 1000
    print(
        f"{'round trips (requests × RTT)':{width}} {round_trips:9.2f} s   "
        f"({len(rows)} × {args.rtt_ms:.0f} ms; floor + round trips = "
        f"{floor + round_trips:.2f} s, ratio {(floor + round_trips) / floor:.2f})"
    )
    if put_seconds:
        ideal = statistics.median(photo_bytes) / rate + args.rtt_ms / 1000
        print(
            f"{'photo PUT, median (worker: sent → finished)':{width}} "
            f"{statistics.median(put_seconds):9.2f} s   (median photo ÷ rate + RTT = {ideal:.2f} s)"
        )
    print()
    print("timeline, seconds after going back online (worker: its CDP events; server: its log)")
    first_request = min(r["started_at"] for r in rows) - t0
    last_photo = max((r["finished_at"] for r in puts), default=t0) - t0
    print(f"  first request reaches the server                      {first_request:7.2f}")
    print(
        f"  last queued check-in acknowledged   worker {last_checkin_worker:7.2f}   "
        f"server answered {last_checkin_server:7.2f}"
    )
    print(
        f"  first photo upload started          worker {first_put_worker:7.2f}   "
        f"server got headers {first_put - t0:7.2f}"
    )
    print(f"  last photo stored (server)                            {last_photo:7.2f}")
    print(f"  outbox empty                                          {flush_seconds:7.2f}")
    late_verdict = ""
    if late:
        answered = [
            row
            for row in logged
            if row["path"] == SYNC_PATH
            and row["started_at"] >= late["queued_at"]
            and row.get("ops", {}).get("checkin")
        ]
        if answered:
            acked = answered[0]["finished_at"]
            behind = [r for r in puts if late["queued_at"] < r["started_at"] < acked]
            print(
                f"  a check-in made during the uploads  queued {late['queued_at'] - t0:7.2f}   "
                f"server answered {acked - t0:7.2f}"
            )
            late_verdict = (
                f"A check-in made {late['queued_at'] - first_put:.1f} s into the photo uploads "
                f"was answered {acked - late['queued_at']:.1f} s later, after {len(behind)} more "
                f"photo uploads: held back behind photos: {'YES' if behind else 'no'}"
            )
    print()
    held = last_checkin_server > first_put - t0
    print(
        f"ratio ≤ {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'} ({ratio:.2f}). "
        f"Check-ins queued before the flush held back behind photos: {'YES' if held else 'no'} "
        f"(the last of {len(with_checkins)} batches with check-ins answered "
        f"{first_put - t0 - last_checkin_server:.2f} s before the first photo upload)"
    )
    if late_verdict:
        print(late_verdict)
    statuses: dict = {}
    for row in rows:
        statuses[f"{row['method']} {row['status']}"] = (
            statuses.get(f"{row['method']} {row['status']}", 0) + 1
        )
    print(f"answers during the flush: {json.dumps(statuses)}")


def check_server(server, answers, photos) -> None:
    """Not a timing: everything queued is stored exactly once."""
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            checkins = [a["id"] for a in answers if a["kind"] == "checkin"]
            findings = [a["id"] for a in answers if a["kind"] == "finding"]
            stored = (
                connection.scalar(select(func.count()).where(CheckIn.id.in_(checkins))),
                connection.scalar(select(func.count()).where(Finding.id.in_(findings))),
                connection.scalar(
                    select(func.count()).where(Photo.id.in_([p["id"] for p in photos]))
                ),
            )
    finally:
        engine.dispose()
    expected = (len(checkins), len(findings), len(photos))
    print(f"stored on the server: {stored[0]} check-ins, {stored[1]} findings, {stored[2]} photos")
    if stored != expected:
        raise SystemExit(f"expected {expected} stored, found {stored}")


def main() -> None:
    args = parse_args()
    run(args)
    progress("done")


if __name__ == "__main__":
    sys.exit(main())
