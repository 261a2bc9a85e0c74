"""The issue's "done when" scenario and the fault tests that were missing, in a real Chromium
at phone size with a persistent profile (docs/offline.md):

- a newcomer patrols without network: scans a label with the phone's camera, checks in,
  reports a problem with a large phone photo; the supervisor sees the phone holding unsent
  work; the browser is closed and reopened, and everything arrives exactly once, the photo
  upright and without EXIF, with no tap on "send now";
- without Background Sync (Safari, Firefox) the `online` event, the page becoming visible
  and the page's timer each send the outbox by themselves;
- the same sync request delivered twice stores one row and answers `duplicate`.
"""

import io
import json
import time
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import func, select

from dutypwa.models import CheckIn, Device, Finding, FindingPhoto, Photo
from tests.e2e.conftest import (
    OUTBOX,
    phone_photo,
    start_app,
    user_id,
    wait_for_script,
    wait_until,
    write_y4m,
)

pytestmark = pytest.mark.e2e

SITE = "CUIHU"
SCAN = f"/s/{SITE}/scan"
PATROL = f"/s/{SITE}/patrol"
COVERAGE = f"/s/{SITE}/coverage"
SUBMIT = "#checkin-form button[type=submit]"
CAMERA_TIMEOUT_MS = 15_000  # the camera, the wasm compile and the first decodes
POLL_TIMEOUT_MS = 8_000  # the e2e server's coverage page polls every 2 s
SYNC_TIMEOUT_S = 15

# Every page's pages-cache entry for the person (the worker saves them as they are visited).
PAGES_SAVED = """async ([userId, paths]) => {
  const cache = await caches.open(`dutypwa-pages-${userId}`);
  for (const path of paths) {
    if (!(await cache.match(new URL(path, location.origin).href))) return false;
  }
  return true;
}"""
# The app writes its storage marker on the first page after login (static/offline.js); a
# page opened before that says the browser deleted the app's data. A person does not open
# the next page within milliseconds of logging in: wait for it, as they would.
MARKER_WRITTEN = """async () => {
  const { openDatabase, getMeta } = await import('/sw/db.js');
  const db = await openDatabase();
  const marker = await getMeta(db, 'marker');
  db.close();
  return Boolean(marker);
}"""
MARK_NOT_RELOADED = "() => { window.e2eNotReloaded = true; }"
NOT_RELOADED = "() => window.e2eNotReloaded === true"


def count(server_db, model, *conditions) -> int:
    return server_db.scalar(select(func.count()).select_from(model).where(*conditions))


def answer_all_ok(page) -> None:
    for radio in page.locator("#checkin-form input[type=radio][value=ok]").all():
        radio.check()


