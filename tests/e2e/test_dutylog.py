"""The duty log in a real Chromium at phone size (360 × 740): a repair request logged with
the network off reaches the server exactly once when it is back, a supervisor turns it
into a work order, and the shift's duty record prints on A4 with the entry on it (D5, D6).
"""

import re
import secrets
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from dutypwa.models import DutyEntry, FollowUp
from tests.e2e.conftest import (
    pdf_page_images,
    pdf_text,
    start_app,
    user_id,
    wait_for_script,
    wait_until,
)
from tests.e2e.health import check_page_health, watch

pytestmark = pytest.mark.e2e

SITE = "CUIHU"
LOG = f"/s/{SITE}/log"
NEW_ENTRY = f"/s/{SITE}/log/new"
PHONE_740 = {"width": 360, "height": 740}
SYNC_TIMEOUT_S = 15
PAGE_SAVED = """async ([userId, path]) => {
  const cache = await caches.open(`dutypwa-pages-${userId}`);
  return Boolean(await cache.match(new URL(path, location.origin).href));
}"""


def entries(server_db, summary: str) -> list[DutyEntry]:
    return server_db.scalars(select(DutyEntry).where(DutyEntry.summary == summary))


def fill_repair(page, summary: str) -> None:
    form = page.locator("#entry-form")
    form.locator("label.kind-repair").tap()
    form.locator("textarea[name=summary]").fill(summary)
    form.locator("input[name=reporter_name]").fill("陈女士")
    form.locator("input[name=reporter_unit]").fill("3-2-701")
    form.locator("textarea[name=handling]").fill("已通知维修部")


def submit_entry(page, expected_status: int) -> None:
    with page.expect_response(
        lambda r: r.request.method == "POST" and urlsplit(r.url).path == LOG
    ) as answered:
        page.locator("#entry-form button[type=submit]").tap()
    assert answered.value.status == expected_status, answered.value.text()


def test_offline_repair_request_syncs_once_and_becomes_a_work_order(
    app_profile, login_as, desktop, server_db, shot
):
    summary = f"5栋电梯按钮失灵 {secrets.token_hex(3)}"
    phone = start_app(app_profile, login_as, "1003")
    phone.set_viewport_size(PHONE_740)
    me = user_id(phone)
    phone.goto(LOG)
    shot(phone, "dutylog-1-log-online")
    phone.goto(NEW_ENTRY)
    wait_for_script(phone, PAGE_SAVED, [me, NEW_ENTRY], what="the saved entry form")

    # No network: the form opens from the phone and the entry waits in the outbox.
    phone.context.set_offline(True)
    assert phone.goto(NEW_ENTRY).from_service_worker
    fill_repair(phone, summary)
    shot(phone, "dutylog-2-entry-form-offline")
    submit_entry(phone, 202)
    expect(phone.locator("#entry-done.queued .queued-text")).not_to_be_empty()
    expect(phone.locator("#outbox-badge .outbox-count")).to_have_text("1")
    shot(phone, "dutylog-3-entry-saved-on-the-phone")
    assert entries(server_db, summary) == []

    # Back online: it arrives once, by itself.
    phone.context.set_offline(False)
    [entry] = wait_until(
        lambda: entries(server_db, summary), timeout=SYNC_TIMEOUT_S, what="the entry", page=phone
    )
    expect(phone.locator("#outbox-badge")).to_be_hidden(timeout=SYNC_TIMEOUT_S * 1000)
    assert (entry.kind, entry.reporter_unit, entry.status) == ("repair", "3-2-701", "open")
    assert entry.created_by_id == int(me)
    phone.goto(LOG)
    expect(phone.locator(f"#entry-{entry.id}")).to_contain_text(summary)
    assert len(entries(server_db, summary)) == 1

    # The supervisor turns it into a work order for maintenance and starts it.
    supervisor = desktop()
    supervisor.set_viewport_size(PHONE_740)
    login_as(supervisor, "2001")
    supervisor.goto(f"{LOG}/{entry.id}")
    expect(supervisor.locator("#entry")).to_contain_text("3-2-701")
    shot(supervisor, "dutylog-4-entry-page-supervisor")
    supervisor.locator("#entry-follow-ups button[type=submit]").click()
    supervisor.wait_for_url("**/work-orders/*")
    [work_order] = server_db.scalars(select(FollowUp).where(FollowUp.entry_id == entry.id))
    assert work_order.number.startswith("WX-") and work_order.team == "maintenance"
    sheet = supervisor.locator("#follow-up")
    expect(sheet).to_contain_text(work_order.number)
    expect(sheet).to_contain_text(summary)
    sheet.locator("button[value=start]").click()
    expect(supervisor.locator("#follow-up .sheet-number .badge")).to_have_class(
        re.compile(r"\bfu-in_progress\b")
    )
    shot(supervisor, "dutylog-5-work-order")
    assert server_db.scalar(select(FollowUp.status).where(FollowUp.id == work_order.id)) == (
        "in_progress"
    )
    count = server_db.scalar(
        select(func.count()).select_from(DutyEntry).where(DutyEntry.summary == summary)
    )
    assert count == 1


