"""The monthly roster in Chromium, as the issue's done-when tells it: the administrator
confirms next year's holiday arrangement; the supervisor builds January (New Year's Day,
R3), sees the gap at the service centre where December's last night is missing (R5) and
closes it; submits; the director approves after company review; it is published and
printed on one A4 landscape page whose QR code opens the live roster (R1); a staff member
sees the shifts on a phone.
"""

import re
from datetime import UTC, date, datetime

import pytest
from icalendar import Calendar
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa import create_app
from dutypwa.extensions import db
from dutypwa.models import (
    Post,
    RosterMonth,
    ShiftTemplate,
    Site,
    User,
)
from dutypwa.roster import core
from tests.e2e.conftest import (
    pdf_page_count,
    pdf_page_images,
    pdf_page_sizes,
    pdf_text,
    start_app,
    user_id,
    wait_for_script,
)

pytestmark = pytest.mark.e2e

SITE = "CUIHU"
MONTH = "2027-01"
CENTRE = "客户服务中心"
STATUS = re.compile(r"已发布|Published")


def roster_month(server_db, month: str) -> RosterMonth | None:
    return server_db.scalar(
        select(RosterMonth).join(Site).where(Site.code == SITE, RosterMonth.month == month)
    )


def starts_on_the_5th(ics: str) -> list[str]:
    """The start times of the live (not cancelled) events on 5 January in a calendar file."""
    events = Calendar.from_ical(ics).walk("VEVENT")
    return sorted(
        event.decoded("DTSTART").strftime("%H:%M")
        for event in events
        if event.decoded("DTSTART").strftime("%m-%d") == "01-05"
        and str(event.get("STATUS", "CONFIRMED")) != "CANCELLED"
    )


def fill_row(page, person: str, pattern: str, start: str) -> None:
    form = page.locator("form[action$='/fill']")
    form.locator("select[name=post]").select_option(label=CENTRE)
    form.locator("select[name=person]").select_option(label=person)
    form.locator("input[name=pattern]").fill(pattern)
    form.locator("input[name=from]").fill(start)
    form.locator("button").click()
    page.wait_for_load_state()


def test_r1_a_full_month_of_25_people_prints_on_one_a4_landscape_page(
    desktop, login_as, live_server, artifacts
):
    """e-9 1: 31 days × 25 people, with the legend, the signature boxes and the QR code, on
    one A4 landscape page; a draft carries 草稿 across it."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": live_server.database_url, "SECRET_KEY": "x"})
    with app.app_context(), app.test_request_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        site = Site(code="PRINT", name="打印测试苑", timezone="Asia/Shanghai")
        posts = [Post(site=site, name=name) for name in ("客户服务中心", "监控室", "正门岗")]
        db.session.add_all([site, *posts])
        for code, name, segments in (("D", "白班", [[480, 1200]]), ("N", "夜班", [[1200, 1920]]),
                                     ("早", "早班", [[420, 900]])):  # fmt: skip
            db.session.add(ShiftTemplate(site=site, code=code, name=name, segments=segments))
        people = [User(username=f"print{n:02d}", display_name=f"值班员{n + 1:02d}",
                       password_hash="-", sites=[site]) for n in range(25)]  # fmt: skip
        db.session.add_all(people)
        db.session.commit()
        month = core.month_of(site, date(2031, 7, 1), create=True)
        context = core.context_of(site, date(2031, 7, 1))
        for index, person in enumerate(people):
            for offset, day in enumerate(core.month_days(date(2031, 7, 1))):
                code = ("D", "N", "", "早")[(offset + index) % 4]
                if code:
                    core.set_cell(month, by=admin, post=posts[index % 3], person=person, day=day,
                                  code=code, version=month.version, context=context,
                                  now=datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # this process's connections to the server's database

    office = desktop()
    login_as(office, "admin")
    office.goto("/s/PRINT/roster/2031-07/print")
    expect(office.locator(".sheet-grid tr.sheet-person")).to_have_count(25)
    expect(office.locator(".watermark")).to_be_visible()
    office.emulate_media(media="print")
    pdf = artifacts / "roster-25-people.pdf"
    pdf.write_bytes(office.pdf(prefer_css_page_size=True, print_background=True))
    assert pdf_page_count(pdf) == 1
    [(width, height)] = pdf_page_sizes(pdf)
    assert (round(width), round(height)) == (842, 595), (width, height)
    text = pdf_text(pdf, squeeze=True)
    for words in ("值班员01", "值班员25", "草稿", "编制", "审核", "批准", "夜班"):
        assert words in text, words
    pdf_page_images(pdf, dpi=70)[0].save(artifacts / "roster-25-1.png")


ROSTER_SAVED = """async (userId) => {
  const cache = await caches.open(`dutypwa-pages-${userId}`);
  return Boolean(await cache.match('/s/CUIHU/roster/mine', { ignoreVary: true }));
}"""


def test_the_published_roster_is_readable_offline(app_profile, login_as, shot):
    """Item 10: the phone keeps the person's published shifts (and this and next month's
    grid) without their being opened, and shows them with the network off."""
    page = start_app(app_profile, login_as, "1002")
    page.reload()  # a page after the reference data arrived tells the worker to save them
    wait_for_script(page, ROSTER_SAVED, user_id(page), what="the saved roster")
    page.context.set_offline(True)
    response = page.goto("/s/CUIHU/roster/mine")
    assert response.from_service_worker
    expect(page.locator("#my-roster .agenda-item").first).to_contain_text("客户服务中心")
    shot(page, "roster-05-my-roster-offline")
    page.context.set_offline(False)