def tap_and_wait(page, button: str, path: str, expected_status: int):
    """Tap a form's button and wait for the answer to its POST to `path`."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and urlsplit(r.url).path == path
    ) as answered:
        page.locator(button).tap()
    assert answered.value.status == expected_status, answered.value.text()
    return answered.value


def stored_photo_file(live_server, photo: Photo):
    """The photo as the server keeps it on disk (photos.photo_path)."""
    path = live_server.photo_dir / str(photo.site_id) / f"{photo.id}.jpg"
    return Image.open(io.BytesIO(path.read_bytes()), formats=["JPEG"])


def test_done_when_offline_patrol_syncs_exactly_once(
    app_profile, login_as, desktop, server_db, live_server, tmp_path, shot
):
    """The acceptance scenario, end to end, with no tap on "send now" anywhere."""
    checkpoint = server_db.checkpoint("018")  # 生活水泵: a checklist, used by no other test
    assert checkpoint.checklist
    staff = server_db.user("1001")
    note = f"水泵房巡查 {checkpoint.token[:6]}"
    description = f"水泵房地面积水，疑似管道渗漏 {checkpoint.token[:6]}"
    new_finding = f"/s/{SITE}/findings/new?checkpoint={checkpoint.token}"
    # The phone's camera looks at a wall until the patrol reaches the label.
    camera = write_y4m(tmp_path / "camera.y4m", None)
    picture = tmp_path / "IMG_20250601_093000.jpg"
    picture.write_bytes(phone_photo())  # 4000×3000, EXIF orientation 6 and GPS

    # The supervisor's coverage page is open all along; it is never reloaded.
    supervisor = desktop()
    login_as(supervisor, "2001")
    wait_for_script(supervisor, MARKER_WRITTEN, what="the app started after login")
    supervisor.goto(COVERAGE)
    supervisor.evaluate(MARK_NOT_RELOADED)
    pending_phones = supervisor.locator("#devices-pending")
    row = supervisor.locator(f"#cp-{checkpoint.id}")
    expect(pending_phones).to_have_count(0)
    expect(row).to_be_visible()

    # Online, once: log in, let the reference data load, open the pages the patrol needs.
    phone = start_app(app_profile, login_as, "1001", camera=camera)
    me = user_id(phone)
    assert me == str(staff.id)
    phone.goto(PATROL)
    phone.goto(new_finding)
    phone.goto(SCAN)
    expect(phone.locator("#scan-video")).to_be_visible(timeout=CAMERA_TIMEOUT_MS)
    wait_for_script(phone, PAGES_SAVED, [me, [PATROL, new_finding, SCAN]], what="saved pages")
    assert urlsplit(phone.url).path == SCAN, "the camera saw no label yet"

    # The pump room: no network. The patrol page opens from the phone, then the scanner.
    phone.context.set_offline(True)
    write_y4m(camera, f"{live_server.url}/c/{checkpoint.token}")  # the camera sees the label
    assert phone.goto(PATROL).from_service_worker
    phone.locator(".scan-cta a").tap()
    phone.wait_for_url(f"**/c/{checkpoint.token}", timeout=CAMERA_TIMEOUT_MS)
    assert phone.evaluate("navigator.onLine") is False
    # Never opened on this phone: drawn from the reference data by the checkpoint shell.
    expect(phone.locator("[data-offline-shell] [data-slot=name]")).to_have_text(checkpoint.name)
    items = phone.locator("#checkin-form .check-item:not(.recheck-item)")
    expect(items).to_have_count(len(checkpoint.checklist))
    checkin_id = phone.locator("#checkin-form input[name=op_id]").input_value()
    answer_all_ok(phone)
    phone.fill("#checkin-form textarea[name=note]", note)
    tap_and_wait(phone, SUBMIT, f"/c/{checkpoint.token}", 202)
    done = phone.locator("#checkin-done.queued")
    expect(done).to_have_attribute("data-op-id", checkin_id)
    expect(done.locator(".queued-text")).not_to_be_empty()
    expect(phone.locator("#outbox-badge .outbox-count")).to_have_text("1")
    shot(phone, "done-when-1-phone-offline-checkin-saved")

    # A problem at the same checkpoint, with a photo straight from the phone's camera.
    assert phone.goto(new_finding).from_service_worker
    form = phone.locator("#finding-form")
    expect(form.locator("input[name=checkpoint_token]")).to_have_value(checkpoint.token)
    finding_id = form.locator("input[name=op_id]").input_value()
    assert finding_id != checkin_id
    form.locator("input[name=category]").first.check()
    phone.fill("#finding-form textarea[name=description]", description)
    phone.set_input_files("#finding-form input[data-photos]", str(picture))
    expect(phone.locator(".photo-previews img")).to_have_count(1)
    tap_and_wait(phone, "#finding-form button[type=submit]", f"/s/{SITE}/findings", 202)
    expect(phone.locator("#finding-done.queued")).to_have_attribute("data-op-id", finding_id)
    expect(phone.locator("#outbox-badge .outbox-count")).to_have_text("2")
    shot(phone, "done-when-2-phone-offline-finding-saved")

    records = {r["id"]: r for r in phone.evaluate(OUTBOX, me)}
    assert {(r["id"], r["kind"]) for r in records.values()} == {
        (checkin_id, "checkin"),
        (finding_id, "finding"),
    }
    [photo] = records[finding_id]["photos"]
    assert records[finding_id]["payload"]["photos"] == [photo["id"]]
    assert photo["size"] < picture.stat().st_size / 4, "shrunk on the phone"

    assert phone.goto("/sync").from_service_worker
    expect(phone.locator(".sync-item")).to_have_count(2)
    expect(phone.locator(f".sync-item[data-op-id='{checkin_id}'] [data-slot=what]")).to_have_text(
        checkpoint.name
    )
    expect(
        phone.locator(f".sync-item[data-op-id='{finding_id}'] [data-slot=photos]")
    ).not_to_be_empty()
    expect(phone.locator(".sync-item[data-state=pending]")).to_have_count(2)
    expect(phone.locator("#outbox-badge .outbox-count")).to_have_text("2")
    shot(phone, "done-when-3-sync-page-2-pending")
    assert count(server_db, CheckIn, CheckIn.id == checkin_id) == 0

    # Back in reach of the server for a moment, but the photo upload keeps failing: the ops
    # go through and the phone tells the server it still holds unsent work.
    photo_tries = []
    phone.context.route("**/api/v1/photos/*", lambda route: (photo_tries.append(1), route.abort()))
    phone.context.set_offline(False)
    wait_until(
        lambda: (
            count(server_db, CheckIn, CheckIn.id == checkin_id)
            and count(server_db, Finding, Finding.id == finding_id)
        ),
        timeout=SYNC_TIMEOUT_S,
        what="the check-in and the finding on the server",
        page=phone,
    )
    wait_until(lambda: photo_tries, what="a photo upload attempt", page=phone)
    device = server_db.scalar(select(Device).where(Device.id == records[checkin_id]["device_id"]))
    assert (device.user_id, device.outbox_size) == (staff.id, 2)
    assert count(server_db, Photo, Photo.id == photo["id"]) == 0
    expect(phone.locator(f".sync-item[data-op-id='{finding_id}']")).to_have_attribute(
        "data-state",
        "sent",  # "photos still to send"
    )
    expect(phone.locator(".sync-item")).to_have_count(1)

    expect(pending_phones).to_be_visible(timeout=POLL_TIMEOUT_MS)
    expect(pending_phones).to_contain_text(staff.display_name)
    assert supervisor.evaluate(NOT_RELOADED), "coverage was reloaded"
    expect(supervisor.locator("#pwa-banners [data-banner=evicted]")).to_have_count(0)
    shot(supervisor, "done-when-4-coverage-pending-phone")

    # The phone is put away: the browser is closed with the photo still on it.
    app_profile.close()
    assert count(server_db, Photo, Photo.id == photo["id"]) == 0

    # Later, with network: open the app. Nothing is tapped.
    started = time.monotonic()
    phone = app_profile.open()
    phone.goto("/sync")
    stored = wait_until(
        lambda: server_db.scalar(select(Photo).where(Photo.id == photo["id"])),
        timeout=SYNC_TIMEOUT_S,
        what="the photo on the server after reopening",
    )
    expect(phone.locator("[data-slot=empty]")).to_be_visible()
    expect(phone.locator(".sync-item")).to_have_count(0)
    expect(phone.locator("#outbox-badge")).to_be_hidden()
    expect(phone.locator("#sync-page [data-slot=status]")).to_have_text(
        phone.locator("#sync-page").get_attribute("data-outcome-done")
    )
    assert wait_until(lambda: phone.evaluate(OUTBOX, me) == [], what="an empty outbox")
    synced_in = time.monotonic() - started
    shot(phone, "done-when-5-phone-reopened-all-sent")

    # Exactly once: one check-in, one finding, one photo, linked, whatever was resent.
    assert count(server_db, CheckIn, CheckIn.id == checkin_id) == 1
    assert (
        count(server_db, CheckIn, CheckIn.checkpoint_id == checkpoint.id, CheckIn.note == note) == 1
    )
    assert count(server_db, Finding, Finding.id == finding_id) == 1
    assert count(server_db, Finding, Finding.description == description) == 1
    assert count(server_db, Photo, Photo.id == photo["id"]) == 1
    assert server_db.scalars(
        select(FindingPhoto.photo_id).where(FindingPhoto.finding_id == finding_id)
    ) == [photo["id"]]
    checkin = server_db.scalar(select(CheckIn).where(CheckIn.id == checkin_id))
    finding = server_db.scalar(select(Finding).where(Finding.id == finding_id))
    assert (checkin.user_id, checkin.device_id) == (staff.id, records[checkin_id]["device_id"])
    assert finding.checkpoint_id == checkpoint.id
    # Upright (the sensor's landscape turned by orientation 6), no EXIF, no GPS.
    with stored_photo_file(live_server, stored) as image:
        assert image.width < image.height
        assert (image.width, image.height) == (stored.width, stored.height)
        assert "exif" not in image.info
        assert not image.getexif()
    # The phone said it holds nothing any more.
    assert wait_until(
        lambda: server_db.scalar(select(Device.outbox_size).where(Device.id == device.id)) == 0,
        what="the device's outbox size back to 0",
    )

    # The supervisor's page, by its own polls: no phone holding work, the visit on the row.
    expect(pending_phones).to_have_count(0, timeout=POLL_TIMEOUT_MS)
    expect(row.locator("time")).to_have_attribute("datetime", checkin.visited_at.isoformat())
    expect(row).to_contain_text(staff.display_name)
    assert supervisor.evaluate(NOT_RELOADED), "coverage was reloaded"
    shot(supervisor, "done-when-6-coverage-all-synced")
    print(f"reopened app sent the photo and emptied the outbox in {synced_in:.1f} s")


# Background Sync exists only in Chromium. Without it (Safari, Firefox) the pages' triggers
# must send the outbox: remove it from the pages (TESTING.md) and refuse it to the worker.
NO_BACKGROUND_SYNC = "delete ServiceWorkerRegistration.prototype.sync; delete window.SyncManager"
WORKER_SYNC_PROBE = """async () => {
  if (!self.registration.sync) return "absent";
  try {
    await self.registration.sync.register("e2e-probe");
    return "registered";
  } catch (error) {
    return error.name;
  }
}"""
PAGE_SYNC_API = "() => 'SyncManager' in window || 'sync' in ServiceWorkerRegistration.prototype"
# Headless pages never become hidden: pretend they do, as the browser would tell the page.
HIDE_AND_SHOW_PAGE = """() => {
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
  delete document.visibilityState;
  document.dispatchEvent(new Event("visibilitychange"));
}"""
NETWORK_FAILED = """async ([userId, opId]) => {
  const { openDatabase } = await import('/sw/db.js');
  const { getRecord } = await import('/sw/outbox.js');
  const db = await openDatabase();
  const record = await getRecord(db, opId);
  db.close();
  return record?.user_id === userId && record.state === "pending"
    && record.last_error === "network";
}"""


@pytest.mark.parametrize(
    ("trigger", "code"), [("online", "002"), ("visible", "003"), ("timer", "004")]
)
def test_without_background_sync_other_triggers_flush(
    trigger, code, app_profile, login_as, server_db, live_server, shot
):
    """A check-in kept on the phone after a failed send reaches the server with no tap, by
    the `online` event, the page becoming visible, or the page's retry timer, each alone."""
    checkpoint = server_db.checkpoint(code)
    page = start_app(app_profile, login_as, init_script=NO_BACKGROUND_SYNC)
    me = user_id(page)
    # Named permissions only: background sync is refused to the worker as well.
    page.context.grant_permissions([], origin=live_server.url)
    assert page.evaluate(PAGE_SYNC_API) is False
    [worker] = [w for w in page.context.service_workers if w.url.endswith("/sw.js")]
    assert worker.evaluate(WORKER_SYNC_PROBE) in ("absent", "NotAllowedError")
    if trigger == "timer":
        page.clock.install()
    page.goto(f"/c/{checkpoint.token}")
    op_id = page.locator("#checkin-form input[name=op_id]").input_value()
    answer_all_ok(page)

    # The first send fails: no network at all, or the sync API unreachable.
    if trigger == "online":
        page.context.set_offline(True)
    else:
        page.context.route("**/api/v1/sync", lambda route: route.abort())
    tap_and_wait(page, SUBMIT, f"/c/{checkpoint.token}", 202)
    wait_for_script(page, NETWORK_FAILED, [me, op_id], what="a failed send")
    # The page's timer now waits 60 s (30 s doubled after a failure): nothing else is due.
    if trigger != "online":
        page.context.unroute("**/api/v1/sync")
        page.wait_for_timeout(1_500)
        assert count(server_db, CheckIn, CheckIn.id == op_id) == 0, "sent without a trigger"

    started = time.monotonic()
    if trigger == "online":
        page.context.set_offline(False)
    elif trigger == "visible":
        page.evaluate(HIDE_AND_SHOW_PAGE)
    else:
        page.clock.run_for(61_000)
    wait_until(
        lambda: count(server_db, CheckIn, CheckIn.id == op_id),
        timeout=10,
        what=f"the check-in sent after the {trigger} trigger",
    )
    elapsed = time.monotonic() - started
    assert elapsed < 10
    expect(page.locator("#checkin-done.synced")).to_be_visible()
    expect(page.locator("#outbox-badge")).to_be_hidden()
    assert count(server_db, CheckIn, CheckIn.id == op_id) == 1
    shot(page, f"done-when-no-background-sync-{trigger}")


