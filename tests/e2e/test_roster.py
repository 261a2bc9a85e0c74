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
import zxingcpp
from icalendar import Calendar
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa import create_app
from dutypwa.extensions import db
from dutypwa.models import (
    HolidayYear,
    Post,
    RosterEntry,
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


def test_r1_r3_r5_the_supervisor_builds_january_and_it_is_published_and_printed(
    desktop, phone, login_as, server_db, live_server, artifacts, shot
):
    # The administrator confirms 2027 against the State Council's notice (R3 needs it).
    admin = desktop()
    login_as(admin, "admin")
    admin.goto("/admin/holidays/2027")
    admin.locator("details:has(form[action$='/confirm']) > summary").click()
    confirm = admin.locator("form[action$='/confirm']")
    confirm.locator("input[name=notice_url]").fill("https://www.gov.cn/zhengce/2027-holidays.htm")
    confirm.locator("input[name=notice_date]").fill("2026-11-10")
    confirm.locator("button").click()
    expect(admin.locator("#holiday-year")).to_contain_text(re.compile(r"已发布|published", re.I))
    assert server_db.scalar(select(HolidayYear.status).where(HolidayYear.year == 2027)) == (
        "published"
    )

    # The supervisor starts January and fills the service centre from three rotations.
    office = desktop()
    login_as(office, "2001")
    office.goto(f"/s/{SITE}/roster/{MONTH}")
    expect(office.locator("#holiday-banner")).to_have_count(0)
    office.locator(f"form[action$='/roster/{MONTH}'] button").click()
    office.wait_for_load_state()
    for person, pattern in (("张伟", "D N -"), ("刘芳", "N - D"), ("陈杰", "- D N")):
        fill_row(office, person, pattern, "2027-01-01")
    expect(office.locator("thead .day-badge.day-statutory").first).to_be_visible()
    # R5: New Year's night from December is missing: the gap is listed with its times and
    # the coverage row shows it on the 1st; submitting is not offered.
    gap = office.locator("#roster-problems .problem-coverage_gap")
    expect(gap).to_have_count(1)
    expect(gap).to_contain_text("01-01 00:00")
    expect(gap).to_contain_text("01-01 08:00")
    centre_row = office.locator("tr.coverage-row").first
    expect(centre_row.locator("td.gap")).to_have_count(1)
    expect(office.locator("form[action$='/submit'] button")).to_be_disabled()
    shot(office, "roster-01-january-gap")

    # Closing it: December's roster gets 陈杰 on the night of the 31st, typed into the cell.
    office.goto(f"/s/{SITE}/roster/2026-12")
    start = office.locator("form[action$='/roster/2026-12'] button")
    if start.count():
        start.click()
        office.wait_for_load_state()
    add = office.locator("form[action$='/rows']")
    add.locator("select[name=post]").select_option(label=CENTRE)
    add.locator("select[name=person]").select_option(label="陈杰")
    add.locator("button").click()
    office.wait_for_load_state()
    row = office.locator("tr.person-row", has=office.locator("th", has_text="陈杰")).first
    cell = row.locator("td[id$='-2026-12-31'] input")
    cell.fill("N")
    cell.press("Tab")
    expect(row.locator("td[id$='-2026-12-31'] input")).to_have_value("N")
    expect(row.locator("td[id$='-2026-12-31']")).to_have_class(re.compile(r"\bfilled\b"))

    office.goto(f"/s/{SITE}/roster/{MONTH}")
    expect(office.locator("#roster-problems .problem-hard")).to_have_count(0)
    expect(office.locator("tr.coverage-row").first.locator("td.gap")).to_have_count(0)
    office.locator("form[action$='/submit'] button").click()
    office.wait_for_load_state()
    expect(office.locator("#roster-status")).to_have_text(re.compile(r"公司审核中|Company review"))
    assert roster_month(server_db, MONTH).requires_company_review

    # The director approves after the company's review; the supervisor publishes.
    director = desktop()
    login_as(director, "3001")
    director.goto(f"/s/{SITE}/roster/{MONTH}")
    director.locator("form[action$='/approve'] button").click()
    director.wait_for_load_state()
    expect(director.locator("#roster-status")).to_have_text(re.compile(r"已批准|Approved"))
    office.reload()
    office.locator("form[action$='/publish'] button").click()
    office.wait_for_load_state()
    expect(office.locator("#roster-status")).to_have_text(STATUS)
    month = roster_month(server_db, MONTH)
    assert month.reviewed_by_id == month.approved_by_id == server_db.user("3001").id
    new_year = server_db.scalar(
        select(RosterEntry).where(
            RosterEntry.month_id == month.id, RosterEntry.duty_date == date(2027, 1, 1)
        )
    )
    assert new_year.day_kind == "statutory"  # frozen at publishing

    # Printed: one A4 landscape page, no draft mark, the signature boxes, and a QR code of
    # the live roster with its version.
    office.goto(f"/s/{SITE}/roster/{MONTH}/print")
    expect(office.locator(".watermark")).to_have_count(0)
    office.emulate_media(media="print")
    pdf = artifacts / "roster-2027-01.pdf"
    pdf.write_bytes(office.pdf(prefer_css_page_size=True, print_background=True))
    assert pdf_page_count(pdf) == 1
    [(width, height)] = pdf_page_sizes(pdf)
    assert (round(width), round(height)) == (842, 595), (width, height)  # A4 landscape
    text = pdf_text(pdf)
    for words in ("值班安排表", "翠湖花园", "审核", "批准", "编制", "张伟"):
        assert words in text, words
    assert "草稿" not in text
    [image] = pdf_page_images(pdf, dpi=200)
    codes = [b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
    assert codes == [f"{live_server.url}/s/{SITE}/roster/{MONTH}?v={month.version}"], codes
    office.emulate_media(media="screen")

    # 张伟 sees his New Year's Day shift on his phone.
    staff = phone()
    login_as(staff, "1001")
    staff.goto(f"/s/{SITE}/roster/mine")
    first = staff.locator("#my-roster .agenda-item", has_text="01-01")
    expect(first).to_contain_text("白班")
    expect(first.locator(".day-badge.day-statutory")).to_be_visible()
    shot(staff, "roster-02-my-roster-phone")

    # R4: 张伟 asks on his phone to trade his night of 5 January for 陈杰's day shift that
    # day; nothing changes until the supervisor approves.
    calendar = staff.context.request.get(f"/s/{SITE}/roster/{MONTH}.ics")
    assert calendar.ok and "BEGIN:VCALENDAR" in calendar.text()
    # His phone's calendar subscribes to his private feed (no login: the secret link).
    staff.goto(f"/s/{SITE}/roster/calendar")
    staff.locator("#calendar-feed form button[type=submit]").first.click()
    feed_url = staff.locator("#calendar-feed input.feed-url").input_value()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/ics/[^/]+\.ics", feed_url), feed_url
    feed_before = staff.context.request.get(feed_url, headers={"Cookie": ""}).text()
    staff.goto(f"/s/{SITE}/roster/mine")
    night = staff.locator("#my-roster .agenda-item", has_text="01-05")
    expect(night).to_contain_text("夜班")
    night.locator("a.agenda-ask").click()
    staff.locator(".request-kinds a", has_text=re.compile(r"换班|Swap")).click()
    swap = staff.locator("#request-form select[name=counterpart_entry]")
    option = swap.locator("option", has_text=re.compile(r"01-05 D .*陈杰"))
    swap.select_option(option.get_attribute("value"))
    staff.fill("#request-form textarea[name=reason]", "5日晚上家中有事，与陈杰对调")
    staff.locator("#request-form button[type=submit]").click()
    expect(staff.locator("#request-done, .request-done").first).to_be_visible()
    shot(staff, "roster-03-swap-asked")
    zhang, chen = server_db.user("1001"), server_db.user("1003")

    def shift_of(person) -> str:
        entry = server_db.scalar(
            select(RosterEntry).where(
                RosterEntry.month_id == month.id,
                RosterEntry.duty_date == date(2027, 1, 5),
                RosterEntry.status == "planned",
                RosterEntry.user_id == person.id,
            )
        )
        return entry.start_at.strftime("%H:%M")  # UTC: 00:00 the day shift, 12:00 the night

    assert (shift_of(zhang), shift_of(chen)) == ("12:00", "00:00")  # asking changed nothing

    office.goto(f"/s/{SITE}/roster/requests/inbox")
    card = office.locator(".request-card", has_text="张伟")
    expect(card).to_contain_text("陈杰")
    card.locator("form[action$='/approve'] button[type=submit]").click()
    expect(office.locator(".request-card", has_text="张伟")).to_have_class(
        re.compile(r"status-approved")
    )
    shot(office, "roster-04-swap-approved")
    assert (shift_of(zhang), shift_of(chen)) == ("00:00", "12:00")

    # Both see the change: 张伟's roster, 陈杰's, and 张伟's calendar file.
    staff.goto(f"/s/{SITE}/roster/mine")
    expect(staff.locator("#my-roster .agenda-item", has_text="01-05")).to_contain_text("白班")
    other = phone()
    login_as(other, "1003")
    other.goto(f"/s/{SITE}/roster/mine")
    expect(other.locator("#my-roster .agenda-item", has_text="01-05")).to_contain_text("夜班")
    after = staff.context.request.get(f"/s/{SITE}/roster/{MONTH}.ics").text()
    assert starts_on_the_5th(calendar.text()) == ["20:00"]
    assert starts_on_the_5th(after) == ["08:00"]
    feed_after = staff.context.request.get(feed_url).text()
    assert starts_on_the_5th(feed_before) == ["20:00"]
    assert starts_on_the_5th(feed_after) == ["08:00"]
    # The replaced night stays in the feed as cancelled, with a higher SEQUENCE.
    cancelled = [e for e in Calendar.from_ical(feed_after).walk("VEVENT")
                 if str(e.get("STATUS")) == "CANCELLED"]  # fmt: skip
    assert [int(e["SEQUENCE"]) for e in cancelled] == [1]


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
