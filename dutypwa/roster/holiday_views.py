"""The holiday calendar's pages (R3): every year with its status, and a year's days grouped
by holiday and on a month calendar with 法 / 休 / 班 badges. Each November, when the State
Council publishes next year's arrangement, an admin seeds it from the libraries, enters or
corrects days by hand and confirms the year against the notice. Supervisors and directors
may look (they build rosters on it); only an admin changes anything.
"""

import calendar
import re
from collections import defaultdict
from datetime import date

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from dutypwa.access import roles_required
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import is_htmx, render
from dutypwa.models import HOLIDAY_CODES, HOLIDAY_KINDS, MANAGERS, HolidayDay, HolidayYear
from dutypwa.roster import holidays

bp = Blueprint("holidays", __name__, url_prefix="/admin/holidays")
# Roster pages show the same badges: {{ holiday_badge(kind) }}.
bp.add_app_template_global(holidays.badge, "holiday_badge")

YEARS = range(2000, 2101)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
NOTICE_URL = re.compile(r"https?://\S+")


def _date(raw: str | None) -> date | None:
    raw = (raw or "").strip()
    if not ISO_DATE.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _checked_year(year: int) -> int:
    if year not in YEARS:
        abort(404, description=_("The holiday calendar covers the years 2000 to 2100."))
    return year


def _day_or_404(year: int, raw: str) -> HolidayDay:
    day = _date(raw)
    row = db.session.get(HolidayDay, day) if day else None
    if row is None or row.year != year:
        abort(404, description=_("That day is not in the holiday calendar."))
    return row


def parse_day(form, year: int, *, day: date | None = None) -> tuple[dict, dict]:
    """A day's form, checked: (values, errors by field). A new day reads its date too."""
    errors: dict[str, str] = {}
    values: dict = {}
    if day is None:
        day = _date(form.get("day"))
        if day is None:
            errors["day"] = _("Give the date as YYYY-MM-DD, for example %(example)s.",
                              example=f"{year}-10-01")  # fmt: skip
        elif day.year != year:
            errors["day"] = _("%(day)s is not in %(year)d.", day=day.isoformat(), year=year)
        values["day"] = day
    kind = form.get("kind", "")
    if kind not in HOLIDAY_KINDS:
        errors["kind"] = _("Choose the kind of day.")
    code = form.get("holiday_code", "")
    if code not in HOLIDAY_CODES:
        errors["holiday_code"] = _("Choose the holiday the day belongs to.")
    name_zh = (form.get("name_zh") or "").strip() or HOLIDAY_CODES.get(code, "")
    if len(name_zh) > 100:
        errors["name_zh"] = _("At most %(n)d characters.", n=100)
    substitutes_for = None
    if (form.get("substitutes_for") or "").strip():
        substitutes_for = _date(form["substitutes_for"])
        if substitutes_for is None:
            errors["substitutes_for"] = _("Give the swapped day as YYYY-MM-DD, or leave it empty.")
        elif substitutes_for == day:
            errors["substitutes_for"] = _("A day cannot be swapped with itself.")
    note = (form.get("note") or "").strip()
    if len(note) > 200:
        errors["note"] = _("At most %(n)d characters.", n=200)
    values.update(kind=kind, holiday_code=code, name_zh=name_zh,
                  substitutes_for=substitutes_for, note=note)  # fmt: skip
    return values, errors


def parse_notice(form) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    url = (form.get("notice_url") or "").strip()
    if not NOTICE_URL.fullmatch(url) or len(url) > 500:
        errors["notice_url"] = _("Give the address of the notice, starting with https://.")
    notice_date = _date(form.get("notice_date"))
    if notice_date is None:
        errors["notice_date"] = _("Give the notice's date as YYYY-MM-DD.")
    elif notice_date > holidays.china_today():
        errors["notice_date"] = _("The notice's date cannot be in the future.")
    return {"notice_url": url, "notice_date": notice_date}, errors


def _year_context(year: int, **extra) -> dict:
    record = db.session.get(HolidayYear, year)
    rows = db.session.scalars(
        select(HolidayDay).where(HolidayDay.year == year).order_by(HolidayDay.day)
    ).all()
    groups = defaultdict(list)  # by holiday, in the order of each one's first day
    for row in rows:
        groups[row.holiday_code].append(row)
    month_days = calendar.Calendar(firstweekday=calendar.MONDAY)
    return {
        "year": year,
        "record": record,
        "year_status": record.status if record else "unknown",
        "banner": holidays.year_banner(year),
        "groups": groups,
        "kinds": {row.day: row.kind for row in rows},
        "months": [month_days.monthdatescalendar(year, month) for month in range(1, 13)],
        "labels": _labels(),
        "errors": {},
        "failed": None,
        "notice": None,
        **extra,
    }


