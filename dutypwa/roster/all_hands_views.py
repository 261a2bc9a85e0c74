"""All-hands pages (R7): managers declare a period for their site, see who answered and who
not yet, the standby entries and the approved leave to decide, extend or lift it, and look
back at earlier periods. Everyone sees the open periods of their sites in a banner on every
page and answers "I have read it" / "I am on site" — a form the outbox queues offline
(op `all_hands_ack`).
"""

import uuid

from flask import Blueprint, abort, current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from dutypwa.access import roles_required, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import is_htmx, render, safe_next
from dutypwa.models import (
    ALL_HANDS_KINDS,
    MANAGERS,
    ROLES,
    AllHands,
    AllHandsAck,
    RosterRequest,
    Site,
    utcnow,
)
from dutypwa.patrol import parse_device_time
from dutypwa.roster import all_hands
from dutypwa.roster.comptime import format_minutes

bp = Blueprint("all_hands", __name__)


@bp.context_processor
def _labels() -> dict:
    return {
        "kind_labels": all_hands.KIND_LABELS,
        "status_labels": all_hands.STATUS_LABELS,
        "decision_labels": all_hands.DECISION_LABELS,
        "duration": format_minutes,
    }


@bp.app_template_global()
def all_hands_banners() -> list[all_hands.Banner]:
    """R7: the banner's periods for base.html, read once per request, and only when a full
    page is drawn (htmx fragments do not ask)."""
    if not current_user.is_authenticated:
        return []
    if "all_hands_banners" not in g:
        try:
            # No autoflush: an error page may be drawn over a change that was refused.
            with db.session.no_autoflush:
                g.all_hands_banners = all_hands.active_for(current_user)
        except SQLAlchemyError:
            # A page drawn after a failed transaction (an error page) still renders.
            current_app.logger.warning("all-hands banner not read", exc_info=True)
            g.all_hands_banners = []
    return g.all_hands_banners


@bp.app_template_global()
def all_hands_op_id() -> str:
    """A fresh op id for an answer form (app.js gives a saved page's forms new ones)."""
    return str(uuid.uuid4())


def _page_context(site: Site, **extra) -> dict:
    now = utcnow()
    periods = all_hands.periods_of(site)
    local_now = site.local(now).strftime("%Y-%m-%dT%H:%M")
    # Until lifted a period stays on top, also past its end: lifting settles comp time.
    current = [p for p in periods if not p.lifted]
    return {
        "site": site,
        "now": now,
        "panels": [_period_context(site, period) for period in current],
        "past_periods": [p for p in periods if p not in current],
        "kinds": ALL_HANDS_KINDS,
        "form": {"starts_at": local_now, "op_id": str(uuid.uuid4())},
        "error": None,
        **extra,
    }


def _period_context(site: Site, period, **extra) -> dict:
    return {
        "site": site,
        "period": period,
        "now": utcnow(),
        "roll": all_hands.roll_call(period),
        "leave": all_hands.leave_in_window(period),
        "accruals": all_hands.accruals_of(period) if period.lifted else [],
        "error": None,
        **extra,
    }


@bp.get("/s/<site_code>/all-hands")
@roles_required(*MANAGERS)
def index(site_code: str):
    site = site_or_403(site_code)
    return render("all_hands/index.html", **_page_context(site))


@bp.post("/s/<site_code>/all-hands")
@roles_required(*MANAGERS)
def declare(site_code: str):
    site = site_or_403(site_code)
    try:
        all_hands.declare(site, by=current_user, **all_hands.parse_declaration(site, request.form))
    except DomainError as error:
        db.session.rollback()
        context = _page_context(site, form=request.form, error=error.message)
        return render("all_hands/index.html", status=error.status, **context)
    db.session.commit()
    return redirect(url_for(".index", site_code=site.code), 303)


