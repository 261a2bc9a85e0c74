"""The supervisor's side of escalation and follow-up (D2, D3, D9, D11): the inbox of
escalations and overdue items with its polled badge, acknowledging and reporting up, and
the day page where each day's duty records and everything still open are reviewed.

Every view that shows escalations first runs the clock (escalation.advance) up to now,
read through escalation.now(). Lists show counts and the most urgent few, never all open
items: a site may hold a hundred thousand nonconformities.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf as csrf_token
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from dutypwa import escalation as clock
from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.dutylog.entries import KIND_LABELS
from dutypwa.dutylog.registers import STATE_LABELS as FOLLOW_UP_STATE_LABELS
from dutypwa.dutylog.registers import TYPE_LABELS as FOLLOW_UP_LABELS
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.findings import SEVERITY_LABELS
from dutypwa.http import is_htmx, render
from dutypwa.models import (
    MANAGERS,
    OPEN_STATES,
    ROLES,
    DutyEntry,
    Escalation,
    Finding,
    FollowUp,
    Review,
    Site,
)
from dutypwa.nonconformities import STATE_LABELS, team_label

bp = Blueprint("supervisor", __name__)

URGENT_LIMIT = 50  # open items listed on the day page and the inbox, most urgent first
RECORDS_LIMIT = 200  # the day's duty records listed
REVIEWABLE = {"finding": Finding, "entry": DutyEntry, "follow_up": FollowUp}
REVIEW_COLUMN = {
    "finding": Review.finding_id,
    "entry": Review.entry_id,
    "follow_up": Review.follow_up_id,
}


# Helpers for the escalation partials, which other features' pages include too.


@bp.app_template_global("esc_level")
def level_label(level: int) -> str:
    return str(clock.LEVEL_LABELS.get(level, level))


@bp.app_template_global("esc_reason")
def reason_label(reason: str) -> str:
    return str(clock.REASON_LABELS.get(reason, reason))


@bp.app_template_global("esc_late")
def acknowledged_late(escalation: Escalation) -> bool:
    return clock.is_late(escalation)


@bp.app_template_global("esc_may_ack")
def may_acknowledge(escalation: Escalation) -> bool:
    return clock.may_acknowledge(escalation, current_user)


@bp.app_template_global("esc_next_level")
def next_level() -> int | None:
    """The level the current person reports up to, if there is one."""
    level = clock.OWN_LEVEL.get(current_user.role, clock.TOP) + 1
    return level if level <= clock.TOP else None


@bp.app_template_global("entry_kind")
def entry_kind(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


@bp.app_template_global("supervisor_texts")
def supervisor_texts() -> dict:
    """Words the lists repeat on every row, translated once per request: the day page
    shows hundreds of rows and must stay fast."""
    if "supervisor_texts" not in g:
        g.supervisor_texts = {
            "overdue": _("Overdue"),
            "due": _("due"),
            "act": _("Act"),
            "reviewed": _("Reviewed"),
            "follow_up": _("Follow-up:"),
            "placeholder": _("Follow-up action (optional)"),
            "mark": _("Mark reviewed"),
            "again": _("Review again"),
            "csrf": csrf_token(),
            "escalated": {
                level: _("escalated to the %(level)s", level=label)
                for level, label in clock.LEVEL_LABELS.items()
            },
            "severities": {key: str(label) for key, label in SEVERITY_LABELS.items()},
            "states": {key: str(label) for key, label in STATE_LABELS.items()},
        }
    return g.supervisor_texts


def run_clock(site: Site) -> datetime:
    """The time now, after the escalation clock has caught up with it."""
    moment = clock.now()
    clock.advance(site, moment)
    return moment


# Escalations: acknowledge and report up; both answer with the item's timeline


def timeline_response(site: Site, *, finding=None, entry=None, error=None, status=200):
    """The item's timeline; after a refusal it says why and keeps what was typed."""
    escalations = clock.timeline(finding=finding, entry=entry)
    return render(
        "supervisor/escalations.html",
        "supervisor/_escalations.html",
        status=status,
        site=site,
        escalations=escalations,
        finding=finding,
        entry=entry,
        error=error,
        reason=request.form.get("reason", "") if error else "",
    )


