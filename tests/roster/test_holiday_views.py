"""The holiday calendar's pages (R3): who may look and who may change, seeding from the
page, entering, changing and deleting a day, confirming a year, and refused input (422,
nothing written)."""

import html
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.models import HolidayDay, HolidayYear
from dutypwa.roster.holidays import china_today, seed_year

HTMX = {"HX-Request": "true"}
NOTICE = {"notice_url": "https://www.gov.cn/zhengce/content/2025-11/04/notice.htm",
          "notice_date": "2025-11-04"}  # fmt: skip


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def as_admin(client, login, admin):
    login(admin)
    return client


@pytest.fixture
def seeded_2026(app):
    seed_year(2026)
    db.session.commit()


def text_of(response) -> str:
    """The page's text with its HTML entities read (an apostrophe is &#39;)."""
    return html.unescape(response.get_data(as_text=True))


def day_count() -> int:
    return db.session.scalar(select(func.count()).select_from(HolidayDay))


def test_r3_the_list_says_when_the_state_council_publishes(as_admin, seeded_2026):
    page = as_admin.get("/admin/holidays").get_data(as_text=True)
    this_year = china_today().year
    assert "each November" in page
    assert f"Seed 2010 to {this_year + 1} from the libraries" in page
    assert 'href="/admin/holidays/2026"' in page and "Published" in page
    assert f'href="/admin/holidays/{this_year + 1}"' in page  # next year, even if not entered
    assert "python-holidays 0.109, chinese-calendar 1.11.0" in page


@pytest.mark.parametrize("role", ["supervisor", "director"])
def test_r3_managers_may_look_but_not_change(client, login, make_user, seeded_2026, role):
    login(make_user(role))
    page = client.get("/admin/holidays/2026").get_data(as_text=True)
    section = page.split('<section id="holiday-year"')[1].split("</section>")[0]
    assert "2026-02-14" in section and "<form" not in section
    assert "Seed 2010" not in client.get("/admin/holidays").get_data(as_text=True)
    refused = client.post("/admin/holidays/2026/days/2026-10-05/delete")
    assert refused.status_code == 403
    assert db.session.get(HolidayDay, date(2026, 10, 5)) is not None


def test_r3_staff_may_not_look(client, login, make_user):
    login(make_user("staff"))
    assert client.get("/admin/holidays").status_code == 403
    assert client.get("/admin/holidays/2026").status_code == 403


def test_r3_seed_a_year_from_its_page(as_admin):
    response = as_admin.post("/admin/holidays/seed", data={"year": "2026"})
    assert response.status_code == 303 and response.location.endswith("/admin/holidays/2026")
    page = as_admin.get("/admin/holidays/2026").get_data(as_text=True)
    assert "2026: Published." in page
    assert db.session.get(HolidayYear, 2026).status == "published"
    assert day_count() == 39


def test_r3_seed_the_default_range_from_the_list(as_admin):
    response = as_admin.post("/admin/holidays/seed")
    assert response.status_code == 303 and response.location.endswith("/admin/holidays")
    this_year = china_today().year
    years = set(db.session.scalars(select(HolidayYear.year)))
    assert years == set(range(2010, this_year + 2))
    page = as_admin.get("/admin/holidays").get_data(as_text=True)
    assert f"Seeded 2010 to {this_year + 1} from the libraries." in page


def test_r3_seed_refuses_a_year_out_of_range(as_admin):
    response = as_admin.post("/admin/holidays/seed", data={"year": "1850"})
    assert response.status_code == 422
    assert "Give a year from 2000 to 2100." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(HolidayYear)) == 0


def test_r3_the_year_shows_its_days_by_holiday_with_badges(as_admin, seeded_2026):
    page = as_admin.get("/admin/holidays/2026").get_data(as_text=True)
    groups = re.findall(r"<h3>([^<]+) <small>", page)
    assert groups == ["New Year's Day", "Spring Festival", "Qingming Festival", "Labour Day",
                      "Dragon Boat Festival", "National Day", "Mid-Autumn Festival"]  # fmt: skip
    assert '<span class="day-badge day-makeup_workday">Work</span>' in page
    assert '<span class="day-badge day-statutory">Holiday</span>' in page
    assert '<span class="day-badge day-rest">Off</span>' in page
    assert "春节（调休上班）" in page and "swapped with 2026-02-20" in page
    assert page.count('<table class="month-grid">') == 12
    # The calendar's cell for 14 February carries the make-up badge.
    cell = (
        '<td class="weekend day-makeup_workday"><time datetime="2026-02-14">14</time>'
        '<span class="day-badge day-makeup_workday">Work</span></td>'
    )
    assert cell in page


