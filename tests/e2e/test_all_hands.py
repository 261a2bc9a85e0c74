"""All hands in Chromium (R7, issue 6 item 8's done-when: "a typhoon is declared and every
phone shows it"): a supervisor declares a typhoon for 南湖苑; the staff member's phone shows
the banner at 360 px on every page, and on the offline page from the saved reference data;
"I am on site" tapped without network waits on the phone and reaches the server once.
On NANHU, and lifted at the end, so the other browser tests never see a banner.
"""

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa.models import AllHands, AllHandsAck
from tests.e2e.conftest import OUTBOX, start_app, user_id, wait_for_script, wait_until

pytestmark = pytest.mark.e2e

SITE = "NANHU"
PAGE = f"/s/{SITE}/all-hands"
SYNC_TIMEOUT_S = 15
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"
REFERENCE_HAS_PERIOD = """async (periodId) => {
  const { getMeta, openDatabase } = await import('/sw/db.js');
  const db = await openDatabase();
  const about = await getMeta(db, 'reference');
  db.close();
  return (about?.all_hands ?? []).some((period) => period.id === periodId);
}"""


def test_a_declared_typhoon_shows_on_the_phone_online_and_offline(
    phone, app_profile, login_as, server_db, shot
):
    instructions = f"全体人员留守，检查地下车库排水 {secrets.token_hex(3)}"
    supervisor = phone()  # a supervisor's phone too
    login_as(supervisor, "6001")
    supervisor.goto(PAGE)
    form = supervisor.locator("form.all-hands-declare")
    form.locator("input[name=kind][value=typhoon]").check()
    form.locator("input[name=level]").fill("橙色预警")
    form.locator("textarea[name=instructions]").fill(instructions)
    until = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")) + timedelta(hours=12)
    form.locator("input[name=until]").fill(until.strftime("%Y-%m-%dT%H:%M"))
    form.locator("button[type=submit]").click()
    supervisor.wait_for_url(f"**{PAGE}")
    period = server_db.scalar(select(AllHands).where(AllHands.instructions == instructions))
    panel = supervisor.locator(f"#all-hands-period-{period.id}")
    try:
        counts = panel.locator(".all-hands-counts")
        expect(counts).to_have_attribute("data-answered", "0")
        expect(counts).to_have_attribute("data-total", "2")  # 周涛 and 赵敏
        mobile = start_app(app_profile, login_as, "5001")
        me = user_id(mobile)
        wait_for_script(mobile, REFERENCE_HAS_PERIOD, period.id, what="the period in the reference")

        # Online, on any page: the banner with the instructions and the two answers.
        mobile.goto(f"/s/{SITE}/log")
        banner = mobile.locator(f"#all-hands-{period.id}")
        expect(banner).to_contain_text(instructions)
        expect(banner.locator(".all-hands-level")).to_have_text("橙色预警")
        expect(banner.locator("form[data-outbox=all_hands_ack]")).to_have_count(2)
        assert mobile.evaluate(NO_SIDEWAYS_SCROLL)
        shot(mobile, "all-hands-1-banner-on-the-phone")

        # Offline: "I am on site" waits on the phone; the offline page shows the banner from
        # the saved reference data.
        mobile.context.set_offline(True)
        with mobile.expect_response(lambda r: r.request.method == "POST") as answered:
            banner.locator("form:has(input[name=status][value=on_site]) button").tap()
        assert answered.value.status == 202
        expect(banner.locator("#all-hands-ack-done.queued")).to_be_visible()
        shot(mobile, "all-hands-2-answer-saved-on-the-phone")
        [record] = [r for r in wait_for_script(mobile, OUTBOX, me) if r["kind"] == "all_hands_ack"]
        assert record["payload"]["subject"] == period.id
        assert record["payload"]["fields"]["status"] == "on_site"
        mobile.goto(f"/s/{SITE}/never-opened-{secrets.token_hex(2)}")
        offline_banner = mobile.locator(f"#all-hands-offline #all-hands-{period.id}")
        expect(offline_banner).to_contain_text(instructions)
        expect(offline_banner).to_contain_text("橙色预警")
        # The answer waiting on the phone counts: no buttons left to tap.
        expect(offline_banner.locator("form")).to_have_count(0)
        assert mobile.evaluate(NO_SIDEWAYS_SCROLL)
        shot(mobile, "all-hands-3-offline-page")

        # Back online: the answer arrives once, and the supervisor sees it.
        mobile.context.set_offline(False)
        mobile.goto(f"/s/{SITE}/log")
        [ack] = wait_until(
            lambda: server_db.scalars(
                select(AllHandsAck).where(AllHandsAck.all_hands_id == period.id)
            ),
            timeout=SYNC_TIMEOUT_S,
            what="the answer on the server",
            page=mobile,
        )
        assert (ack.status, ack.user_id, ack.id) == ("on_site", int(me), record["id"])
        supervisor.goto(PAGE)
        expect(counts).to_have_attribute("data-on-site", "1")
        assert supervisor.evaluate(NO_SIDEWAYS_SCROLL)
        shot(supervisor, "all-hands-4-roll-call")
    finally:
        supervisor.goto(PAGE)
        panel.locator(".all-hands-manage button.primary").click()
        expect(panel).to_have_attribute("data-lifted", "yes")
