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
from functools import cache

from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf as csrf_token
from jinja2.filters import do_truncate
from markupsafe import Markup
from sqlalchemy import bindparam, case, func, or_, select, union_all
from sqlalchemy.orm import joinedload, load_only, selectinload

from dutypwa import escalation as clock
from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.dutylog.entries import KIND_LABELS
from dutypwa.dutylog.registers import STATE_LABELS as FOLLOW_UP_STATE_LABELS
from dutypwa.dutylog.registers import TYPE_LABELS as FOLLOW_UP_LABELS
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.findings import SEVERITY_LABELS
from dutypwa.http import is_htmx, local_time, render
from dutypwa.models import (
    MANAGERS,
    OPEN_STATES,
    ROLES,
    Area,
    Checkpoint,
    DutyEntry,
    Escalation,
    Finding,
    FollowUp,
    Review,
    Site,
    User,
)
from dutypwa.nonconformities import STATE_LABELS, team_label

bp = Blueprint("supervisor", __name__)

URGENT_LIMIT = 50  # overdue items listed in the inbox, most urgent first
DAY_LIMIT = 20  # open items of each kind on the day page, most urgent first; links show all
RECORDS_PAGE = 50  # the period's duty records per page of the day page
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


@bp.app_template_global("finding_place")
def finding_place(finding: Finding) -> str:
    """What a listed nonconformity is called: its checkpoint, area, place or description."""
    if finding.checkpoint is not None:
        return finding.checkpoint.name
    if finding.area is not None:
        return finding.area.name
    return finding.location or do_truncate(
        current_app.jinja_env, finding.description, 40, True, "…"
    )


@bp.app_template_global("due_text")
def due_text(moment: datetime | None, site: Site, now: datetime) -> Markup:
    """When an item is due, marked overdue once past (a function, not a macro: the day
    page shows it on every open item)."""
    if moment is None:
        return Markup("—")
    texts = supervisor_texts()
    if moment < now:
        return Markup('<span class="badge badge-overdue">%s</span> %s') % (
            texts["overdue"],
            local_time(moment, site),
        )
    return Markup("%s %s") % (texts["due"], local_time(moment, site))


def url_prefix(endpoint: str, key: str, sample, **values) -> str:
    """The URL of `endpoint` without its last part, `key`, which each row appends: one
    url_for per page instead of one per row."""
    url = url_for(endpoint, **values, **{key: sample})
    if not url.endswith(f"/{sample}"):
        raise ValueError(f"{endpoint}: {key} is not the last part of {url}")
    return url[: -len(str(sample))]


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


def caught_up(site: Site) -> datetime:
    """run_clock() for the pages that only read: what the clock raised is committed at
    once; when it raised nothing (the usual case) there is nothing to commit, and the
    site and the user stay loaded instead of being read again after a commit."""
    moment = clock.now()
    if clock.advance(site, moment):
        db.session.commit()
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
    escalations = clock.inbox_count(site, current_user)
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
    moment = caught_up(site)
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
    moment = caught_up(site)
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


# What the day page and the inbox show of each item, and nothing more (an attribute left
# out would be read row by row: tests/test_supervisor.py counts the statements); each
# nonconformity names its checkpoint or area, joined, not one query per row.
FINDING_SHOWN = (
    load_only(
        Finding.site_id, Finding.location, Finding.description, Finding.severity,
        Finding.status, Finding.due_at, Finding.escalation_level,
    ),
    joinedload(Finding.checkpoint).load_only(Checkpoint.name),
    joinedload(Finding.area).load_only(Area.name),
)  # fmt: skip
ENTRY_SHOWN = load_only(
    DutyEntry.site_id, DutyEntry.kind, DutyEntry.summary, DutyEntry.status,
    DutyEntry.respond_by, DutyEntry.escalation_level, DutyEntry.received_at,
    DutyEntry.reporter_name, DutyEntry.reporter_unit, DutyEntry.handling, DutyEntry.result,
    DutyEntry.follow_up, DutyEntry.created_by_id,
)  # fmt: skip