@bp.post("/s/<site_code>/escalations/<int:escalation_id>/ack")
@roles_required(*MANAGERS)
def acknowledge(site_code: str, escalation_id: int):
    site = site_or_403(site_code)
    moment = run_clock(site)
    escalation = site_object(Escalation, escalation_id, site)
    error, status = None, 200
    try:
        clock.acknowledge(escalation, by=current_user, at=moment)
    except DomainError as refused:
        error, status = refused.message, refused.status
    db.session.commit()  # what the clock did stands, whatever the answer
    if request.form.get("show") == "inbox":
        if not is_htmx():
            if error:
                flash(error, "error")
            return redirect(url_for("supervisor.inbox", site_code=site.code), 303)
        return render(
            "supervisor/_inbox_row.html", status=status, site=site, escalation=escalation,
            error=error, now=moment,
        )  # fmt: skip
    return timeline_response(
        site, finding=escalation.finding, entry=escalation.entry, error=error, status=status
    )


def _report_up(site: Site, *, finding=None, entry=None):
    moment = run_clock(site)
    error, status = None, 200
    try:
        clock.report_up(
            site,
            by=current_user,
            at=moment,
            note=request.form.get("reason", ""),
            finding=finding,
            entry=entry,
        )
    except DomainError as refused:
        error, status = refused.message, refused.status
    db.session.commit()
    return timeline_response(site, finding=finding, entry=entry, error=error, status=status)


@bp.post("/s/<site_code>/findings/<finding_id>/report-up")
@roles_required(*ROLES)
def report_up_finding(site_code: str, finding_id: str):
    site = site_or_403(site_code)
    return _report_up(site, finding=site_object(Finding, finding_id, site))


@bp.post("/s/<site_code>/log/<entry_id>/report-up")
@roles_required(*ROLES)
def report_up_entry(site_code: str, entry_id: str):
    site = site_or_403(site_code)
    return _report_up(site, entry=site_object(DutyEntry, entry_id, site))


# The inbox and its badge


def overdue_findings(site: Site, moment: datetime):
    return (
        Finding.site_id == site.id,
        Finding.status.in_(clock.AWAITING_CORRECTION),
        Finding.due_at < moment,
    )


def overdue_entries(site: Site, moment: datetime):
    return (DutyEntry.site_id == site.id, DutyEntry.status == "open", DutyEntry.respond_by < moment)