def test_the_duty_record_prints_on_a4_with_the_entry(phone, login_as, artifacts, shot):
    """Without a service worker the entry form posts straight to the server (201)."""
    summary = f"停车场道闸抬杆故障 {secrets.token_hex(3)}"
    page = phone()
    page.set_viewport_size(PHONE_740)
    login_as(page, "1002")
    page.goto(NEW_ENTRY)
    fill_repair(page, summary)
    submit_entry(page, 201)
    expect(page.locator("#entry-done")).to_contain_text(summary)
    page.goto(f"/s/{SITE}/log/record")
    record = page.locator("#duty-record")
    expect(record).to_contain_text(summary)
    expect(record).to_contain_text("刘芳")  # on duty: logged an entry during the shift
    shot(page, "dutylog-6-duty-record-phone")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    pdf = artifacts / "dutylog-duty-record.pdf"
    pdf.write_bytes(page.pdf(format="A4", print_background=True))
    text = pdf_text(pdf)
    assert summary.split()[1] in text
    assert "值班记录" in text or "Duty record" in text
    pdf_page_images(pdf, dpi=60, pages=1)[0].save(artifacts / "dutylog-duty-record-1.png")


def test_d12_a_key_goes_out_with_approval_and_comes_back(phone, login_as, server_db, shot):
    key = f"水泵房钥匙 {secrets.token_hex(3)}"
    page = phone()
    page.set_viewport_size(PHONE_740)
    watch(page)
    login_as(page, "1002")
    page.goto(f"/s/{SITE}/keys")
    form = page.locator("#keys form:has(input[name=key_name])")
    form.locator("input[name=key_name]").fill(key)
    form.locator("input[name=taken_by]").fill("维修部 老王")
    form.locator("input[name=purpose]").fill("抢修漏水")
    form.locator("select[name=approved_by]").select_option(label="李娜")
    form.locator("button[type=submit]").tap()
    row = page.locator(".key-out", has_text=key)
    expect(row).to_contain_text("李娜")
    check_page_health(page, "the keys register after a key went out")
    shot(page, "dutylog-7-key-out")
    row.locator("button[type=submit]").tap()
    expect(page.locator(".key-out", has_text=key)).to_have_count(0)
    expect(page.locator("#keys .list")).to_contain_text(key)
    check_page_health(page, "the keys register after the key came back")
    shot(page, "dutylog-8-key-returned")


def test_d11_an_emergency_is_escalated_and_the_arrival_recorded(phone, login_as, shot):
    summary = f"地下车库B2冒烟 {secrets.token_hex(3)}"
    page = phone()
    page.set_viewport_size(PHONE_740)
    login_as(page, "1002")
    page.goto(NEW_ENTRY)
    form = page.locator("#entry-form")
    form.locator("label.kind-emergency").tap()
    form.locator("textarea[name=summary]").fill(summary)
    submit_entry(page, 201)
    expect(page.locator("#entry-done .alert")).to_be_visible()
    page.locator("#entry-done a.open-entry").click()
    entry_url = page.url
    expect(page.locator("section.escalations .escalation.pending")).to_have_count(1)
    expect(page.locator("#step-arrive")).to_have_count(0)  # staff do not record arrival
    supervisor = phone()
    supervisor.set_viewport_size(PHONE_740)
    login_as(supervisor, "2001")
    supervisor.goto(entry_url)
    supervisor.locator("#step-arrive button[type=submit]").tap()
    expect(supervisor.locator("#step-done")).to_be_visible()
    supervisor.goto(entry_url)
    expect(supervisor.locator("#arrival .badge-on_time")).to_be_visible()
    supervisor.locator("#step-comment summary").tap()
    shot(supervisor, "dutylog-9-emergency-arrived")
