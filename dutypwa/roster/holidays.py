"""The holiday calendar (R3): our own table of statutory holidays, rest days (调休/补假) and
make-up working days (调休上班), seeded from python-holidays and chinese-calendar — the only
module that calls them — and cross-checked; a year is "published" only when both agree.
The roster asks the queries at the bottom; a year nobody knows is "unknown", never an error.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays as python_holidays
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import HOLIDAY_CODES, HolidayDay, HolidayYear, User, utcnow

FIRST_SEEDED_YEAR = 2010
CHINA = ZoneInfo("Asia/Shanghai")

# python-holidays names (zh_CN) of the statutory days, of the extra days of 2020, and the
# shapes of its 补假 and 调休 names; an estimate of a year it does not know ends in （推定）.
LIBRARY_NAMES = {
    "元旦": "new_year",
    "春节": "spring_festival",
    "农历除夕": "spring_festival",
    "清明节": "qingming",
    "劳动节": "labour_day",
    "端午节": "dragon_boat",
    "中秋节": "mid_autumn",
    "国庆节": "national_day",
    "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日": "victory_day_70",
}
EXTENDED_NAMES = {"春节延长假期": "spring_festival"}
SUBSTITUTED = re.compile(r"休息日（由 (\d{4}-\d{2}-\d{2}) 调休）")
OBSERVED_SUFFIXES = ("（补假）", "（补假，推定）")
ESTIMATED_SUFFIX = "（推定）"
# chinese-calendar's names of the holiday a rest day or make-up working day belongs to.
CALENDAR_NAMES = {
    "New Year's Day": "new_year",
    "Spring Festival": "spring_festival",
    "Tomb-sweeping Day": "qingming",
    "Labour Day": "labour_day",
    "Dragon Boat Festival": "dragon_boat",
    "Mid-autumn Festival": "mid_autumn",
    "National Day": "national_day",
    "Anti-Fascist 70th Day": "victory_day_70",
}

KIND_LABELS = {
    "statutory": _l("Statutory holiday"),
    "rest": _l("Rest day"),
    "makeup_workday": _l("Make-up working day"),
}
# The badge on a roster day: 法 / 休 / 班 in Chinese.
BADGES = {"statutory": _l("Holiday"), "rest": _l("Off"), "makeup_workday": _l("Work")}
STATUS_LABELS = {
    "published": _l("Published"),
    "estimated": _l("Estimated"),
    "unknown": _l("Not entered"),
}
HOLIDAY_LABELS = {
    "new_year": _l("New Year's Day"),
    "spring_festival": _l("Spring Festival"),
    "qingming": _l("Qingming Festival"),
    "labour_day": _l("Labour Day"),
    "dragon_boat": _l("Dragon Boat Festival"),
    "mid_autumn": _l("Mid-Autumn Festival"),
    "national_day": _l("National Day"),
    "victory_day_70": _l("Victory Day (70th anniversary)"),
    "other": _l("Other"),
}


@dataclass(frozen=True)
class SeededDay:
    kind: str
    holiday_code: str
    name_zh: str
    substitutes_for: date | None = None


@dataclass
class LibraryYear:
    """What the two libraries say about one year, cross-checked."""

    year: int
    status: str
    days: dict[date, SeededDay] = field(default_factory=dict)
    differences: list[date] = field(default_factory=list)  # rest in one library, work in the other


@dataclass
class SeedResult:
    year: int
    status: str
    differences: list[date]
    kept: bool = False  # an admin confirmed the year, so seeding left it alone

    def line(self) -> str:
        """One line for the command line (English, like the other commands)."""
        text = f"{self.year}\t{self.status}"
        if self.kept:
            text += " (confirmed by an admin; kept)"
        if self.differences:
            shown = ", ".join(day.isoformat() for day in self.differences[:5])
            text += f" (the libraries disagree on {shown})"
        return text


def china_today() -> date:
    return datetime.now(CHINA).date()


def default_years(today: date | None = None) -> range:
    """2010 to next year: the State Council publishes next year's arrangement in November."""
    today = today or china_today()
    return range(FIRST_SEEDED_YEAR, today.year + 2)


