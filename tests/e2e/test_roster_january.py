"""The monthly roster's story in Chromium, as issue 6's done-when tells it: the
administrator confirms next year's holiday arrangement; the supervisor builds January (New
Year's Day, R3), sees the gap at the service centre where December's last night is missing
(R5) and closes it; submits; the director approves after company review; it is published
and printed on one A4 landscape page whose QR code opens the live roster (R1); a staff
member sees the shifts on a phone and swaps one (R4).

The story happens at one time of year — in late November, when December is not rostered
yet and 5 January is within a phone's agenda — so it runs on a demo server of its own
whose clock starts on the next 27 November (it once read the real date and failed from
December on).
"""

import re
from datetime import date, datetime, time

import pytest
import zxingcpp
from icalendar import Calendar
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa.models import HolidayYear, RosterEntry
from tests import clock
from tests.e2e.conftest import (
    ServerDB,
    pdf_page_count,
    pdf_page_images,
    pdf_page_sizes,
    pdf_text,
    serve_demo,
)
from tests.e2e.test_roster import (
    CENTRE,
    SITE,
    STATUS,
    fill_row,
    roster_month,
    starts_on_the_5th,
)

pytestmark = pytest.mark.e2e


def story_start(real_now: datetime) -> datetime:
    """10:00 China time on the first 27 November not before the real now."""
    real_now = real_now.astimezone(clock.CHINA)
    year = real_now.year
    while datetime.combine(date(year, 11, 27), time(10), clock.CHINA) < real_now:
        year += 1
    return datetime.combine(date(year, 11, 27), time(10), clock.CHINA)


STORY_START = story_start(datetime.now(clock.CHINA))
YEAR = STORY_START.year + 1
MONTH = f"{YEAR}-01"
DECEMBER = f"{YEAR - 1}-12"


@pytest.fixture(scope="module")
def live_server(_browser_available, tmp_path_factory, artifacts):
    with serve_demo(tmp_path_factory, artifacts, "roster-story", now=STORY_START) as server:
        yield server


@pytest.fixture(scope="module")
def server_db(live_server):
    db = ServerDB(live_server.database_url)
    yield db
    db.engine.dispose()


def test_the_story_starts_on_the_next_27_november():
    at = datetime(2026, 12, 7, 3, 40, tzinfo=clock.CHINA)
    assert story_start(at) == datetime(2027, 11, 27, 10, tzinfo=clock.CHINA)
    at = datetime(2026, 11, 20, 9, tzinfo=clock.CHINA)
    assert story_start(at) == datetime(2026, 11, 27, 10, tzinfo=clock.CHINA)
    assert STORY_START.month == 11 and datetime.now(clock.CHINA) <= STORY_START


def test_r1_r3_r5_the_supervisor_builds_january_and_it_is_published_and_printed(
    desktop, phone, login_as, server_db, live_server, artifacts, shot
):
    # The administrator confirms the year against the State Council's notice (R3 needs it).
    admin = desktop()
    login_as(admin, "admin")
    admin.goto(f"/admin/holidays/{YEAR}")
    admin.locator("details:has(form[action$='/confirm']) > summary").click()
    confirm = admin.locator("form[action$='/confirm']")
    confirm.locator("input[name=notice_url]").fill(
        f"https://www.gov.cn/zhengce/{YEAR}-holidays.htm"
    )
    confirm.locator("input[name=notice_date]").fill(f"{YEAR - 1}-11-10")
    confirm.locator("button").click()
    expect(admin.locator("#holiday-year")).to_contain_text(re.compile(r"已发布|published", re.I))
    assert server_db.scalar(select(HolidayYear.status).where(HolidayYear.year == YEAR)) == (
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
        fill_row(office, person, pattern, f"{YEAR}-01-01")
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
    office.goto(f"/s/{SITE}/roster/{DECEMBER}")
    start = office.locator(f"form[action$='/roster/{DECEMBER}'] button")
    if start.count():
        start.click()
        office.wait_for_load_state()
    add = office.locator("form[action$='/rows']")
    add.locator("select[name=post]").select_option(label=CENTRE)
    add.locator("select[name=person]").select_option(label="陈杰")
    add.locator("button").click()
    office.wait_for_load_state()
    row = office.locator("tr.person-row", has=office.locator("th", has_text="陈杰")).first
    cell = row.locator(f"td[id$='-{DECEMBER}-31'] input")
    cell.fill("N")
    cell.press("Tab")
    expect(row.locator(f"td[id$='-{DECEMBER}-31'] input")).to_have_value("N")
    expect(row.locator(f"td[id$='-{DECEMBER}-31']")).to_have_class(re.compile(r"\bfilled\b"))

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
            RosterEntry.month_id == month.id, RosterEntry.duty_date == date(YEAR, 1, 1)
        )
    )
    assert new_year.day_kind == "statutory"  # frozen at publishing

    # Printed: one A4 landscape page, no draft mark, the signature boxes, and a QR code of
    # the live roster with its version.
    office.goto(f"/s/{SITE}/roster/{MONTH}/print")
    expect(office.locator(".watermark")).to_have_count(0)
    office.emulate_media(media="print")
    pdf = artifacts / f"roster-{MONTH}.pdf"
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
                RosterEntry.duty_date == date(YEAR, 1, 5),
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
