"""The comp-time page (补休, R6): everyone sees their own balance, the lots they can still
take with their last days, and their statement; managers see everyone's balance at the
site, open a person's statement and record an adjustment (+ or −, with a reason) — never
of their own balance. Taking comp time goes through leave approval, not this page.
"""

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from dutypwa.access import roles_required, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import is_htmx, render
from dutypwa.models import MANAGERS, ROLES, CompLedger, Site, User, site_members
from dutypwa.roster import comptime

bp = Blueprint("comptime", __name__)

MAX_HOURS = 200
# A lot whose last day is this close is flagged on the page.
SOON = timedelta(days=7)


@bp.context_processor
def _helpers() -> dict:
    return {"duration": comptime.format_minutes, "kind_labels": comptime.KIND_LABELS}


def parse_adjustment(form) -> tuple[int, str, dict]:
    """The adjustment form, checked: (signed minutes, reason, errors by field)."""
    errors: dict[str, str] = {}
    direction = form.get("direction", "")
    if direction not in ("add", "deduct"):
        errors["direction"] = _("Choose whether to add or deduct.")
    hours_raw = (form.get("hours") or "0").strip()
    minutes_raw = (form.get("minutes") or "0").strip()
    if not hours_raw.isdigit() or int(hours_raw) > MAX_HOURS:
        errors["hours"] = _("Hours: give a whole number from 0 to %(high)d.", high=MAX_HOURS)
    if not minutes_raw.isdigit() or int(minutes_raw) > 59:
        errors["minutes"] = _("Minutes: give a whole number from 0 to 59.")
    total = 0
    if "hours" not in errors and "minutes" not in errors:
        total = int(hours_raw) * 60 + int(minutes_raw)
        if total == 0:
            errors["minutes"] = _("Give the time to add or deduct.")
    reason = (form.get("reason") or "").strip()
    if not reason:
        errors["reason"] = _("Give the reason for the adjustment.")
    elif len(reason) > comptime.MAX_NOTE:
        errors["reason"] = _("At most %(n)d characters.", n=comptime.MAX_NOTE)
    return (-total if direction == "deduct" else total), reason, errors


def _member_or_404(site: Site, user_id: int) -> User:
    """A member of the site, or someone who has comp time there; 404 for anyone else."""
    person = db.session.get(User, user_id)
    has_rows = person is not None and db.session.scalar(
        select(CompLedger.id).where(CompLedger.site_id == site.id, CompLedger.user_id == person.id)
    )
    if person is None or not (any(s.id == site.id for s in person.sites) or has_rows):
        abort(404, description=_("There is no such person at this site."))
    return person


def _person_context(site: Site, person: User, **extra) -> dict:
    today = site.now().date()
    book = comptime.book(person, site)
    return {
        "site": site,
        "person": person,
        "today": today,
        "soon": today + SOON,
        "balance": book.total,
        "usable": book.usable(today),
        "lots": book.standing_lots(),
        "rows": list(reversed(book.statement())),
        "may_adjust": current_user.is_manager and person.id != current_user.id,
        "errors": {},
        "notice": None,
        **extra,
    }


def _people(site: Site) -> list[dict]:
    """The site's active members by name, each with what they can take today and their
    next lot to expire."""
    today = site.now().date()
    books = comptime.site_books(site)
    members = db.session.scalars(
        select(User)
        .join(site_members)
        .where(site_members.c.site_id == site.id, User.active.is_(True))
        .order_by(User.display_name)
    )
    people = []
    for member in members:
        book = books.get(member.id)
        usable_lots = [lot for lot in book.standing_lots() if lot.usable_on(today)] if book else []
        people.append({
            "person": member,
            "usable": book.usable(today) if book else 0,
            "next_lot": usable_lots[0] if usable_lots else None,
        })  # fmt: skip
    return people


@bp.get("/s/<site_code>/comp-time")
@roles_required(*ROLES)
def index(site_code: str):
    site = site_or_403(site_code)
    people = _people(site) if current_user.is_manager else None
    return render("comptime/index.html", people=people, **_person_context(site, current_user))


@bp.get("/s/<site_code>/comp-time/people/<int:user_id>")
@roles_required(*MANAGERS)
def person(site_code: str, user_id: int):
    site = site_or_403(site_code)
    person = _member_or_404(site, user_id)
    return render("comptime/person.html", "comptime/_person.html", **_person_context(site, person))


@bp.post("/s/<site_code>/comp-time/people/<int:user_id>/adjust")
@roles_required(*MANAGERS)
def adjust(site_code: str, user_id: int):
    site = site_or_403(site_code)
    person = _member_or_404(site, user_id)
    minutes, reason, errors = parse_adjustment(request.form)
    if not errors:
        try:
            comptime.adjust(person, site=site, minutes=minutes, reason=reason, by=current_user)
        except DomainError as error:
            if error.status == 403:
                raise
            errors["amount"] = error.message
    if errors:
        db.session.rollback()
        context = _person_context(site, person, errors=errors)
        return render("comptime/person.html", "comptime/_person.html", status=422, **context)
    db.session.commit()
    notice = _("Adjustment saved: %(time)s.", time=comptime.format_minutes(minutes, sign=True))
    if is_htmx():
        return render("comptime/_person.html", **_person_context(site, person, notice=notice))
    flash(notice)
    return redirect(url_for("comptime.person", site_code=site.code, user_id=person.id), 303)
