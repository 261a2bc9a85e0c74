"""The holiday calendar (R3): seeding from python-holidays and chinese-calendar, the
cross-check, the 2026 calendar, unknown years, the library wrappers and the queries
(design: roster-design.md d-1, tests e-1)."""

import re
from datetime import date
from pathlib import Path

import chinese_calendar
import holidays as python_holidays
import pytest
from sqlalchemy import event, func, select

from dutypwa.extensions import db
from dutypwa.models import HolidayDay, HolidayYear
from dutypwa.roster.holidays import (
    add_day,
    badge,
    change_day,
    china_today,
    confirm_year,
    day_kind,
    delete_day,
    holidays_known,
    is_workday,
    kinds_between,
    library_calendar,
    seed_year,
    seed_years,
    year_banner,
    year_status,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def english(app):
    """Banners and badges are translated: they need a request, here an English one."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def calendar_rows() -> list[tuple]:
    rows = db.session.scalars(select(HolidayDay).order_by(HolidayDay.day))
    return [(r.day, r.year, r.kind, r.holiday_code, r.name_zh, r.substitutes_for, r.source,
             r.note) for r in rows]  # fmt: skip


@pytest.mark.parametrize("year", range(2010, 2027))
def test_r3_both_libraries_agree_on_every_rest_day(year):
    """R3, e-1 1: chinese-calendar's rest days are python-holidays' days plus weekends
    minus its make-up working days, every year from 2010 to 2026, so each seeds as
    published."""
    found = library_calendar(year)
    assert found.differences == []
    assert found.status == "published"
    assert "other" not in {day.holiday_code for day in found.days.values()}


@pytest.mark.parametrize("year", [2025, 2026])
def test_r3_thirteen_statutory_days_since_2025(app, year):
    """R3, e-1 2: 13 statutory days (not 补假, not 调休) since the 2024 revision."""
    seed_year(year)
    statutory = db.session.scalar(
        select(func.count()).where(HolidayDay.year == year, HolidayDay.kind == "statutory")
    )
    assert statutory == 13


def test_r3_the_2026_calendar(app):
    """R3, e-1 3: the 2026 days with many 调休, as the State Council published them."""
    assert seed_year(2026).status == "published"
    assert day_kind(date(2026, 2, 14)) == "makeup_workday" and is_workday(date(2026, 2, 14))
    for day in range(16, 20):  # 除夕 and the first three days of the year
        assert day_kind(date(2026, 2, day)) == "statutory"
        assert not is_workday(date(2026, 2, day))
    assert db.session.get(HolidayDay, date(2026, 2, 16)).name_zh == "农历除夕"
    assert day_kind(date(2026, 2, 20)) == day_kind(date(2026, 2, 23)) == "rest"
    assert db.session.get(HolidayDay, date(2026, 2, 20)).substitutes_for == date(2026, 2, 14)
    assert date(2026, 10, 3).weekday() == 5 and day_kind(date(2026, 10, 3)) == "statutory"
    observed = db.session.get(HolidayDay, date(2026, 10, 5))
    assert (observed.kind, observed.name_zh) == ("rest", "国庆节（补假）")
    assert observed.substitutes_for == date(2026, 10, 3)
    assert day_kind(date(2026, 1, 4)) == "makeup_workday" and is_workday(date(2026, 1, 4))
    assert day_kind(date(2026, 10, 10)) == "makeup_workday" and is_workday(date(2026, 10, 10))
    ordinary_saturday, ordinary_tuesday = date(2026, 3, 7), date(2026, 3, 10)
    assert day_kind(ordinary_saturday) is None and not is_workday(ordinary_saturday)
    assert day_kind(ordinary_tuesday) is None and is_workday(ordinary_tuesday)
    assert {row.holiday_code for row in db.session.scalars(select(HolidayDay))} == {
        "new_year", "spring_festival", "qingming", "labour_day", "dragon_boat", "mid_autumn",
        "national_day",
    }  # fmt: skip


def test_r3_a_year_the_libraries_do_not_know_is_estimated_never_an_error(app, english):
    """R3, e-1 4: chinese-calendar 1.11.0 stops at 2026; 2027 seeds as an estimate with
    the statutory days only, and holiday-dependent steps wait for it."""
    result = seed_year(2027)
    assert result.status in ("estimated", "unknown") and year_status(2027) == result.status
    kinds = set(db.session.scalars(select(HolidayDay.kind).where(HolidayDay.year == 2027)))
    assert kinds <= {"statutory"}
    assert not holidays_known(2027)
    assert "2027" in year_banner(2027)


def test_r3_a_year_nobody_entered_is_unknown(app, english):
    """R3, e-1 4: no row is no error: unknown, weekdays work, a banner, steps wait."""
    assert year_status(2031) == "unknown"
    assert day_kind(date(2031, 1, 1)) is None
    assert is_workday(date(2031, 1, 1))  # a Wednesday: only the weekday rule is left
    assert not is_workday(date(2031, 1, 4))  # a Saturday
    assert not holidays_known(2031)
    assert "not entered yet" in year_banner(2031)
    assert kinds_between(date(2031, 1, 1), date(2031, 1, 31)) == {}


def test_r3_the_unknown_year_through_the_view(client, login, make_user):
    """R3, e-1 4: the year's page of an unknown and of an estimated year renders with the
    banner, no exception reaches the person."""
    login(make_user("supervisor"))
    page = client.get("/admin/holidays/2031")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "holiday-banner" in text and "is not entered yet" in text
    assert "No days entered for 2031." in text
    seed_year(2027)
    db.session.commit()
    text = client.get("/admin/holidays/2027").get_data(as_text=True)
    assert "is estimated: statutory holidays only" in text
    assert client.get("/admin/holidays").status_code == 200


def test_r3_the_wrapper_turns_missing_calendar_data_into_an_estimate(app, monkeypatch):
    """R3, e-1 5: chinese-calendar's NotImplementedError is caught: the year falls back
    to python-holidays' statutory days."""

    def no_data(day):
        raise NotImplementedError(f"no available data for year {day.year}")

    monkeypatch.setattr(chinese_calendar, "get_holiday_detail", no_data)
    result = seed_year(2026)
    assert result.status == "estimated"
    kinds = list(db.session.scalars(select(HolidayDay.kind).where(HolidayDay.year == 2026)))
    assert kinds == ["statutory"] * 13


def test_r3_the_wrapper_turns_missing_library_data_into_unknown(app, monkeypatch):
    """R3, e-1 5: python-holidays raising NotImplementedError leaves the year unknown."""

    def no_data(*args, **kwargs):
        raise NotImplementedError("no China")

    monkeypatch.setattr(python_holidays, "China", no_data)
    assert seed_year(2026).status == "unknown"
    assert year_status(2026) == "unknown"
    assert db.session.scalar(select(func.count()).select_from(HolidayDay)) == 0


@pytest.mark.parametrize("library", ["chinese_calendar", "python_holidays"])
def test_r3_the_wrapper_does_not_swallow_other_errors(app, monkeypatch, library):
    """R3, e-1 5: only NotImplementedError means "no data"; anything else is a bug."""

    def broken(*args, **kwargs):
        raise ValueError("broken data")

    if library == "chinese_calendar":
        monkeypatch.setattr(chinese_calendar, "get_holiday_detail", broken)
    else:
        monkeypatch.setattr(python_holidays, "China", broken)
    with pytest.raises(ValueError, match="broken data"):
        seed_year(2026)


def test_r3_a_make_up_day_before_new_year_is_tied_to_the_next_year(app):
    """R3, e-1 6: 2011-12-31 (a Saturday) was worked for New Year 2012 (2012-01-03 off)."""
    seed_years([2011, 2012])
    row = db.session.get(HolidayDay, date(2011, 12, 31))
    assert (row.year, row.kind, row.holiday_code) == (2011, "makeup_workday", "new_year")
    assert row.substitutes_for == date(2012, 1, 3)
    assert db.session.get(HolidayDay, date(2012, 1, 3)).substitutes_for == date(2011, 12, 31)
    assert is_workday(date(2011, 12, 31))


FORBIDDEN = re.compile(
    r"Holiday\.days|chinese_calendar\.constants|chinese_calendar import constants"
)


def test_r3_only_the_seeding_module_reads_chinese_calendar_internals():
    """R3, e-1 8: `Holiday.days` is stale and `constants` is internal; only
    dutypwa/roster/holidays.py may talk to the library at all."""
    assert FORBIDDEN.search("from chinese_calendar.constants import holidays")
    allowed = {ROOT / "dutypwa" / "roster" / "holidays.py", Path(__file__).resolve()}
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("dutypwa", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if path not in allowed and FORBIDDEN.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_r3_seeding_twice_gives_the_same_rows(app):
    """R3: seeding is idempotent."""
    seed_years([2025, 2026, 2027])
    db.session.commit()
    first = calendar_rows()
    years = db.session.scalars(select(HolidayYear).order_by(HolidayYear.year)).all()
    assert [(y.year, y.status) for y in years] == [
        (2025, "published"), (2026, "published"), (2027, "estimated"),
    ]  # fmt: skip
    assert years[0].source_versions == {"holidays": "0.109", "chinese_calendar": "1.11.0"}
    seed_years([2025, 2026, 2027])
    db.session.commit()
    assert calendar_rows() == first


def test_r3_seeding_keeps_days_entered_by_hand(app):
    """R3: a changed or added day is the admin's; seeding never overwrites it."""
    seed_year(2026)
    changed = db.session.get(HolidayDay, date(2026, 10, 7))
    change_day(changed, kind="statutory", holiday_code="national_day", name_zh="国庆节",
               note="checked by hand")  # fmt: skip
    add_day(2026, day=date(2026, 12, 31), kind="rest", holiday_code="new_year",
            name_zh="元旦（调休）", note="company rest day")  # fmt: skip
    db.session.commit()
    before = calendar_rows()
    seed_year(2026)
    db.session.commit()
    assert calendar_rows() == before
    assert day_kind(date(2026, 10, 7)) == "statutory"
    assert db.session.get(HolidayDay, date(2026, 12, 31)).source == "manual"


def test_r3_seeding_leaves_a_confirmed_year_alone(app, english, make_user):
    """R3: an admin entered 2027 from the notice and confirmed it; later seeding (with a
    library that would estimate it) keeps every day, deletions included."""
    admin = make_user("admin")
    seed_year(2027)
    estimated = db.session.get(HolidayDay, date(2027, 2, 6))
    delete_day(estimated)
    add_day(2027, day=date(2027, 2, 20), kind="makeup_workday", holiday_code="spring_festival",
            name_zh="春节（调休上班）")  # fmt: skip
    confirm_year(2027, notice_url="https://www.gov.cn/notice-2027", notice_date=date(2026, 11, 5),
                 by=admin)  # fmt: skip
    db.session.commit()
    before = calendar_rows()
    result = seed_year(2027)
    db.session.commit()
    assert result.kept and result.status == "published"
    assert calendar_rows() == before
    assert db.session.get(HolidayDay, date(2027, 2, 6)) is None
    assert holidays_known(2027) and year_banner(2027) is None


def test_r3_kinds_between_is_one_query(app):
    """R3: a month grid's badges come from one query, not one per day."""
    seed_year(2026)
    db.session.commit()
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        kinds = kinds_between(date(2026, 9, 28), date(2026, 10, 11))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert kinds == {
        date(2026, 10, 1): "statutory", date(2026, 10, 2): "statutory",
        date(2026, 10, 3): "statutory", date(2026, 10, 4): "rest", date(2026, 10, 5): "rest",
        date(2026, 10, 6): "rest", date(2026, 10, 7): "rest",
        date(2026, 10, 10): "makeup_workday",
    }  # fmt: skip


def test_r3_badges(app, english):
    """R3: each kind of day has its own short badge (法 / 休 / 班 in Chinese); an
    ordinary day has none."""
    assert [badge("statutory"), badge("rest"), badge("makeup_workday")] == ["Holiday", "Off",
                                                                            "Work"]  # fmt: skip
    assert badge(None) == ""


def test_r3_cli_seeds_and_prints_each_years_status(runner):
    """R3: `flask holidays seed --from --to` prints the status each year got."""
    result = runner.invoke(args=["holidays", "seed", "--from", "2025", "--to", "2027"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["2025\tpublished", "2026\tpublished", "2027\testimated"]
    assert year_status(2026) == "published"
    again = runner.invoke(args=["holidays", "seed", "--from", "2026", "--to", "2026"])
    assert again.output.splitlines() == ["2026\tpublished"]
    backwards = runner.invoke(args=["holidays", "seed", "--from", "2027", "--to", "2026"])
    assert backwards.exit_code != 0


def test_r3_demo_seeds_this_year_and_next(runner):
    """R3: `flask seed-demo` enters the calendar so `make run` shows the badges."""
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    this_year = china_today().year
    years = set(db.session.scalars(select(HolidayYear.year)))
    assert years == {this_year, this_year + 1}
    assert db.session.scalar(select(func.count()).where(HolidayDay.year == this_year)) >= 13
