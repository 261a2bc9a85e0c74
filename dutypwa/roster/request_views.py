"""Request pages (R4): from "my roster" a person asks for leave, a swap or a substitute on a
phone-sized form (queued in the outbox offline, as a `roster_request` op), sees their
requests and cancels a pending one. Managers get an inbox of the site's pending requests
with the checks worked out on the roster as it is now; approving runs them again.
No page here moves a shift: only an approval does (roster/requests.py). Comp time off (补休,
R6) shows the person's balance on the form and the approver's card.
"""

import uuid
from datetime import timedelta

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from dutypwa.access import roles_required, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import is_htmx, render
from dutypwa.models import (
    LEAVE_KINDS,
    MANAGERS,
    RosterEntry,
    RosterMonth,
    RosterRequest,
    Site,
    User,
    utcnow,
)
from dutypwa.patrol import parse_device_time
from dutypwa.roster import comptime, core
from dutypwa.roster import requests as roster_requests

bp = Blueprint("roster_requests", __name__)

# A colleague's shift to swap with is offered within this many days of one's own.
SWAP_WINDOW_DAYS = 14
RECENT = 20


@bp.context_processor
def _labels() -> dict:
    return {
        "kind_labels": roster_requests.KIND_LABELS,
        "status_labels": roster_requests.STATUS_LABELS,
        "entries_of": roster_requests.entries_of,
        "leave_days": roster_requests.leave_days,
        "duration": comptime.format_minutes,
    }


def _request_or_404(site: Site, request_id: str) -> RosterRequest:
    found = db.session.get(RosterRequest, request_id)
    if found is None or found.site_id != site.id:
        abort(404, description=_("There is no such request at this site."))
    return found


def _expire(site: Site) -> None:
    """Requests whose first shift began are closed before anything is shown or decided."""
    if roster_requests.expire_due(site):
        db.session.commit()


@bp.get("/s/<site_code>/roster/requests")
@login_required
def mine(site_code: str):
    site = site_or_403(site_code)
    _expire(site)
    asked = db.session.scalars(
        select(RosterRequest)
        .where(RosterRequest.site_id == site.id, RosterRequest.requester_id == current_user.id)
        .order_by(RosterRequest.received_at.desc())
        .limit(50)
    ).all()
    return render("roster/requests.html", site=site, asked=asked)


def _form_context(site: Site, form, **extra) -> dict:
    """The form for one of my shifts (`entry`) or, for leave, for any days."""
    kind = form.get("kind") if form.get("kind") in roster_requests.KIND_LABELS else "leave"
    entry = db.session.get(RosterEntry, form.get("entry") or "")
    if entry is not None and (entry.site_id != site.id or entry.user_id != current_user.id):
        entry = None
    if entry is None and kind not in LEAVE_KINDS:
        kind = "leave"
    day = entry.duty_date.isoformat() if entry else ""
    return {
        "site": site,
        "kind": kind,
        "entry": entry,
        "form": {"first_day": day, "last_day": day, **form},
        "op_id": form.get("op_id") or str(uuid.uuid4()),
        "swaps": _swap_choices(site, entry) if entry and kind == "swap" else [],
        "substitutes": roster_requests.candidates(entry) if entry and kind == "substitute" else [],
        "notice": int(site.setting("roster_request_notice_days")),
        "comp_usable": _usable(current_user, site) if kind == "comp_leave" else None,
        "error": None,
        **extra,
    }


def _usable(person: User, site: Site, day=None) -> int:
    """R6: the comp time the person can take on `day` (default today)."""
    return comptime.balance(person, site, today=day or site.now().date())


def _swap_choices(site: Site, entry: RosterEntry) -> list[RosterEntry]:
    """Colleagues' published shifts near mine that have not begun."""
    window = timedelta(days=SWAP_WINDOW_DAYS)
    return db.session.scalars(
        select(RosterEntry)
        .join(RosterMonth, RosterMonth.id == RosterEntry.month_id)
        .where(
            RosterEntry.site_id == site.id,
            RosterEntry.status == "planned",
            RosterMonth.status == "published",
            RosterEntry.user_id != current_user.id,
            RosterEntry.duty_date.between(entry.duty_date - window, entry.duty_date + window),
            RosterEntry.start_at > utcnow(),
        )
        .order_by(RosterEntry.start_at)
    ).all()


@bp.get("/s/<site_code>/roster/requests/new")
@login_required
def new(site_code: str):
    site = site_or_403(site_code)
    return render("roster/requests_new.html", **_form_context(site, request.args))


@bp.post("/s/<site_code>/roster/requests")
@login_required
def create(site_code: str):
    """The request form without a service worker (with one, it is a roster_request op)."""
    site = site_or_403(site_code)
    form = request.form
    try:
        op_id = str(uuid.UUID(form.get("op_id", "")))
    except ValueError:
        return _refused(site, _("The form is missing its id. Reload and try again."), 422)
    try:
        asked, created = roster_requests.create_request(
            site, by=current_user, op_id=op_id, device_time=parse_device_time(
                form.get("device_time")), **roster_requests.parse_request(site, form))  # fmt: skip
    except DomainError as error:
        return _refused(site, error.message, error.status)
    db.session.commit()
    status = 201 if created else 200
    return render("roster/requests_done.html", "roster/_requests_done.html", status=status,
                  site=site, asked=asked, created=created)  # fmt: skip