REPLAY = """async (body) => {
  const response = await fetch('/api/v1/sync', {
    method: 'POST',
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { 'X-Dutypwa-Sync': '1', 'Content-Type': 'application/json' },
    body,
  });
  return { status: response.status, body: await response.json() };
}"""


def test_duplicate_delivery_is_stored_once(app_profile, login_as, server_db, live_server):
    """The worker's own sync request, delivered twice (a resend after a lost answer): one
    check-in and one finding are stored, the second delivery is answered `duplicate`, and
    the app's own retry afterwards empties the outbox without a third row."""
    checkpoint = server_db.checkpoint("019")
    staff = server_db.user("1001")
    page = start_app(app_profile, login_as)
    me = user_id(page)
    sent_by_worker = []

    def lose_workers_sync(route):
        if route.request.service_worker is None:  # the replays below, from the page
            route.continue_()
            return
        sent_by_worker.append(route.request.post_data)
        route.abort()

    page.context.route("**/api/v1/sync", lose_workers_sync)
    page.goto(f"/c/{checkpoint.token}")
    checkin_id = page.locator("#checkin-form input[name=op_id]").input_value()
    answer_all_ok(page)
    note = f"重复投递 {checkin_id[:8]}"
    page.fill("#checkin-form textarea[name=note]", note)
    tap_and_wait(page, SUBMIT, f"/c/{checkpoint.token}", 202)
    page.goto(f"/s/{SITE}/findings/new?checkpoint={checkpoint.token}")
    finding_id = page.locator("#finding-form input[name=op_id]").input_value()
    page.locator("#finding-form input[name=category]").first.check()
    page.fill("#finding-form textarea[name=description]", f"集水井水位偏高 {finding_id[:8]}")
    tap_and_wait(page, "#finding-form button[type=submit]", f"/s/{SITE}/findings", 202)

    # The request the worker made with both ops in it, exactly as it went on the wire.
    body = wait_until(
        lambda: next((b for b in sent_by_worker if b and len(json.loads(b)["ops"]) == 2), None),
        what="the worker's sync request with both ops",
        page=page,
    )
    assert [op["id"] for op in json.loads(body)["ops"]] == [checkin_id, finding_id]
    assert count(server_db, CheckIn, CheckIn.id == checkin_id) == 0

    first = page.evaluate(REPLAY, body)
    second = page.evaluate(REPLAY, body)
    assert first["status"] == second["status"] == 200
    assert [(r["id"], r["status"]) for r in first["body"]["results"]] == [
        (checkin_id, "created"),
        (finding_id, "created"),
    ]
    assert [(r["id"], r["status"]) for r in second["body"]["results"]] == [
        (checkin_id, "duplicate"),
        (finding_id, "duplicate"),
    ]
    assert count(server_db, CheckIn, CheckIn.id == checkin_id) == 1
    assert (
        count(server_db, CheckIn, CheckIn.checkpoint_id == checkpoint.id, CheckIn.note == note) == 1
    )
    assert count(server_db, Finding, Finding.id == finding_id) == 1

    # The phone never heard back: its own resend is a third delivery, also a duplicate.
    page.context.unroute("**/api/v1/sync")
    page.goto("/sync")  # app start sends the outbox
    wait_until(lambda: page.evaluate(OUTBOX, me) == [], what="the outbox emptied by duplicates")
    expect(page.locator(".sync-item")).to_have_count(0)
    assert count(server_db, CheckIn, CheckIn.id == checkin_id) == 1
    assert count(server_db, Finding, Finding.id == finding_id) == 1
    assert (
        count(server_db, CheckIn, CheckIn.checkpoint_id == checkpoint.id, CheckIn.note == note) == 1
    )
    wait_until(
        lambda: (
            not server_db.scalars(
                select(Device).where(Device.user_id == staff.id, Device.outbox_size > 0)
            )
        ),
        what="no device of 1001 reporting unsent work",
    )