def library_versions() -> dict:
    return {
        "holidays": python_holidays.__version__,
        "chinese_calendar": chinese_calendar.__version__,
    }


def _days_of(year: int):
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


def _library_holidays(year: int) -> tuple[dict[date, str], set[date]] | None:
    """python-holidays' named days of `year` and the years around it (a New Year swap can
    cross the year's end) and its make-up working days; None when it knows nothing."""
    try:
        calendar = python_holidays.China(years=range(year - 1, year + 2), language="zh_CN")
        named = dict(calendar.items())
        weekend_workdays = set(calendar.weekend_workdays)
    except NotImplementedError:
        return None
    if not any(day.year == year for day in named):
        return None
    return named, weekend_workdays


def _calendar_details(year: int) -> dict[date, tuple[bool, str | None]] | None:
    """chinese-calendar's (rest day?, holiday name) for every day of `year`; None for a year
    it has no data for (it raises NotImplementedError then; anything else is a real error)."""
    try:
        return {day: chinese_calendar.get_holiday_detail(day) for day in _days_of(year)}
    except NotImplementedError:
        return None


def _read_name(name: str) -> tuple[str, str | None, date | None]:
    """(kind, holiday code, swapped-with date) of one python-holidays name; "observed" is
    a 补假 day, a rest day paired with its statutory day later."""
    if match := SUBSTITUTED.fullmatch(name):
        return "rest", None, date.fromisoformat(match[1])
    for suffix in OBSERVED_SUFFIXES:
        if name.endswith(suffix):
            return "observed", LIBRARY_NAMES.get(name.removesuffix(suffix), "other"), None
    name = name.removesuffix(ESTIMATED_SUFFIX)
    if name in EXTENDED_NAMES:
        return "rest", EXTENDED_NAMES[name], None
    if name in LIBRARY_NAMES:
        return "statutory", LIBRARY_NAMES[name], None
    # A name this module does not know yet: a day off; the cross-check still compares it.
    return "rest", "other", None


def _read_label(label: str) -> tuple[str, str | None, date | None, str]:
    """(kind, code, swapped-with date, Chinese name) of a day's label, which names two
    holidays when they fall together ("中秋节; 国庆节")."""
    names = [name.removesuffix(ESTIMATED_SUFFIX) for name in label.split("; ")]
    readings = [_read_name(name) for name in names]
    statutory = [
        name for name, reading in zip(names, readings, strict=True) if reading[0] == "statutory"
    ]
    if statutory:
        return "statutory", _read_name(statutory[0])[1], None, "、".join(statutory)
    kind, code, swapped = readings[0]
    return kind, code, swapped, names[0]


def _observed_pairs(readings: dict) -> dict[date, date]:
    """Each 补假 day and the statutory day on a weekend it makes up for, in date order
    within one holiday of one year."""
    weekend_days, observed_days = defaultdict(list), defaultdict(list)
    for day in sorted(readings):
        kind, code = readings[day][:2]
        if kind == "statutory" and day.weekday() >= 5:
            weekend_days[day.year, code].append(day)
        elif kind == "observed":
            observed_days[day.year, code].append(day)
    pairs = {}
    for key, days in observed_days.items():
        # A 补假 day with no weekend statutory day left (2020's extension) pairs with none.
        pairs.update(zip(days, weekend_days[key], strict=False))
    return pairs


def _differences(year, named, weekend_workdays, details) -> list[date]:
    """The days of `year` one library calls a rest day and the other a working day."""
    library_rest = {
        day
        for day in _days_of(year)
        if (day in named or day.weekday() >= 5) and day not in weekend_workdays
    }
    calendar_rest = {day for day, (rest, _name) in details.items() if rest}
    return sorted(library_rest ^ calendar_rest)