def test_r3_the_year_page_speaks_chinese_by_default(client, login, admin, seeded_2026):
    del client.environ_base["HTTP_ACCEPT_LANGUAGE"]
    login(admin)
    page = client.get("/admin/holidays/2026").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "国庆节（补假）" in page


def test_r3_add_a_day_by_hand(as_admin):
    response = as_admin.post(
        "/admin/holidays/2027/days",
        data={"day": "2027-02-20", "kind": "makeup_workday", "holiday_code": "spring_festival",
              "name_zh": "", "substitutes_for": "2027-02-12", "note": "from the notice"},
    )  # fmt: skip
    assert response.status_code == 303
    row = db.session.get(HolidayDay, date(2027, 2, 20))
    assert (row.year, row.kind, row.holiday_code, row.name_zh, row.source) == (
        2027, "makeup_workday", "spring_festival", "春节", "manual")  # fmt: skip
    assert (row.substitutes_for, row.note) == (date(2027, 2, 12), "from the notice")
    assert db.session.get(HolidayYear, 2027).status == "unknown"  # until an admin confirms it
    page = as_admin.get("/admin/holidays/2027").get_data(as_text=True)
    assert "2027-02-20 added." in page and "entered by hand" in page


def test_r3_htmx_gets_the_year_section_back(as_admin, seeded_2026):
    response = as_admin.post(
        "/admin/holidays/2026/days/2026-10-07",
        data={"kind": "statutory", "holiday_code": "national_day", "name_zh": "国庆节",
              "note": "company decision"},
        headers=HTMX,
    )  # fmt: skip
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<section id="holiday-year"' in text and "<html" not in text
    assert "2026-10-07 saved." in text
    assert "HX-Request" in response.headers["Vary"]
    row = db.session.get(HolidayDay, date(2026, 10, 7))
    assert (row.kind, row.source, row.note) == ("statutory", "manual", "company decision")


def test_r3_delete_a_day(as_admin, seeded_2026):
    response = as_admin.post("/admin/holidays/2026/days/2026-10-07/delete")
    assert response.status_code == 303
    assert db.session.get(HolidayDay, date(2026, 10, 7)) is None
    missing = as_admin.post("/admin/holidays/2026/days/2026-10-07/delete")
    assert missing.status_code == 404
    wrong_year = as_admin.post("/admin/holidays/2025/days/2026-10-06/delete")
    assert wrong_year.status_code == 404
    assert db.session.get(HolidayDay, date(2026, 10, 6)) is not None


GOOD_DAY = {"day": "2026-12-31", "kind": "rest", "holiday_code": "new_year", "name_zh": "",
            "substitutes_for": "", "note": ""}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"day": "2026-02-30"}, "Give the date as YYYY-MM-DD"),
        ({"day": "31.12.2026"}, "Give the date as YYYY-MM-DD"),
        ({"day": ""}, "Give the date as YYYY-MM-DD"),
        ({"day": "2027-01-05"}, "2027-01-05 is not in 2026."),
        ({"kind": "holiday"}, "Choose the kind of day."),
        ({"holiday_code": "christmas"}, "Choose the holiday the day belongs to."),
        ({"substitutes_for": "someday"}, "Give the swapped day as YYYY-MM-DD"),
        ({"substitutes_for": "2026-12-31"}, "A day cannot be swapped with itself."),
        ({"note": "x" * 201}, "At most 200 characters."),
        ({"day": "2026-10-01"}, "2026-10-01 is in the calendar already"),
    ],
)
def test_r3_bad_input_is_refused_and_nothing_is_written(as_admin, seeded_2026, change, message):
    before = day_count()
    for headers in ({}, HTMX):
        response = as_admin.post(
            "/admin/holidays/2026/days", data={**GOOD_DAY, **change}, headers=headers
        )
        assert response.status_code == 422
        text = response.get_data(as_text=True)
        assert message in text and "Nothing was saved" in text
        assert ("<html" in text) is not bool(headers)  # htmx gets only the section
    assert day_count() == before
    assert db.session.get(HolidayDay, date(2026, 12, 31)) is None
    assert db.session.get(HolidayDay, date(2026, 10, 1)).source == "lib"


