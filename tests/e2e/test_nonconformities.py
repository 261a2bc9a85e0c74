"""The nonconformity lifecycle in Chromium with two people (rules D1, D3): a staff phone
(360×740, the offline-first app with its service worker) raises a problem with a photo
while offline; once synced, the supervisor (a desk browser, no worker) sees it in the
open-items list and assigns it; the staff member corrects it with an after-photo, offline
again; the supervisor verifies it; the timeline and the before/after photos show it all.
"""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from dutypwa.models import Checkpoint, Finding, FindingEvent, FindingPhoto, Photo
from tests.e2e.conftest import phone_photo, start_app, wait_until
from tests.e2e.health import check_page_health, watch

pytestmark = pytest.mark.e2e

SITE = "CUIHU"
PHONE_740 = {"width": 360, "height": 740}
SYNC_TIMEOUT_S = 15
LOADED_IMAGES = """(selector) => [...document.querySelectorAll(selector)]
  .filter((image) => image.complete && image.naturalWidth > 0).length"""


def answered(page, path: str, status: int, tap):
    """Run `tap` and check the answer to the POST to `path`."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and urlsplit(r.url).path == path
    ) as response:
        tap()
    assert response.value.status == status, response.value.text()
    return response.value


def test_d1_nonconformity_raised_offline_assigned_corrected_verified(
    app_profile, login_as, desktop, server_db, tmp_path, shot
):
    staff, boss = server_db.user("1001"), server_db.user("2001")
    picture = tmp_path / "before.jpg"
    picture.write_bytes(phone_photo(1600, 1200))
    after_picture = tmp_path / "after.jpg"
    after_picture.write_bytes(phone_photo(1200, 900))
    description = f"花坛围栏倒塌 e2e-{tmp_path.name[-6:]}"

    # The staff phone, online once: the app, its reference data, the problem form.
    phone = start_app(app_profile, login_as, "1001")
    phone.set_viewport_size(PHONE_740)
    phone.goto(f"/s/{SITE}/findings/new")
    expect(phone.locator("#finding-form")).to_be_visible()

    # Offline: the problem with a photo is kept on the phone.
    phone.context.set_offline(True)
    assert phone.goto(f"/s/{SITE}/findings/new").from_service_worker
    form = phone.locator("#finding-form")
    finding_id = form.locator("input[name=op_id]").input_value()
    form.locator("input[name=category][value=garden]").check()
    form.locator("textarea[name=description]").fill(description)
    form.locator("input[data-photos]").set_input_files(str(picture))
    expect(form.locator(".photo-previews img")).to_have_count(1)
    answered(phone, f"/s/{SITE}/findings", 202, form.locator("button[type=submit]").tap)
    expect(phone.locator("#finding-done.queued")).to_be_visible()
    shot(phone, "nc-1-staff-offline-raised")
    assert server_db.scalar(select(func.count()).where(Finding.id == finding_id)) == 0

    # Online again: it syncs by itself, with its photo.
    phone.context.set_offline(False)
    finding = wait_until(
        lambda: server_db.scalar(select(Finding).where(Finding.id == finding_id)),
        timeout=SYNC_TIMEOUT_S,
        what="the nonconformity on the server",
        page=phone,
    )
    before_photos = select(FindingPhoto.photo_id).where(FindingPhoto.finding_id == finding_id)
    wait_until(
        lambda: server_db.scalar(
            select(func.count()).select_from(Photo).where(Photo.id.in_(before_photos))
        ),
        timeout=SYNC_TIMEOUT_S,
        what="the before-photo on the server",
        page=phone,
    )
    assert (finding.created_by_id, finding.status) == (staff.id, "open")

    # The supervisor finds it in the open-items list and assigns it to the staff member.
    supervisor = desktop()
    watch(supervisor)
    login_as(supervisor, "2001")
    supervisor.goto(f"/s/{SITE}/findings")
    search = supervisor.locator("#finding-filters input[name=q]")
    with supervisor.expect_response(lambda r: "/findings?" in r.url):
        search.fill(description)
    row = supervisor.locator(f"#finding-{finding_id}")
    expect(row).to_be_visible()
    expect(supervisor.locator(".finding-row")).to_have_count(1)
    assert "q=" in supervisor.url  # the filters are in the address (hx-push-url)
    check_page_health(supervisor, "the open items after the search swap")
    shot(supervisor, "nc-2-supervisor-list")
    row.locator("a").click()
    supervisor.wait_for_url(f"**/findings/{finding_id}")
    assign = supervisor.locator("form[data-step=assign]")
    expect(assign).to_be_visible()
    assign.locator("select[name=assignee]").select_option(str(staff.id))
    steps_url = f"/s/{SITE}/findings/{finding_id}/steps"
    answered(supervisor, steps_url, 201, assign.locator("button[type=submit]").click)
    expect(supervisor.locator("#step-done")).to_be_visible()
    timeline = supervisor.locator("#finding-timeline")
    expect(timeline.locator("[data-action=assign]")).to_contain_text(staff.display_name)
    check_page_health(supervisor, "the nonconformity after the assign swap")
    shot(supervisor, "nc-3-supervisor-assigned")

    # The staff member finds it among their own, and corrects it with an after-photo, offline.
    phone.goto(f"/s/{SITE}/findings?assignee=mine")
    expect(phone.locator(f"#finding-{finding_id}")).to_be_visible()
    shot(phone, "nc-3b-staff-my-list")
    detail = f"/s/{SITE}/findings/{finding_id}"
    phone.locator(f"#finding-{finding_id} a").tap()
    phone.wait_for_url(f"**{detail}")
    correct = phone.locator("form[data-step=correct]")
    expect(correct).to_be_visible()
    phone.context.set_offline(True)
    correct.locator("textarea[name=note]").fill("已重新固定围栏")
    correct.locator("input[data-photos]").set_input_files(str(after_picture))
    expect(correct.locator(".photo-previews img")).to_have_count(1)
    answered(phone, steps_url, 202, correct.locator("button[type=submit]").tap)
    expect(phone.locator("#step-done.queued")).to_be_visible()
    shot(phone, "nc-4-staff-offline-corrected")
    phone.context.set_offline(False)
    correction = wait_until(
        lambda: server_db.scalar(
            select(FindingEvent).where(
                FindingEvent.finding_id == finding_id, FindingEvent.action == "correct"
            )
        ),
        timeout=SYNC_TIMEOUT_S,
        what="the correction on the server",
        page=phone,
    )
    assert (correction.by_id, correction.outcome, len(correction.photo_ids)) == (
        staff.id,
        "applied",
        1,
    )
    wait_until(
        lambda: server_db.scalar(
            select(func.count()).select_from(Photo).where(Photo.id == correction.photo_ids[0])
        ),
        timeout=SYNC_TIMEOUT_S,
        what="the after-photo on the server",
        page=phone,
    )

    # The supervisor verifies it: passed.
    supervisor.goto(detail)
    verify = supervisor.locator("form[data-step=verify_pass]")
    expect(verify).to_be_visible()
    answered(supervisor, steps_url, 201, verify.locator("button[type=submit]").click)
    expect(supervisor.locator("#step-done")).to_be_visible()
    check_page_health(supervisor, "the nonconformity after the verify swap")
    supervisor.goto(detail)
    expect(supervisor.locator("#finding-head .state-closed")).to_be_visible()
    events = supervisor.locator("#finding-timeline li.event")
    expect(events).to_have_count(4)
    actions = [events.nth(i).get_attribute("data-action") for i in range(4)]
    assert actions == ["raise", "assign", "correct", "verify_pass"]
    for index, name in enumerate([staff, boss, staff, boss]):
        expect(events.nth(index)).to_contain_text(name.display_name)
    wait_until(
        lambda: (
            supervisor.evaluate(LOADED_IMAGES, "#finding-photos .before img") == 1
            and supervisor.evaluate(LOADED_IMAGES, "#finding-photos .after img") == 1
        ),
        what="the before and after photos shown",
    )
    shot(supervisor, "nc-5-supervisor-verified-timeline")

    # The staff phone sees it closed, with both photos side by side.
    phone.goto(detail)
    expect(phone.locator("#finding-head .state-closed")).to_be_visible()
    wait_until(
        lambda: phone.evaluate(LOADED_IMAGES, "#finding-photos img") == 2,
        what="both photos on the phone",
    )
    shot(phone, "nc-6-staff-closed-before-after")


def test_recheck_on_the_next_patrol(phone, login_as, server_db, shot):
    """The check-in page of a checkpoint asks about its open problems; the answer is a
    re-check step on the problem's timeline."""
    finding = server_db.scalar(
        select(Finding)
        .where(Finding.recheck_due, Finding.checkpoint_id.is_not(None), Finding.status != "closed")
        .order_by(Finding.received_at)
    )
    if finding is None:
        pytest.skip("the demo data has no problem waiting for a re-check")
    token = server_db.scalar(select(Checkpoint.token).where(Checkpoint.id == finding.checkpoint_id))
    page = phone()
    page.set_viewport_size(PHONE_740)
    login_as(page, "1002")
    page.goto(f"/c/{token}")
    item = page.locator(f".recheck-item[data-finding-id='{finding.id}']")
    expect(item).to_be_visible()
    for radio in page.locator("#checkin-form .check-item:not(.recheck-item) input[value=ok]").all():
        radio.check()
    item.locator("input[value=not_ok]").check()
    shot(page, "nc-7-recheck-question")
    answered(page, f"/c/{token}", 201, page.locator("#checkin-form button[type=submit]").tap)
    expect(page.locator(".recheck-results")).to_be_visible()
    event = server_db.scalar(
        select(FindingEvent).where(
            FindingEvent.finding_id == finding.id, FindingEvent.action == "recheck"
        )
    )
    assert (event.result, event.outcome) == ("not_ok", "applied") and event.checkin_id
    page.locator(".recheck-results a").first.tap()
    expect(page.locator("#finding-timeline [data-action=recheck]")).to_be_visible()
    shot(page, "nc-8-recheck-on-timeline")