@cache
def _urgent(overdue: bool):
    """The open nonconformities due first, or the overdue ones: the first few of each
    state, each a short range of the (site, status, due) index (an ORDER BY over all open
    items would sort every one of them), merged, and those rows with their places. One
    statement, built once; the site, the limit and the time are bound at each request."""
    parts = []
    for status in clock.AWAITING_CORRECTION if overdue else OPEN_STATES:
        conditions = [Finding.site_id == bindparam("site_id"), Finding.status == status]
        if overdue:
            conditions.append(Finding.due_at < bindparam("before"))
        else:
            conditions.append(Finding.due_at.is_not(None))
        parts.append(
            select(Finding.due_at, Finding.id)
            .where(*conditions)
            .order_by(Finding.due_at, Finding.id)
            .limit(bindparam("limit"))
            .subquery()
        )
    merged = union_all(*(select(part.c.due_at, part.c.id) for part in parts)).subquery()
    return (
        select(Finding)
        .join(merged, Finding.id == merged.c.id)
        .options(*FINDING_SHOWN)
        .order_by(merged.c.due_at, merged.c.id)
        .limit(bindparam("limit"))
    )


def urgent_findings(site: Site, limit: int, overdue_before: datetime | None = None) -> list:
    """The `limit` open nonconformities due first (overdue ones come first by nature), or
    only the overdue ones; items without a due time fill what is left of the list."""
    overdue = overdue_before is not None
    parameters = {"site_id": site.id, "limit": limit}
    if overdue:
        parameters["before"] = overdue_before
    found = db.session.scalars(_urgent(overdue), parameters).unique().all()
    if not overdue and len(found) < limit:
        found += db.session.scalars(
            select(Finding)
            .where(
                Finding.site_id == site.id,
                Finding.status.in_(OPEN_STATES),
                Finding.due_at.is_(None),
            )
            .options(*FINDING_SHOWN)
            .limit(limit - len(found))
        ).all()
    return found


def latest_reviews(kind: str, ids: list) -> dict:
    """The latest review of each item, by item id."""
    return all_latest_reviews({kind: ids})[kind]


def all_latest_reviews(ids_by_kind: dict) -> dict:
    """The latest review of each item of each kind ({kind: {item id: review}}), in one
    statement."""
    found = {kind: {} for kind in ids_by_kind}
    wanted = [REVIEW_COLUMN[kind].in_(ids) for kind, ids in ids_by_kind.items() if ids]
    if not wanted:
        return found
    reviews = db.session.scalars(
        select(Review)
        .where(or_(*wanted))
        .options(joinedload(Review.reviewed_by))
        .order_by(Review.reviewed_at, Review.id)
    ).all()
    for review in reviews:  # oldest first: the latest stays
        for kind, column in REVIEW_COLUMN.items():
            item_id = getattr(review, column.key)
            if item_id is not None and kind in found:
                found[kind][item_id] = review
    return found


@cache
def _open_findings_by_state():
    """Open nonconformities by state, with how many of them are past due: one pass over
    the (site, status, due) index (three counts would read the open rows three times).
    Built once; the site and the time are bound at each request."""
    return (
        select(
            Finding.status, func.count(), func.count(case((Finding.due_at < bindparam("now"), 1)))
        )
        .where(Finding.site_id == bindparam("site_id"), Finding.status.in_(OPEN_STATES))
        .group_by(Finding.status)
    )


@cache
def _day_figures(levels: tuple[int, ...]):
    """The rest of the day page's figures in one statement, each a short index range;
    built once per inbox level, the site, the time and the period bound at each request."""
    site_id, now = bindparam("site_id"), bindparam("now")

    def counted(model, *conditions):
        return select(func.count()).select_from(model).where(*conditions).scalar_subquery()

    open_entries = (DutyEntry.site_id == site_id, DutyEntry.status == "open")
    return select(
        counted(
            DutyEntry,
            DutyEntry.site_id == site_id,
            DutyEntry.received_at >= bindparam("start"),
            DutyEntry.received_at < bindparam("end"),
        ).label("records"),
        counted(DutyEntry, *open_entries).label("entries"),
        counted(DutyEntry, *open_entries, DutyEntry.respond_by < now).label("entries_overdue"),
        counted(FollowUp, FollowUp.site_id == site_id, FollowUp.status != "closed").label(
            "follow_ups"
        ),
        clock.inbox_count_query(site_id, levels).scalar_subquery().label("escalations"),
    )