def test_r3_a_refused_change_keeps_the_day(as_admin, seeded_2026):
    response = as_admin.post(
        "/admin/holidays/2026/days/2026-10-05",
        data={"kind": "weekend", "holiday_code": "national_day", "note": "x"},
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Choose the kind of day." in text
    assert re.search(r'<details class="holiday-edit" open>\s*<summary>Change', text)
    row = db.session.get(HolidayDay, date(2026, 10, 5))
    assert (row.kind, row.source, row.note) == ("rest", "lib", "")


def test_r3_confirm_a_year_against_the_notice(as_admin, admin, seeded_2026):
    response = as_admin.post("/admin/holidays/2026/confirm", data=NOTICE)
    assert response.status_code == 303
    record = db.session.get(HolidayYear, 2026)
    assert (record.status, record.confirmed_by_id) == ("published", admin.id)
    assert (record.notice_url, record.notice_date) == (NOTICE["notice_url"], date(2025, 11, 4))
    assert record.confirmed_at is not None
    page = as_admin.get("/admin/holidays/2026").get_data(as_text=True)
    assert "2026 is confirmed as published." in page
    assert f"Confirmed by {admin.display_name} against the notice of 2025-11-04." in page
    assert "Seed 2026 from the libraries" not in page
    assert as_admin.post("/admin/holidays/seed", data={"year": "2026"}).status_code == 303
    again = text_of(as_admin.get("/admin/holidays/2026"))
    assert "2026 is confirmed by an administrator; seeding left it as it is." in again


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"notice_url": "www.gov.cn/notice"}, "starting with https://"),
        ({"notice_url": "javascript:alert(1)"}, "starting with https://"),
        ({"notice_date": "2025-13-01"}, "Give the notice's date as YYYY-MM-DD."),
        ({"notice_date": "tomorrow"}, "in the future"),
    ],
)
def test_r3_a_bad_confirmation_is_refused(as_admin, seeded_2026, change, message):
    if change.get("notice_date") == "tomorrow":  # by the frozen clock, not at collection
        change = {"notice_date": (china_today() + timedelta(days=1)).isoformat()}
    response = as_admin.post("/admin/holidays/2026/confirm", data={**NOTICE, **change})
    assert response.status_code == 422
    assert message in text_of(response)
    record = db.session.get(HolidayYear, 2026)
    assert record.confirmed_at is None and record.notice_url is None


def test_r3_a_year_without_statutory_days_cannot_be_confirmed(as_admin):
    response = as_admin.post("/admin/holidays/2031/confirm", data=NOTICE)
    assert response.status_code == 422
    assert "Enter the year's statutory holidays before confirming it." in text_of(response)
    assert db.session.get(HolidayYear, 2031) is None


def test_r3_years_outside_the_calendar_are_not_found(as_admin):
    assert as_admin.get("/admin/holidays/1999").status_code == 404
    assert as_admin.post("/admin/holidays/2101/days", data=GOOD_DAY).status_code == 404
    assert as_admin.post("/admin/holidays/2026/days/not-a-day").status_code == 404


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def test_r3_every_form_needs_the_csrf_token(as_admin, csrf_on, seeded_2026):
    page = as_admin.get("/admin/holidays/2026").get_data(as_text=True)
    forms = re.findall(r"<form .*?</form>", page, re.S)
    assert len(forms) > 40
    assert all('name="csrf_token"' in form for form in forms)
    refused = as_admin.post("/admin/holidays/2026/days", data=GOOD_DAY)
    assert refused.status_code == 400
    assert db.session.get(HolidayDay, date(2026, 12, 31)) is None
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    accepted = as_admin.post("/admin/holidays/2026/days", data={**GOOD_DAY, "csrf_token": token})
    assert accepted.status_code == 303
    assert db.session.get(HolidayDay, date(2026, 12, 31)).source == "manual"


def test_r3_the_more_menu_links_the_calendar(as_admin):
    page = as_admin.get("/admin/users").get_data(as_text=True)
    assert '<a href="/admin/holidays">Holidays</a>' in page