def request_result(op_id: str):
    """The answer to a request queued on the phone, once it reached the server (pwa.op_result);
    None until then."""
    asked = db.session.get(RosterRequest, op_id)
    if asked is None:
        return None
    site = site_or_403(asked.site.code)
    if asked.requester_id != current_user.id and not current_user.is_manager:
        abort(404, description=_("There is no such request at this site."))
    return render("roster/requests_done.html", "roster/_requests_done.html", site=site,
                  asked=asked, created=True)  # fmt: skip


def _refused(site: Site, message: str, status: int):
    db.session.rollback()
    context = _form_context(site, request.form, error=message)
    return render("roster/requests_new.html", "roster/_requests_form.html", status=status,
                  **context)  # fmt: skip


@bp.post("/s/<site_code>/roster/requests/<request_id>/cancel")
@login_required
def cancel(site_code: str, request_id: str):
    site = site_or_403(site_code)
    asked = _request_or_404(site, request_id)
    roster_requests.cancel_request(asked, by=current_user)
    db.session.commit()
    return redirect(url_for("roster_requests.mine", site_code=site.code), 303)


# The manager's side


def _cover_of(site: Site, form) -> dict:
    """The leave cover chosen on the card: {entry id: member or None}, from `cover-<id>`."""
    cover = {}
    for name, value in form.items():
        if name.startswith("cover-") and value:
            person = db.session.get(User, int(value)) if value.isdigit() else None
            if person is None or not any(s.id == site.id for s in person.sites):
                abort(422, description=_("Choose a member of this site."))
            cover[name.removeprefix("cover-")] = person
    return cover


def _card(site: Site, asked: RosterRequest, cover: dict | None = None, **extra) -> dict:
    """One request as the approver sees it: who takes which shift and, while it is
    pending, what the checks say about that on the roster as it is now."""
    moves, findings, picks, comp = [], [], {}, None
    if asked.pending:
        moves = roster_requests.moves_of(asked, cover)
        if asked.is_leave:
            picks = {entry.id: roster_requests.candidates(entry) for entry, _p in moves}
        if asked.kind == "comp_leave":
            first_day = roster_requests.leave_days(asked)[0]
            comp = {"cost": roster_requests.planned_minutes([entry for entry, _p in moves]),
                    "usable": _usable(asked.requester, site, first_day)}  # fmt: skip
        if all(entry.status == "planned" for entry, _p in moves):
            findings = core.assess(moves)
    # The version the requester saw is that of the month of their (first) shift.
    seen = asked.roster_version_seen
    changed = bool(moves) and seen is not None and moves[0][0].month.version != seen
    return {"site": site, "asked": asked, "moves": moves, "findings": findings, "picks": picks,
            "changed": changed, "covered": roster_requests.covered(asked), "error": None,
            "comp": comp, "may_approve": roster_requests.may_approve(asked, current_user),
            **extra}  # fmt: skip


@bp.get("/s/<site_code>/roster/requests/inbox")
@roles_required(*MANAGERS)
def inbox(site_code: str):
    site = site_or_403(site_code)
    _expire(site)
    pending = roster_requests.pending_of(site.id)
    decided = db.session.scalars(
        select(RosterRequest)
        .where(RosterRequest.site_id == site.id, RosterRequest.status != "pending")
        .order_by(RosterRequest.decided_at.desc())
        .limit(RECENT)
    ).all()
    cards = [_card(site, asked) for asked in pending]
    return render("roster/requests_inbox.html", site=site, cards=cards, decided=decided)


@bp.get("/s/<site_code>/roster/requests/<request_id>")
@roles_required(*MANAGERS)
def card(site_code: str, request_id: str):
    """The card again, checked with the cover chosen (htmx asks on each change)."""
    site = site_or_403(site_code)
    asked = _request_or_404(site, request_id)
    context = _card(site, asked, _cover_of(site, request.args))
    return render("roster/requests_card.html", "roster/_requests_card.html", **context)


@bp.post("/s/<site_code>/roster/requests/<request_id>/approve")
@roles_required(*MANAGERS)
def approve(site_code: str, request_id: str):
    site = site_or_403(site_code)
    asked = _request_or_404(site, request_id)
    cover = _cover_of(site, request.form)
    return _decide(site, asked, cover, lambda: roster_requests.approve_request(
        asked, by=current_user, note=request.form.get("note", ""), cover=cover))  # fmt: skip


@bp.post("/s/<site_code>/roster/requests/<request_id>/reject")
@roles_required(*MANAGERS)
def reject(site_code: str, request_id: str):
    site = site_or_403(site_code)
    asked = _request_or_404(site, request_id)
    return _decide(site, asked, None, lambda: roster_requests.reject_request(
        asked, by=current_user, note=request.form.get("note", "")))  # fmt: skip


def _decide(site: Site, asked: RosterRequest, cover, decision):
    """Run the decision and commit; a refusal answers the card with the reason (4xx). A
    request that closed meanwhile (expired, superseded) stays closed."""
    try:
        decision()
    except roster_requests.RequestClosed as closed:
        db.session.commit()
        return _card_response(site, asked, cover, status=closed.status, error=closed.message)
    except DomainError as refused:
        db.session.rollback()
        return _card_response(site, asked, cover, status=refused.status, error=refused.message)
    db.session.commit()
    if not is_htmx():
        return redirect(url_for("roster_requests.inbox", site_code=site.code), 303)
    return _card_response(site, asked, cover)


def _card_response(site: Site, asked: RosterRequest, cover, status: int = 200, error=None):
    context = _card(site, asked, cover, error=error)
    return render("roster/requests_card.html", "roster/_requests_card.html", status=status,
                  **context)  # fmt: skip