def day_counts(site: Site, moment: datetime, period: Period) -> dict:
    """The day page's figures: records of the period, open and overdue items, escalations;
    two statements."""
    findings = db.session.execute(_open_findings_by_state(), {"site_id": site.id, "now": moment})
    findings = findings.all()
    figures = db.session.execute(
        _day_figures(tuple(clock.inbox_levels(current_user))),
        {"site_id": site.id, "now": moment, "start": period.start, "end": period.end},
    ).one()
    return {
        **figures._asdict(),
        "findings": sum(total for _status, total, _overdue in findings),
        # A corrected item waits for verification; it is not late (OVERDUE_STATES).
        "findings_overdue": sum(
            overdue for status, _total, overdue in findings if status in clock.AWAITING_CORRECTION
        ),
        "to_verify": sum(total for status, total, _overdue in findings if status == "corrected"),
    }


def records_page(site: Site, period: Period, page: int) -> list:
    """One page of the period's duty records, newest first (and one more, to know if an
    older page exists)."""
    return db.session.scalars(
        select(DutyEntry)
        .where(
            DutyEntry.site_id == site.id,
            DutyEntry.received_at >= period.start,
            DutyEntry.received_at < period.end,
        )
        .options(ENTRY_SHOWN, joinedload(DutyEntry.created_by).load_only(User.display_name))
        .order_by(DutyEntry.received_at.desc(), DutyEntry.id.desc())
        .offset((page - 1) * RECORDS_PAGE)
        .limit(RECORDS_PAGE + 1)
    ).all()


@bp.get("/s/<site_code>/day")
@roles_required(*MANAGERS)
def day(site_code: str):
    """D9: the period's duty records, a page at a time, each to be reviewed; and what is
    still open, counted, with the most urgent few of each kind to follow up and links to
    the full lists."""
    site = site_or_403(site_code)
    moment = caught_up(site)
    error, status = None, 200
    try:
        period = period_of(site, request.args.get("day"), moment)
    except DomainError as refused:
        error, status = refused.message, refused.status
        period = period_of(site, None, moment)
    raw_page = request.args.get("page", "1")
    page = min(int(raw_page), 10_000) if raw_page.isdigit() and int(raw_page) > 0 else 1
    records = records_page(site, period, page)
    more_records = len(records) > RECORDS_PAGE
    records = records[:RECORDS_PAGE]
    findings = urgent_findings(site, DAY_LIMIT)
    entries = db.session.scalars(
        select(DutyEntry)
        .where(DutyEntry.site_id == site.id, DutyEntry.status == "open")
        .options(ENTRY_SHOWN)
        .order_by(DutyEntry.respond_by, DutyEntry.id)
        .limit(DAY_LIMIT)
    ).all()
    follow_ups = db.session.scalars(
        select(FollowUp)
        .where(FollowUp.site_id == site.id, FollowUp.status != "closed")
        .options(selectinload(FollowUp.assignee))
        .order_by(FollowUp.created_at, FollowUp.id)
        .limit(DAY_LIMIT)
    ).all()
    entry_ids = list({entry.id for entry in [*records, *entries]})
    return render(
        "supervisor/day.html",
        status=status,
        site=site,
        now=moment,
        period=period,
        record_page=page,
        more_records=more_records,
        first_record=(page - 1) * RECORDS_PAGE + 1,
        counts=day_counts(site, moment, period),
        records=records,
        findings=findings,
        entries=entries,
        follow_ups=follow_ups,
        reviews=all_latest_reviews(
            {
                "finding": [finding.id for finding in findings],
                "entry": entry_ids,
                "follow_up": [item.id for item in follow_ups],
            }
        ),
        kinds={key: str(label) for key, label in KIND_LABELS.items()},
        links={
            "finding": url_prefix("findings.show", "finding_id", "x", site_code=site.code),
            "entry": url_prefix("dutylog.show", "entry_id", "x", site_code=site.code),
            "follow_up": url_prefix("dutylog.follow_up", "follow_up_id", 0, site_code=site.code),
        },
        team_label=team_label,
        follow_up_types={key: str(label) for key, label in FOLLOW_UP_LABELS.items()},
        follow_up_states={key: str(label) for key, label in FOLLOW_UP_STATE_LABELS.items()},
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
