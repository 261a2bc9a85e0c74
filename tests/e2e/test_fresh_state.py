"""After every action the person sees the new state (issue 11 §1.3), in Chromium with the
service worker controlling the page, as people have it: a queued write is answered "saved
on this phone" (202) and, once the worker has sent it, the server's own answer for that op
replaces the note, without a reload. Offline the item stays marked as saved on this phone
and not applied yet, until it is sent.

Three flows: a supervisor assigns and verifies a nonconformity (desk, 1366×900); a staff
member checks in at a checkpoint page and at the offline checkpoint shell (phone,
360×740); a staff member logs a repair in the duty log and gets its work order number.
"""

import re
import secrets
import time
from datetime import UTC
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa.models import CheckIn, DutyEntry, Finding, FindingEvent, FollowUp
from tests.e2e.conftest import CHROMIUM, LAUNCH_ARGS, AppProfile, start_app, wait_for_script

pytestmark = pytest.mark.e2e

SITE = "CUIHU"
PHONE_740 = {"width": 360, "height": 740}
DESK = {"width": 1366, "height": 900}
# Online the worker sends a queued write at once: the server's answer is due in seconds.
ONLINE_S = 5
# Back online: Background Sync (or the online event) sends it, then the page asks.
BACK_ONLINE_S = 15
SAVED_ON_PHONE = "已保存在本机"
NOT_APPLIED_YET = "尚未生效"
SENT_NOTE = "已上传到服务器"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGE_SAVED = """async ([userId, path]) => {
  const cache = await caches.open(`dutypwa-pages-${userId}`);
  return Boolean(await cache.match(new URL(path, location.origin).href));
}"""


class DeskProfile(AppProfile):
    """A supervisor's desk browser with the app installed (worker, caches, IndexedDB)."""

    def open(self, init_script=None, camera=None):
        self.context = self.browser_type.launch_persistent_context(
            str(self.directory),
            executable_path=CHROMIUM,
            args=LAUNCH_ARGS,
            headless=True,
            base_url=self.base_url,
            locale="zh-CN",
            viewport=DESK,
        )
        self.context.set_default_timeout(10_000)
        return self.context.pages[0] if self.context.pages else self.context.new_page()


@pytest.fixture
def desk_profile(browser, live_server, tmp_path):
    profile = DeskProfile(browser.browser_type, tmp_path / "desk", live_server.url)
    yield profile
    profile.close()


def answered(page, path: str, status: int, tap):
    """Run `tap` and check the answer to the POST to `path` (202: the worker queued it)."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and urlsplit(r.url).path == path
    ) as response:
        tap()
    assert response.value.status == status, response.value.text()
    return response.value


def expect_queued(page, root: str) -> None:
    """The worker's answer, marked as saved on this phone and not applied yet."""
    queued = page.locator(f"{root}.queued")
    expect(queued).to_be_visible()
    expect(queued).to_contain_text(SAVED_ON_PHONE)
    expect(queued).to_contain_text(NOT_APPLIED_YET)
    expect(queued).not_to_contain_text(SENT_NOTE)


def expect_servers_answer(page, root: str, timeout_s: float) -> None:
    """The queued note is gone: the server's answer for the op took its place."""
    expect(page.locator(f"{root}.queued")).to_have_count(0, timeout=timeout_s * 1000)
    answer = page.locator(root)
    expect(answer).to_have_count(1)
    expect(answer).not_to_contain_text(SAVED_ON_PHONE)
    expect(answer).not_to_contain_text(NOT_APPLIED_YET)


def local_minute(moment) -> str:
    return moment.replace(tzinfo=UTC).astimezone(SHANGHAI).strftime("%m-%d %H:%M")