def test_failing_server_is_not_asked_again_in_a_loop(app_profile, login_as, server_db):
    """With Background Sync (Chromium's default), a send that fails while the phone is
    online (the server down, or answering 503) waits for the next trigger or the backoff.
    The worker used to register the sync tag again inside its own failed sync event, which
    the browser fires again as soon as the event ends: some 70 requests a second."""
    checkpoint = server_db.checkpoint("005")
    page = start_app(app_profile, login_as)
    me = user_id(page)
    [worker] = [w for w in page.context.service_workers if w.url.endswith("/sw.js")]
    assert worker.evaluate(WORKER_SYNC_PROBE) == "registered", "Background Sync is there"
    tries = []

    def server_busy(route):
        tries.append(time.monotonic())
        route.fulfill(status=503, json={"error": "busy"})

    page.context.route("**/api/v1/sync", server_busy)
    page.goto(f"/c/{checkpoint.token}")
    op_id = page.locator("#checkin-form input[name=op_id]").input_value()
    answer_all_ok(page)
    tap_and_wait(page, SUBMIT, f"/c/{checkpoint.token}", 202)
    wait_until(lambda: tries, what="the first send", page=page)
    page.wait_for_timeout(2_000)  # handles the routed requests meanwhile
    assert len(tries) <= 3, f"{len(tries)} sync requests in 2 s to a server answering 503"
    [record] = page.evaluate(OUTBOX, me)
    assert (record["id"], record["state"], record["last_error"]) == (op_id, "pending", "server")
