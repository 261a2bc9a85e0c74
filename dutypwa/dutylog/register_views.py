"""Pages of the registers: work orders and complaint records made from entries (D6, D7),
and the emergency-keys register (D12). Online forms with a CSRF token, no outbox."""

from flask import redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.dutylog import registers
from dutypwa.dutylog.entries import KIND_LABELS
from dutypwa.dutylog.registers import (
    ACTION_LABELS,
    FROM,
    STATE_LABELS,
    TYPE_LABELS,
    approvers,
    follow_up_refusal,
)
from dutypwa.dutylog.shifts import follow_ups_query
from dutypwa.dutylog.views import LABELS as ENTRY_LABELS
from dutypwa.dutylog.views import LOG_ROLES, bp
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import is_htmx, render
from dutypwa.models import DutyEntry, FollowUp, KeyLoan, Site, utcnow
from dutypwa.models.dutylog import FOLLOW_UP_STATES, FOLLOW_UP_TYPES
from dutypwa.nonconformities import team_label

LABELS = {
    "states": STATE_LABELS,
    "types": TYPE_LABELS,
    "actions": ACTION_LABELS,
    "kinds": KIND_LABELS,
    "team_label": team_label,
}


@bp.post("/s/<site_code>/log/<entry_id>/follow-up")
@roles_required(*LOG_ROLES)
def create_follow_up(site_code: str, entry_id: str):
    """D6/D7: turn a repair request into a work order, a complaint into a complaint
    record; a second tap opens the one already made."""
    site = site_or_403(site_code)
    entry = site_object(DutyEntry, entry_id, site)
    try:
        follow_up, _created = registers.create_follow_up(
            site, entry, by=current_user, at=utcnow(), team=request.form.get("team", "")
        )
        db.session.commit()
    except DomainError:
        db.session.rollback()
        raise
    except IntegrityError:
        db.session.rollback()
        message = _("Another number was given at the same moment. Try again.")
        raise DomainError(message, 409) from None
    if is_htmx():  # from the entry's card (_entry_done.html): the card with the number
        return render("dutylog/entry_done.html", "dutylog/_entry_done.html", site=site,
                      entry=entry, created=True, **ENTRY_LABELS)  # fmt: skip
    return redirect(url_for(".follow_up", site_code=site.code, follow_up_id=follow_up.id), 303)


@bp.get("/s/<site_code>/work-orders")
@roles_required(*LOG_ROLES)
def follow_ups(site_code: str):
    site = site_or_403(site_code)
    status, kind = request.args.get("status", ""), request.args.get("type", "")
    if (status and status not in FOLLOW_UP_STATES) or (kind and kind not in FOLLOW_UP_TYPES):
        raise DomainError(_("Choose a status and a type from the lists."), 400)
    rows = db.session.scalars(follow_ups_query(site, status or None, kind or None).limit(300))
    return render(
        "dutylog/follow_ups.html",
        site=site,
        follow_ups=rows.all(),
        filters={"status": status, "type": kind},
        **LABELS,
    )


def _follow_up_context(site: Site, follow_up: FollowUp, **extra) -> dict:
    role = current_user.role
    actions = [
        action for action in FROM if follow_up_refusal(follow_up.status, action, role) is None
    ]
    return {"site": site, "follow_up": follow_up, "allowed": actions, "form": {}, **LABELS, **extra}


@bp.get("/s/<site_code>/work-orders/<int:follow_up_id>")
@roles_required(*LOG_ROLES)
def follow_up(site_code: str, follow_up_id: int):
    site = site_or_403(site_code)
    found = site_object(FollowUp, follow_up_id, site)
    return render("dutylog/follow_up.html", **_follow_up_context(site, found))


@bp.post("/s/<site_code>/work-orders/<int:follow_up_id>")
@roles_required(*LOG_ROLES)
def change_follow_up(site_code: str, follow_up_id: int):
    site = site_or_403(site_code)
    found = site_object(FollowUp, follow_up_id, site)
    form = request.form
    try:
        registers.change_follow_up(
            found,
            by=current_user,
            at=utcnow(),
            action=form.get("action", ""),
            handling=form.get("handling", ""),
            result=form.get("result", ""),
            feedback=form.get("feedback", ""),
        )
    except DomainError as error:
        db.session.rollback()
        context = _follow_up_context(site, found, error=error.message, form=form)
        return render(
            "dutylog/follow_up.html", "dutylog/_follow_up.html", status=error.status, **context
        )
    db.session.commit()
    if not is_htmx():
        return redirect(url_for(".follow_up", site_code=site.code, follow_up_id=found.id), 303)
    return render(
        "dutylog/follow_up.html", "dutylog/_follow_up.html", **_follow_up_context(site, found)
    )


def _keys_context(site: Site, **extra) -> dict:
    out = db.session.scalars(
        select(KeyLoan)
        .where(KeyLoan.site_id == site.id, KeyLoan.returned_at.is_(None))
        .order_by(KeyLoan.out_at)
    ).all()
    back = db.session.scalars(
        select(KeyLoan)
        .where(KeyLoan.site_id == site.id, KeyLoan.returned_at.is_not(None))
        .order_by(KeyLoan.returned_at.desc())
        .limit(30)
    ).all()
    return {
        "site": site,
        "out": out,
        "back": back,
        "approvers": approvers(site),
        "form": {},
        **extra,
    }


@bp.get("/s/<site_code>/keys")
@roles_required(*LOG_ROLES)
def keys(site_code: str):
    site = site_or_403(site_code)
    return render("dutylog/keys.html", **_keys_context(site))


@bp.post("/s/<site_code>/keys")
@roles_required(*LOG_ROLES)
def lend_key(site_code: str):
    """D12: record a key going out, approved by a duty manager of the site."""
    site = site_or_403(site_code)
    form = request.form
    try:
        registers.lend_key(
            site,
            by=current_user,
            at=utcnow(),
            key_name=form.get("key_name", ""),
            taken_by=form.get("taken_by", ""),
            purpose=form.get("purpose", ""),
            approved_by_id=form.get("approved_by"),
        )
    except DomainError as error:
        db.session.rollback()
        context = _keys_context(site, error=error.message, form=form)
        return render("dutylog/keys.html", "dutylog/_keys.html", status=error.status, **context)
    db.session.commit()
    return _keys_answer(site, status=201)


@bp.post("/s/<site_code>/keys/<int:key_id>/return")
@roles_required(*LOG_ROLES)
def return_key(site_code: str, key_id: int):
    site = site_or_403(site_code)
    loan = site_object(KeyLoan, key_id, site)
    try:
        registers.return_key(loan, by=current_user, at=utcnow())
    except DomainError as error:
        db.session.rollback()
        context = _keys_context(site, error=error.message)
        return render("dutylog/keys.html", "dutylog/_keys.html", status=error.status, **context)
    db.session.commit()
    return _keys_answer(site)


def _keys_answer(site: Site, status: int = 200):
    if not is_htmx():
        return redirect(url_for(".keys", site_code=site.code), 303)
    return render("dutylog/keys.html", "dutylog/_keys.html", status=status, **_keys_context(site))