def no_overflow(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")


# Nonconformity: assign and verify (supervisor 2001 at a desk)


def raise_finding(phone, login_as, server_db, description: str) -> Finding:
    """A staff member reports a problem (a browser without the worker: straight to the server)."""
    login_as(phone, "1001")
    phone.goto(f"/s/{SITE}/findings/new")
    form = phone.locator("#finding-form")
    form.locator("input[name=category][value=garden]").check()
    form.locator("textarea[name=description]").fill(description)
    answered(phone, f"/s/{SITE}/findings", 201, form.locator("button[type=submit]").tap)
    return server_db.scalar(select(Finding).where(Finding.description == description))


def correct_finding(phone, finding: Finding) -> None:
    """The staff member records the correction (online, straight to the server)."""
    phone.goto(f"/s/{SITE}/findings/{finding.id}")
    form = phone.locator("form[data-step=correct]")
    form.locator("textarea[name=note]").fill("已修复")
    steps = f"/s/{SITE}/findings/{finding.id}/steps"
    answered(phone, steps, 201, form.locator("button[type=submit]").tap)


def assign_to(page, finding: Finding, name: str, status: int = 202) -> None:
    form = page.locator("form[data-step=assign]")
    form.locator("select[name=assignee]").select_option(label=name)
    steps = f"/s/{SITE}/findings/{finding.id}/steps"
    answered(page, steps, status, form.locator("button[type=submit]").click)


def verify_passed(page, finding: Finding) -> None:
    step = page.locator("details.step-verify_pass")
    if step.get_attribute("open") is None:
        step.locator("summary").click()
    form = page.locator("form[data-step=verify_pass]")
    steps = f"/s/{SITE}/findings/{finding.id}/steps"
    answered(page, steps, 202, form.locator("button[type=submit]").click)


def test_nonconformity_assign_and_verify_show_the_new_state_online(
    desk_profile, login_as, phone, server_db, shot
):
    description = f"路灯不亮 {secrets.token_hex(3)}"
    staff_phone = phone()
    finding = raise_finding(staff_phone, login_as, server_db, description)
    desk = start_app(desk_profile, login_as, "2001")
    page = f"/s/{SITE}/findings/{finding.id}"
    desk.goto(page)
    head = desk.locator("#finding-head")
    expect(head).to_contain_text("未指派")
    shot(desk, "fresh-nc-1-before-assign")

    started = time.monotonic()
    assign_to(desk, finding, "张伟")
    expect_servers_answer(desk, "#step-done", ONLINE_S)
    expect(desk.locator("#step-done")).to_contain_text("已记录此步骤")
    print(f"assign: the server's answer shown {time.monotonic() - started:.2f} s after the click")
    expect(head.locator(".badge.state-assigned")).to_have_text("已指派")
    expect(head).to_contain_text("张伟")
    expect(head).not_to_contain_text("未指派")
    expect(desk.locator("#finding-timeline [data-action=assign]")).to_contain_text("张伟")
    no_overflow(desk)
    shot(desk, "fresh-nc-2-assigned-online")

    correct_finding(staff_phone, finding)
    desk.goto(page)
    expect(head).to_contain_text("已整改，待验证")
    verify_passed(desk, finding)
    expect_servers_answer(desk, "#step-done", ONLINE_S)
    expect(head.locator(".badge.state-closed")).to_have_text("已关闭")
    expect(head).not_to_contain_text("已整改，待验证")
    expect(desk.locator("#finding-timeline [data-action=verify_pass]")).to_be_visible()
    shot(desk, "fresh-nc-3-verified-online")
    assert server_db.scalar(select(Finding.status).where(Finding.id == finding.id)) == "closed"


def test_nonconformity_steps_made_offline_are_marked_until_sent(
    desk_profile, login_as, phone, server_db, shot
):
    description = f"井盖松动 {secrets.token_hex(3)}"
    staff_phone = phone()
    finding = raise_finding(staff_phone, login_as, server_db, description)
    desk = start_app(desk_profile, login_as, "2001")
    page = f"/s/{SITE}/findings/{finding.id}"
    desk.goto(page)
    head = desk.locator("#finding-head")

    desk.context.set_offline(True)
    assign_to(desk, finding, "张伟")
    expect_queued(desk, "#step-done")
    # Not applied yet: the item's state is still the server's last word.
    expect(head).to_contain_text("未指派")
    shot(desk, "fresh-nc-4-assigned-offline")
    desk.context.set_offline(False)
    expect_servers_answer(desk, "#step-done", BACK_ONLINE_S)
    expect(head.locator(".badge.state-assigned")).to_have_text("已指派")
    expect(head).to_contain_text("张伟")
    shot(desk, "fresh-nc-5-assigned-back-online")

    correct_finding(staff_phone, finding)
    desk.goto(page)
    desk.context.set_offline(True)
    verify_passed(desk, finding)
    expect_queued(desk, "#step-done")
    expect(head).to_contain_text("已整改，待验证")
    shot(desk, "fresh-nc-6-verified-offline")
    desk.context.set_offline(False)
    expect_servers_answer(desk, "#step-done", BACK_ONLINE_S)
    expect(head.locator(".badge.state-closed")).to_have_text("已关闭")
    shot(desk, "fresh-nc-7-verified-back-online")
    events = server_db.scalars(
        select(FindingEvent.action)
        .where(FindingEvent.finding_id == finding.id)
        .order_by(FindingEvent.ordinal)
    )
    assert events == ["assign", "correct", "verify_pass"]


# Check-in (staff 1001 on a phone)


def dismiss_install_banner(page) -> None:
    """As a person would before tapping what the floating install banner covers."""
    later = page.locator("#pwa-banners [data-banner=install] [data-action=dismiss]")
    if later.is_visible():
        later.tap()


def check_in(page, token: str, status: int = 202) -> str:
    """Answer every checklist item OK and check in; returns the op id."""
    form = page.locator("#checkin-form")
    expect(form).to_be_visible()
    dismiss_install_banner(page)
    op_id = form.locator("input[name=op_id]").input_value()
    for radio in form.locator("input[type=radio][value=ok]:not([name^='recheck'])").all():
        radio.check()
    answered(page, f"/c/{token}", status, form.locator("button[type=submit]").tap)
    return op_id


def expect_checked_in(page, server_db, op_id: str, timeout_s: float) -> None:
    expect_servers_answer(page, "#checkin-done", timeout_s)
    done = page.locator("#checkin-done")
    expect(done).to_contain_text("打卡成功")
    expect(done).not_to_contain_text(SENT_NOTE)  # one status, not two notes
    checkin = server_db.scalar(select(CheckIn).where(CheckIn.id == op_id))
    last_visit = page.locator("#last-visit")
    expect(last_visit).to_be_visible()
    expect(last_visit).to_contain_text(local_minute(checkin.visited_at))
    expect(last_visit).to_contain_text("张伟")


def test_check_in_online_shows_one_status_and_the_new_last_visit(
    app_profile, login_as, server_db, shot
):
    checkpoint = server_db.checkpoint("011")
    page = start_app(app_profile, login_as, "1001")
    page.set_viewport_size(PHONE_740)
    page.goto(f"/c/{checkpoint.token}")
    shot(page, "fresh-checkin-1-page")
    started = time.monotonic()
    op_id = check_in(page, checkpoint.token)
    expect_checked_in(page, server_db, op_id, ONLINE_S)
    print(f"check-in: the server's answer shown {time.monotonic() - started:.2f} s after the tap")
    no_overflow(page)
    shot(page, "fresh-checkin-2-online-done")


def test_check_in_offline_is_marked_then_shows_the_servers_answer(
    app_profile, login_as, server_db, shot
):
    checkpoint = server_db.checkpoint("012")
    page = start_app(app_profile, login_as, "1001")
    page.set_viewport_size(PHONE_740)
    me = page.locator("body").get_attribute("data-user-id")
    path = f"/c/{checkpoint.token}"
    page.goto(path)
    wait_for_script(page, PAGE_SAVED, [me, path], what="the saved checkpoint page")

    page.context.set_offline(True)
    assert page.goto(path).from_service_worker
    op_id = check_in(page, checkpoint.token)
    expect_queued(page, "#checkin-done")
    shot(page, "fresh-checkin-3-offline-saved")
    page.context.set_offline(False)
    expect_checked_in(page, server_db, op_id, BACK_ONLINE_S)
    shot(page, "fresh-checkin-4-back-online")


def test_check_in_from_the_offline_shell_shows_the_servers_answer(
    app_profile, login_as, server_db, shot
):
    """A checkpoint never opened on this phone: the worker shows the checkpoint shell."""
    checkpoint = server_db.checkpoint("020")
    page = start_app(app_profile, login_as, "1001")
    page.set_viewport_size(PHONE_740)
    page.context.set_offline(True)
    assert page.goto(f"/c/{checkpoint.token}").from_service_worker
    expect(page.locator("[data-slot=name]")).to_have_text(checkpoint.name)
    shot(page, "fresh-checkin-5-shell-offline")
    op_id = check_in(page, checkpoint.token)
    expect_queued(page, "#checkin-done")
    shot(page, "fresh-checkin-6-shell-offline-saved")
    page.context.set_offline(False)
    expect_checked_in(page, server_db, op_id, BACK_ONLINE_S)
    no_overflow(page)
    shot(page, "fresh-checkin-7-shell-back-online")


# Duty log (staff 1001 on a phone): the entry, a link to it and its work order number


def log_repair(page, summary: str) -> str:
    page.goto(f"/s/{SITE}/log/new")
    form = page.locator("#entry-form")
    op_id = form.locator("input[name=op_id]").input_value()
    form.locator("label.kind-repair").tap()
    form.locator("textarea[name=summary]").fill(summary)
    form.locator("input[name=reporter_unit]").fill("3-2-701")
    answered(page, f"/s/{SITE}/log", 202, form.locator("button[type=submit]").tap)
    return op_id


def expect_entry_and_work_order(page, server_db, op_id: str, summary: str, timeout_s: float):
    expect_servers_answer(page, "#entry-done", timeout_s)
    done = page.locator("#entry-done")
    expect(done).to_contain_text("记录已登记")
    expect(done).to_contain_text(summary)
    link = done.locator("a.open-entry")
    expect(link).to_have_attribute("href", f"/s/{SITE}/log/{op_id}")
    make_work_order = done.locator("button.create-follow-up")
    expect(make_work_order).to_be_visible()
    # One tap makes its work order (D6): the card shows the number, still without a reload.
    with page.expect_response(lambda r: r.url.endswith(f"/log/{op_id}/follow-up")):
        make_work_order.tap()
    work_order = server_db.scalar(select(FollowUp).where(FollowUp.entry_id == op_id))
    assert re.fullmatch(r"WX-\d{8}-\d{2}", work_order.number)
    number = done.locator("a.follow-up-number")
    expect(number).to_have_text(work_order.number)
    expect(number).to_have_attribute("href", re.compile(rf"/work-orders/{work_order.id}$"))
    expect(done.locator("a.open-entry")).to_have_attribute("href", f"/s/{SITE}/log/{op_id}")


def test_duty_log_entry_online_links_to_the_entry_and_its_work_order(
    app_profile, login_as, server_db, shot
):
    summary = f"3栋楼道灯不亮 {secrets.token_hex(3)}"
    page = start_app(app_profile, login_as, "1001")
    page.set_viewport_size(PHONE_740)
    op_id = log_repair(page, summary)
    expect_servers_answer(page, "#entry-done", ONLINE_S)
    shot(page, "fresh-entry-1-online-done")
    expect_entry_and_work_order(page, server_db, op_id, summary, ONLINE_S)
    no_overflow(page)
    shot(page, "fresh-entry-2-work-order-number")
    assert server_db.scalar(select(DutyEntry.summary).where(DutyEntry.id == op_id)) == summary


def test_duty_log_entry_offline_is_marked_then_links_to_the_entry(
    app_profile, login_as, server_db, shot
):
    summary = f"地库渗水 {secrets.token_hex(3)}"
    page = start_app(app_profile, login_as, "1001")
    page.set_viewport_size(PHONE_740)
    me = page.locator("body").get_attribute("data-user-id")
    page.goto(f"/s/{SITE}/log/new")
    wait_for_script(page, PAGE_SAVED, [me, f"/s/{SITE}/log/new"], what="the saved entry form")
    page.context.set_offline(True)
    op_id = log_repair(page, summary)
    expect_queued(page, "#entry-done")
    shot(page, "fresh-entry-3-offline-saved")
    page.context.set_offline(False)
    expect_entry_and_work_order(page, server_db, op_id, summary, BACK_ONLINE_S)
    shot(page, "fresh-entry-4-back-online")