def _published_days(readings: dict, details: dict) -> dict[date, SeededDay]:
    """Every special day of a year both libraries agree on: statutory and 补假 days from
    python-holidays, rest and make-up days from chinese-calendar (which also names the
    weekend days inside a holiday, so a month shows the whole break)."""
    paid_by = {swapped: day for day, (_k, _c, swapped, _n) in readings.items() if swapped}
    observed_for = _observed_pairs(readings)
    days = {}
    for day, (rest, calendar_name) in details.items():
        code = CALENDAR_NAMES.get(calendar_name, "other") if calendar_name else None
        if day in readings:
            kind, library_code, swapped, name = readings[day]
            code = code or library_code or "other"
            if kind == "statutory":
                days[day] = SeededDay("statutory", code, name)
            elif kind == "observed":
                days[day] = SeededDay("rest", code, name, observed_for.get(day))
            elif swapped:
                days[day] = SeededDay("rest", code, f"{HOLIDAY_CODES[code]}（调休）", swapped)
            else:
                days[day] = SeededDay("rest", code, name)
        elif code and rest:
            days[day] = SeededDay("rest", code, HOLIDAY_CODES[code])
        elif code:
            name = f"{HOLIDAY_CODES[code]}（调休上班）"
            days[day] = SeededDay("makeup_workday", code, name, paid_by.get(day))
    return days


def library_calendar(year: int) -> LibraryYear:
    """Both libraries on `year`, cross-checked: published when both know it and agree on
    every rest day; estimated (statutory days only) when only python-holidays has it, as
    it makes up a rule-based year with no make-up days; otherwise unknown."""
    library = _library_holidays(year)
    details = _calendar_details(year)
    if library is None:
        return LibraryYear(year, "unknown")
    named, weekend_workdays = library
    readings = {day: _read_label(label) for day, label in named.items()}
    statutory = {
        day: SeededDay("statutory", code, name)
        for day, (kind, code, _swapped, name) in readings.items()
        if kind == "statutory" and day.year == year
    }
    if details is None:
        return LibraryYear(year, "estimated", statutory)
    differences = _differences(year, named, weekend_workdays, details)
    if differences:
        return LibraryYear(year, "estimated", statutory, differences)
    return LibraryYear(year, "published", _published_days(readings, details))


def seed_year(year: int) -> SeedResult:
    """Bring one year in line with the libraries. Idempotent; a year an admin confirmed
    and any day entered by hand stay as they are."""
    found = library_calendar(year)
    record = db.session.get(HolidayYear, year)
    if record is not None and record.confirmed:
        return SeedResult(year, record.status, found.differences, kept=True)
    if record is None:
        record = HolidayYear(year=year)
        db.session.add(record)
    record.status = found.status
    record.source_versions = library_versions()
    rows = db.session.scalars(select(HolidayDay).where(HolidayDay.year == year))
    existing = {row.day: row for row in rows}
    for day, row in existing.items():
        if row.source == "lib" and day not in found.days:
            db.session.delete(row)
    for day, seeded in found.days.items():
        row = existing.get(day)
        if row is None:
            row = HolidayDay(day=day, year=year, source="lib", note="")
            db.session.add(row)
        elif row.source == "manual":
            continue
        row.kind, row.holiday_code = seeded.kind, seeded.holiday_code
        row.name_zh, row.substitutes_for = seeded.name_zh, seeded.substitutes_for
    db.session.flush()
    return SeedResult(year, found.status, found.differences)


def seed_years(years) -> list[SeedResult]:
    return [seed_year(year) for year in years]


def _year_record(year: int) -> HolidayYear:
    record = db.session.get(HolidayYear, year)
    if record is None:
        record = HolidayYear(year=year, status="unknown", source_versions={})
        db.session.add(record)
    return record


def add_day(
    year: int, *, day: date, kind: str, holiday_code: str, name_zh: str,
    substitutes_for: date | None = None, note: str = "",
) -> HolidayDay:  # fmt: skip
    """An admin enters a day by hand; seeding never overwrites it."""
    if day.year != year:
        raise DomainError(_("%(day)s is not in %(year)d.", day=day.isoformat(), year=year))
    if db.session.get(HolidayDay, day) is not None:
        raise DomainError(
            _("%(day)s is in the calendar already; change that day instead.", day=day.isoformat())
        )
    _year_record(year)
    row = HolidayDay(day=day, year=year, source="manual")
    db.session.add(row)
    change_day(row, kind=kind, holiday_code=holiday_code, name_zh=name_zh,
               substitutes_for=substitutes_for, note=note)  # fmt: skip
    return row