@bp.get("/s/<site_code>/all-hands/<all_hands_id>")
@roles_required(*MANAGERS)
def show(site_code: str, all_hands_id: str):
    site = site_or_403(site_code)
    period = all_hands.period_of(site, all_hands_id)
    return render("all_hands/show.html", **_period_context(site, period))


def _answer(site: Site, period, error: DomainError | None = None):
    """The period's panel again (htmx) or its page; a refusal keeps what was there."""
    if error is not None:
        db.session.rollback()
        context = _period_context(site, period, error=error.message)
        return render("all_hands/show.html", "all_hands/_period.html", error.status, **context)
    db.session.commit()
    if is_htmx():
        return render("all_hands/_period.html", **_period_context(site, period))
    return redirect(url_for(".show", site_code=site.code, all_hands_id=period.id), 303)


@bp.post("/s/<site_code>/all-hands/<all_hands_id>/extend")
@roles_required(*MANAGERS)
def extend(site_code: str, all_hands_id: str):
    site = site_or_403(site_code)
    period = all_hands.period_of(site, all_hands_id)
    try:
        until = all_hands.parse_local_time(site, request.form.get("until"))
        all_hands.extend(period, by=current_user, until=until)
    except DomainError as error:
        return _answer(site, period, error)
    return _answer(site, period)


@bp.post("/s/<site_code>/all-hands/<all_hands_id>/lift")
@roles_required(*MANAGERS)
def lift(site_code: str, all_hands_id: str):
    site = site_or_403(site_code)
    period = all_hands.period_of(site, all_hands_id)
    try:
        all_hands.lift(period, by=current_user)
    except DomainError as error:
        return _answer(site, period, error)
    return _answer(site, period)


@bp.post("/s/<site_code>/all-hands/<all_hands_id>/leave/<request_id>")
@roles_required(*MANAGERS)
def decide_leave(site_code: str, all_hands_id: str, request_id: str):
    site = site_or_403(site_code)
    period = all_hands.period_of(site, all_hands_id)
    leave = db.session.get(RosterRequest, request_id)
    if leave is None or leave.site_id != site.id:
        raise DomainError(_("There is no such request at this site."), 404)
    try:
        all_hands.decide_leave(
            period, leave, by=current_user, decision=request.form.get("decision", ""),
            note=request.form.get("note", ""),
        )  # fmt: skip
    except DomainError as error:
        return _answer(site, period, error)
    return _answer(site, period)


@bp.post("/s/<site_code>/all-hands/<all_hands_id>/ack")
@roles_required(*ROLES)
def ack(site_code: str, all_hands_id: str):
    """An answer without a service worker (with one, it is queued as an all_hands_ack op)."""
    site = site_or_403(site_code)
    period = all_hands.period_of(site, all_hands_id)
    form = request.form
    try:
        op_id = str(uuid.UUID(form.get("op_id", "")))
    except ValueError:
        raise DomainError(_("The form is missing its id. Reload and try again.")) from None
    _ack, created = all_hands.record_ack(
        period, by=current_user, op_id=op_id,
        device_time=parse_device_time(form.get("device_time")), **all_hands.parse_ack(form),
    )  # fmt: skip
    db.session.commit()
    if not is_htmx():
        return redirect(safe_next(form.get("next")) or url_for("auth.home"), 303)
    standing = all_hands.standings_of(period)[current_user.id]
    return render("all_hands/_ack.html", status=201 if created else 200, period=period,
                  ack_status=standing.status, answered=True)  # fmt: skip


def ack_result(op_id: str):
    """A person's answer queued on the phone, once it reached the server (pwa.op_result):
    their standing now, as the form post answers; None until then."""
    ack = db.session.get(AllHandsAck, op_id)
    if ack is None:
        return None
    period = db.session.get(AllHands, ack.all_hands_id)
    site_or_403(period.site.code)
    if ack.user_id != current_user.id:
        abort(404)
    standing = all_hands.standings_of(period)[current_user.id]
    return render("all_hands/_ack.html", period=period, ack_status=standing.status,
                  answered=True)  # fmt: skip