def count(*conditions, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def inbox_counts(site: Site, moment: datetime) -> dict:
    escalations = db.session.scalar(
        select(func.count()).select_from(clock.inbox_query(site, current_user).subquery())
    )
    findings = count(*overdue_findings(site, moment), model=Finding)
    entries = count(*overdue_entries(site, moment), model=DutyEntry)
    return {"escalations": escalations, "findings": findings, "entries": entries}


def _inbox_context(site: Site, moment: datetime) -> dict:
    escalations = db.session.scalars(
        clock.inbox_query(site, current_user)
        .options(selectinload(Escalation.finding), selectinload(Escalation.entry))
        .limit(URGENT_LIMIT)
    ).all()
    findings = urgent_findings(site, URGENT_LIMIT, overdue_before=moment)
    entries = db.session.scalars(
        select(DutyEntry)
        .where(*overdue_entries(site, moment))
        .order_by(DutyEntry.respond_by)
        .limit(URGENT_LIMIT)
    ).all()
    return {
        "counts": inbox_counts(site, moment),
        "escalations": escalations,
        "findings": findings,
        "entries": entries,
    }


@bp.get("/s/<site_code>/inbox")
@roles_required(*MANAGERS)
def inbox(site_code: str):
    site = site_or_403(site_code)
    moment = run_clock(site)
    db.session.commit()
    return render(
        "supervisor/inbox.html",
        site=site,
        now=moment,
        limit=URGENT_LIMIT,
        severities=SEVERITY_LABELS,
        **_inbox_context(site, moment),
    )


@bp.get("/s/<site_code>/inbox/badge")
@roles_required(*MANAGERS)
def badge(site_code: str):
    """The nav's counts, polled; 304 while they stay the same."""
    site = site_or_403(site_code)
    moment = run_clock(site)
    db.session.commit()
    counts = inbox_counts(site, moment)
    key = f"{site.id}|{sorted(counts.items())}|{get_locale()}|{current_user.id}"
    etag = hashlib.sha1(key.encode()).hexdigest()
    if request.if_none_match.contains(etag):
        response = current_app.response_class(status=304)
    else:
        response = render("supervisor/_badge.html", site=site, counts=counts, etag=etag)
    response.set_etag(etag)
    response.vary.add("HX-Request")
    response.headers["Cache-Control"] = "no-cache, private"
    return response


# The supervisor's day (D9)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    day: date | None  # None: the last 24 hours


def period_of(site: Site, value: str | None, moment: datetime) -> Period:
    """A local day (YYYY-MM-DD) at the site, or the last 24 hours."""
    if not value:
        return Period(moment - timedelta(hours=24), moment, None)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise DomainError(_("Choose a date like 2026-11-26.")) from None
    start = datetime.combine(day, time(0), site.tz)
    end = datetime.combine(day + timedelta(days=1), time(0), site.tz)
    return Period(start, end, day)


# Each listed nonconformity names its checkpoint or area: joined, not one query per row.
PLACES = (joinedload(Finding.checkpoint), joinedload(Finding.area))


def urgent_findings(site: Site, limit: int, overdue_before: datetime | None = None) -> list:
    """The open nonconformities due first (overdue ones come first by nature): the ids of
    the first few of each open state, one short index range each, merged here (an ORDER
    BY over all open items would sort every one of them); then those rows, once."""
    candidates = []
    for status in clock.AWAITING_CORRECTION if overdue_before else OPEN_STATES:
        conditions = [Finding.site_id == site.id, Finding.status == status]
        if overdue_before is not None:
            conditions.append(Finding.due_at < overdue_before)
        else:
            conditions.append(Finding.due_at.is_not(None))
        candidates += db.session.execute(
            select(Finding.due_at, Finding.id)
            .where(*conditions)
            .order_by(Finding.due_at)
            .limit(limit)
        ).all()
    ids = [finding_id for _due, finding_id in sorted(candidates)[:limit]]
    if overdue_before is None and len(ids) < limit:
        ids += db.session.scalars(
            select(Finding.id)
            .where(
                Finding.site_id == site.id,
                Finding.status.in_(OPEN_STATES),
                Finding.due_at.is_(None),
            )
            .limit(limit - len(ids))
        ).all()
    rows = {
        finding.id: finding
        for finding in db.session.scalars(
            select(Finding).where(Finding.id.in_(ids)).options(*PLACES)
        ).unique()
    }
    return [rows[finding_id] for finding_id in ids]


def latest_reviews(kind: str, ids: list) -> dict:
    """The latest review of each item, by item id."""
    if not ids:
        return {}
    column = REVIEW_COLUMN[kind]
    reviews = db.session.scalars(
        select(Review)
        .where(column.in_(ids))
        .options(selectinload(Review.reviewed_by))
        .order_by(Review.reviewed_at, Review.id)
    ).all()
    return {getattr(review, column.key): review for review in reviews}


def day_counts(site: Site, moment: datetime, period: Period) -> dict:
    by_status = dict(
        db.session.execute(
            select(Finding.status, func.count())
            .where(Finding.site_id == site.id, Finding.status.in_(OPEN_STATES))
            .group_by(Finding.status)
        ).all()
    )
    open_entries = (DutyEntry.site_id == site.id, DutyEntry.status == "open")
    return {
        "records": count(
            DutyEntry.site_id == site.id,
            DutyEntry.received_at >= period.start,
            DutyEntry.received_at < period.end,
            model=DutyEntry,
        ),
        "findings": sum(by_status.values()),
        "findings_overdue": count(*overdue_findings(site, moment), model=Finding),
        "to_verify": by_status.get("corrected", 0),
        "entries": count(*open_entries, model=DutyEntry),
        "entries_overdue": count(*overdue_entries(site, moment), model=DutyEntry),
        "follow_ups": count(
            FollowUp.site_id == site.id, FollowUp.status != "closed", model=FollowUp
        ),
        "escalations": db.session.scalar(
            select(func.count()).select_from(clock.inbox_query(site, current_user).subquery())
        ),
    }


@bp.get("/s/<site_code>/day")
@roles_required(*MANAGERS)
def day(site_code: str):
    site = site_or_403(site_code)
    moment = run_clock(site)
    db.session.commit()
    error, status = None, 200
    try:
        period = period_of(site, request.args.get("day"), moment)
    except DomainError as refused:
        error, status = refused.message, refused.status
        period = period_of(site, None, moment)
    records = db.session.scalars(
        select(DutyEntry)
        .where(
            DutyEntry.site_id == site.id,
            DutyEntry.received_at >= period.start,
            DutyEntry.received_at < period.end,
        )
        .options(selectinload(DutyEntry.created_by))
        .order_by(DutyEntry.received_at.desc())
        .limit(RECORDS_LIMIT)
    ).all()
    findings = urgent_findings(site, URGENT_LIMIT)
    entries = db.session.scalars(
        select(DutyEntry)
        .where(DutyEntry.site_id == site.id, DutyEntry.status == "open")
        .order_by(DutyEntry.respond_by)
        .limit(URGENT_LIMIT)
    ).all()
    follow_ups = db.session.scalars(
        select(FollowUp)
        .where(FollowUp.site_id == site.id, FollowUp.status != "closed")
        .options(selectinload(FollowUp.assignee))
        .order_by(FollowUp.created_at)
        .limit(URGENT_LIMIT)
    ).all()
    entry_ids = list({entry.id for entry in [*records, *entries]})
    return render(
        "supervisor/day.html",
        status=status,
        site=site,
        now=moment,
        period=period,
        counts=day_counts(site, moment, period),
        records=records,
        findings=findings,
        entries=entries,
        follow_ups=follow_ups,
        reviews={
            "finding": latest_reviews("finding", [finding.id for finding in findings]),
            "entry": latest_reviews("entry", entry_ids),
            "follow_up": latest_reviews("follow_up", [item.id for item in follow_ups]),
        },
        limit=URGENT_LIMIT,
        severities=SEVERITY_LABELS,
        states=STATE_LABELS,
        team_label=team_label,
        follow_up_types=FOLLOW_UP_LABELS,
        follow_up_states=FOLLOW_UP_STATE_LABELS,
        error=error,
    )


def record_review(site: Site, *, kind: str, item, by, follow_up: str) -> Review:
    """D9: the supervisor has looked at this item, and decided this follow-up, if any."""
    follow_up = follow_up.strip()
    if len(follow_up) > 500:
        raise DomainError(_("The follow-up action is too long (at most 500 characters)."))
    review = Review(site_id=site.id, reviewed_by_id=by.id, follow_up=follow_up)
    setattr(review, REVIEW_COLUMN[kind].key, item.id)
    db.session.add(review)
    db.session.flush()
    return review


@bp.post("/s/<site_code>/reviews")
@roles_required(*MANAGERS)
def review(site_code: str):
    site = site_or_403(site_code)
    kind = request.form.get("kind", "")
    if kind not in REVIEWABLE:
        raise DomainError(_("Say what was reviewed."), 400)
    item_id = request.form.get("item_id", "")
    if kind == "follow_up":
        item_id = int(item_id) if item_id.isdigit() else 0
    item = site_object(REVIEWABLE[kind], item_id, site)
    error, status, latest = None, 201, None
    try:
        latest = record_review(
            site, kind=kind, item=item, by=current_user, follow_up=request.form.get("follow_up", "")
        )
        db.session.commit()
    except DomainError as refused:
        db.session.rollback()
        error, status = refused.message, refused.status
        latest = latest_reviews(kind, [item.id]).get(item.id)
    return render(
        "supervisor/reviewed.html",
        "supervisor/_review.html",
        status=status,
        site=site,
        kind=kind,
        item_id=item.id,
        review=latest,
        error=error,
        value=request.form.get("follow_up", "") if error else "",
    )