def _labels() -> dict:
    return {
        "kinds": holidays.KIND_LABELS,
        "statuses": holidays.STATUS_LABELS,
        "holidays": holidays.HOLIDAY_LABELS,
        "names": HOLIDAY_CODES,
    }


def _answer(year: int, errors: dict, failed: str | None, notice: str):
    """After a write: the year's section for htmx (422 with the errors when refused), a
    redirect back to the year otherwise."""
    if errors:
        db.session.rollback()
        context = _year_context(year, errors=errors, failed=failed)
        return render("holidays/year.html", "holidays/_year.html", status=422, **context)
    db.session.commit()
    if is_htmx():
        return render("holidays/_year.html", **_year_context(year, notice=notice))
    flash(notice)
    return redirect(url_for("holidays.year", year=year), 303)


@bp.get("")
@roles_required(*MANAGERS)
def index():
    today = holidays.china_today()
    return render(
        "holidays/index.html",
        years=holidays.years_overview(today),
        next_year=today.year + 1,
        seed_range=holidays.default_years(today),
        versions=holidays.library_versions(),
        labels=_labels(),
    )


@bp.post("/seed")
@roles_required("admin")
def seed():
    """Seed one year (from its page) or the default range (from the list)."""
    raw = request.form.get("year", "").strip()
    if raw and not (raw.isdigit() and int(raw) in YEARS):
        raise DomainError(_("Give a year from 2000 to 2100."))
    years = [int(raw)] if raw else holidays.default_years()
    results = holidays.seed_years(years)
    db.session.commit()
    for result in results:
        if result.kept or result.differences or len(results) == 1:
            flash(_seed_message(result))
    if len(results) > 1:
        flash(_("Seeded %(first)d to %(last)d from the libraries.", first=years[0],
                last=years[-1]))  # fmt: skip
    target = url_for("holidays.year", year=int(raw)) if raw else url_for("holidays.index")
    return redirect(target, 303)


def _seed_message(result: holidays.SeedResult) -> str:
    if result.kept:
        return _("%(year)d is confirmed by an administrator; seeding left it as it is.",
                 year=result.year)  # fmt: skip
    message = _("%(year)d: %(status)s.", year=result.year,
                status=holidays.STATUS_LABELS[result.status])  # fmt: skip
    if result.differences:
        days = ", ".join(day.isoformat() for day in result.differences[:5])
        message += " " + _(
            "The libraries disagree on %(days)s, so only statutory holidays were entered.",
            days=days,
        )
    return message


@bp.get("/<int:year>")
@roles_required(*MANAGERS)
def year(year: int):
    _checked_year(year)
    return render("holidays/year.html", "holidays/_year.html", **_year_context(year))


@bp.post("/<int:year>/days")
@roles_required("admin")
def add_day(year: int):
    _checked_year(year)
    values, errors = parse_day(request.form, year)
    if not errors:
        try:
            holidays.add_day(year, **values)
        except DomainError as error:
            errors["day"] = error.message
    notice = _("%(day)s added.", day=values["day"].isoformat()) if not errors else ""
    return _answer(year, errors, "add", notice)


@bp.post("/<int:year>/days/<day>")
@roles_required("admin")
def change_day(year: int, day: str):
    row = _day_or_404(_checked_year(year), day)
    values, errors = parse_day(request.form, year, day=row.day)
    if not errors:
        holidays.change_day(row, **values)
    return _answer(year, errors, f"day-{row.day}", _("%(day)s saved.", day=row.day.isoformat()))


@bp.post("/<int:year>/days/<day>/delete")
@roles_required("admin")
def delete_day(year: int, day: str):
    row = _day_or_404(_checked_year(year), day)
    notice = _("%(day)s deleted.", day=row.day.isoformat())
    holidays.delete_day(row)
    return _answer(year, {}, None, notice)


@bp.post("/<int:year>/confirm")
@roles_required("admin")
def confirm(year: int):
    _checked_year(year)
    values, errors = parse_notice(request.form)
    if not errors:
        try:
            holidays.confirm_year(year, by=current_user, **values)
        except DomainError as error:
            errors["confirm"] = error.message
    notice = _("%(year)d is confirmed as published.", year=year)
    return _answer(year, errors, "confirm", notice)