def change_day(
    row: HolidayDay, *, kind: str, holiday_code: str, name_zh: str,
    substitutes_for: date | None = None, note: str = "",
) -> HolidayDay:  # fmt: skip
    """A changed day becomes the admin's: the next seeding keeps it."""
    row.kind, row.holiday_code, row.name_zh = kind, holiday_code, name_zh
    row.substitutes_for, row.note, row.source = substitutes_for, note, "manual"
    db.session.flush()
    return row


def delete_day(row: HolidayDay) -> None:
    """Until the year is confirmed, the next seeding brings back a day the libraries know."""
    db.session.delete(row)
    db.session.flush()


def confirm_year(year: int, *, notice_url: str, notice_date: date, by: User) -> HolidayYear:
    """An admin has checked the year against the State Council's notice: published, and
    seeding leaves it alone from now on."""
    statutory = db.session.scalar(
        select(func.count())
        .select_from(HolidayDay)
        .where(HolidayDay.year == year, HolidayDay.kind == "statutory")
    )
    if not statutory:
        raise DomainError(_("Enter the year's statutory holidays before confirming it."))
    record = _year_record(year)
    record.status = "published"
    record.notice_url, record.notice_date = notice_url, notice_date
    record.confirmed_by_id, record.confirmed_at = by.id, utcnow()
    db.session.flush()
    return record


def years_overview(today: date) -> list[tuple[int, HolidayYear | None, int]]:
    """(year, its record or None, how many days) for every year in the table and for this
    year and next, newest first."""
    records = {
        record.year: record
        for record in db.session.scalars(
            select(HolidayYear).options(selectinload(HolidayYear.confirmed_by))
        )
    }
    counts = dict(
        db.session.execute(select(HolidayDay.year, func.count()).group_by(HolidayDay.year)).all()
    )
    years = sorted({*records, today.year, today.year + 1}, reverse=True)
    return [(year, records.get(year), counts.get(year, 0)) for year in years]


def year_status(year: int) -> str:
    """published / estimated / unknown; a year not in the table is unknown."""
    status = db.session.scalar(select(HolidayYear.status).where(HolidayYear.year == year))
    return status or "unknown"


def holidays_known(year: int) -> bool:
    """Steps that depend on holidays (holiday review, comp-time classification) wait
    until this is true."""
    return year_status(year) == "published"


def year_banner(year: int) -> str | None:
    """The banner above a roster month of `year` whose holidays are not known; None when
    they are."""
    status = year_status(year)
    if status == "published":
        return None
    if status == "estimated":
        return _(
            "The holiday arrangement for %(year)d is estimated: statutory holidays only, "
            "without rest days or make-up working days. Steps that depend on holidays wait "
            "until an administrator confirms it.",
            year=year,
        )
    return _(
        "The holiday arrangement for %(year)d is not entered yet (the State Council usually "
        "publishes it in November). Steps that depend on holidays wait until an "
        "administrator enters it.",
        year=year,
    )


def day_kind(day: date) -> str | None:
    """statutory / rest / makeup_workday, or None for an ordinary day."""
    return db.session.scalar(select(HolidayDay.kind).where(HolidayDay.day == day))


def works(day: date, kind: str | None) -> bool:
    """R3: a make-up working day is worked, a statutory holiday or rest day is not, any
    other day is a workday from Monday to Friday."""
    if kind is None:
        return day.weekday() < 5
    return kind == "makeup_workday"


def is_workday(day: date) -> bool:
    return works(day, day_kind(day))


def kinds_between(start: date, end: date) -> dict[date, str]:
    """The special days from `start` to `end`, both included, in one query: a month
    grid's badges."""
    rows = db.session.execute(
        select(HolidayDay.day, HolidayDay.kind).where(HolidayDay.day.between(start, end))
    )
    return dict(rows.all())


def badge(kind: str | None) -> str:
    """法 / 休 / 班 for a special day; empty for an ordinary one."""
    return str(BADGES[kind]) if kind in BADGES else ""
