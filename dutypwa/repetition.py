"""Repeated problems (rule D8): when nonconformities of one category come back at one
checkpoint (or, for those without a checkpoint, one area) `repetition_count` times within
`repetition_days` days (site settings), the software drafts the written report (书面报告)
to the supervisor. People edit it, print it and mark it sent; a draft a person edited is
never rewritten by the software, which only links further items to it.
"""

from contextlib import nullcontext
from datetime import datetime, timedelta

from flask import Blueprint, current_app, flash, has_request_context, redirect, request, url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.findings import CATEGORY_LABELS
from dutypwa.http import is_htmx, render
from dutypwa.models import (
    MANAGERS,
    Area,
    Checkpoint,
    Finding,
    RepetitionReport,
    Site,
    User,
    repetition_items,
    site_members,
    utcnow,
)
from dutypwa.nonconformities import STATE_LABELS

bp = Blueprint("repetition", __name__)

TITLE_MAX = 200
BODY_MAX = 8000
# The drafted body lists at most this many items; the page lists them all.
ITEMS_IN_BODY = 40


def _finding_place(checkpoint_id: int | None, area_id: int | None) -> list:
    """The findings "at the same place": the same checkpoint, or without a checkpoint the
    same area (a finding with only a free-text place is never compared)."""
    if checkpoint_id is not None:
        return [Finding.checkpoint_id == checkpoint_id]
    return [Finding.checkpoint_id.is_(None), Finding.area_id == area_id]


def _report_place(checkpoint_id: int | None, area_id: int | None) -> list:
    if checkpoint_id is not None:
        return [RepetitionReport.checkpoint_id == checkpoint_id]
    return [RepetitionReport.checkpoint_id.is_(None), RepetitionReport.area_id == area_id]


def recurrences(
    site: Site, *, category: str, checkpoint_id: int | None, area_id: int | None, until: datetime
) -> list[Finding]:
    """D8: the findings of this category at this place received in the `repetition_days`
    days up to `until` (both ends included), open or closed, oldest first. Items already
    in a report marked sent were reported: they do not count towards another one."""
    since = until - timedelta(days=int(site.setting("repetition_days")))
    reported = (
        select(repetition_items.c.finding_id)
        .join(RepetitionReport, RepetitionReport.id == repetition_items.c.report_id)
        .where(
            RepetitionReport.site_id == site.id,
            RepetitionReport.category == category,
            RepetitionReport.status == "sent",
            *_report_place(checkpoint_id, area_id),
        )
    )
    return db.session.scalars(
        select(Finding)
        .where(
            Finding.site_id == site.id,
            Finding.category == category,
            *_finding_place(checkpoint_id, area_id),
            Finding.received_at >= since,
            Finding.received_at <= until,
            Finding.id.not_in(reported),
        )
        .order_by(Finding.received_at, Finding.id)
    ).all()


def detect_repetition(finding: Finding, *, site: Site | None = None) -> RepetitionReport | None:
    """D8, run once when a nonconformity is recorded (after it is flushed): draft the
    report, or link the finding to the draft of the same problem. Adds and flushes."""
    if finding.checkpoint_id is None and finding.area_id is None:
        return None
    site = site or db.session.get(Site, finding.site_id)
    return _detect(
        site,
        category=finding.category,
        checkpoint_id=finding.checkpoint_id,
        area_id=finding.area_id,
        until=finding.received_at,
        now=utcnow(),
    )


def detect_all(site: Site, now: datetime) -> list[RepetitionReport]:
    """D8 over the whole window up to `now`: every category and place with findings in
    it (for data recorded before the detector ran, after a settings change, the demo)."""
    since = now - timedelta(days=int(site.setting("repetition_days")))
    keys = db.session.execute(
        select(Finding.category, Finding.checkpoint_id, Finding.area_id)
        .where(
            Finding.site_id == site.id,
            Finding.received_at >= since,
            Finding.received_at <= now,
            (Finding.checkpoint_id.is_not(None)) | (Finding.area_id.is_not(None)),
        )
        .distinct()
    ).all()
    places = {
        (category, checkpoint_id, None if checkpoint_id is not None else area_id)
        for category, checkpoint_id, area_id in keys
    }
    reports = []
    for category, checkpoint_id, area_id in sorted(places, key=str):
        report = _detect(
            site,
            category=category,
            checkpoint_id=checkpoint_id,
            area_id=area_id,
            until=now,
            now=now,
        )
        if report is not None:
            reports.append(report)
    return reports


def _detect(
    site: Site,
    *,
    category: str,
    checkpoint_id: int | None,
    area_id: int | None,
    until: datetime,
    now: datetime,
) -> RepetitionReport | None:
    items = recurrences(
        site, category=category, checkpoint_id=checkpoint_id, area_id=area_id, until=until
    )
    threshold = int(site.setting("repetition_count"))
    if len(items) < threshold:
        return None
    report = db.session.scalar(
        select(RepetitionReport)
        .where(
            RepetitionReport.site_id == site.id,
            RepetitionReport.category == category,
            RepetitionReport.status == "draft",
            *_report_place(checkpoint_id, area_id),
        )
        .order_by(RepetitionReport.id)
        .limit(1)
    )
    if report is None:
        if checkpoint_id is not None:
            # Kept for the page; the checkpoint alone says where.
            area_id = db.session.get(Checkpoint, checkpoint_id).area_id
        report = RepetitionReport(
            site_id=site.id,
            category=category,
            checkpoint_id=checkpoint_id,
            area_id=area_id,
            status="draft",
            created_at=now,
            findings=[],
        )
        db.session.add(report)
    linked = {item.id for item in report.findings}
    report.findings.extend(item for item in items if item.id not in linked)
    report.findings.sort(key=lambda item: (item.received_at, item.id))
    if not report.edited:
        # A person's words are theirs: only an untouched draft follows the data.
        report.threshold = threshold
        report.window_days = int(site.setting("repetition_days"))
        # Outside a request (the CLI, the demo) the app's default language is used.
        language = nullcontext()
        if not has_request_context():
            language = force_locale(current_app.config["BABEL_DEFAULT_LOCALE"])
        with language, db.session.no_autoflush:  # a new draft has no text until here
            report.title, report.body = draft_text(site, report)
        report.updated_at = now
    db.session.flush()
    return report


def place_name(report: RepetitionReport) -> str:
    checkpoint = report.checkpoint or (
        db.session.get(Checkpoint, report.checkpoint_id) if report.checkpoint_id else None
    )
    area = report.area or (db.session.get(Area, report.area_id) if report.area_id else None)
    if checkpoint is not None:
        return f"{checkpoint.name} ({area.name})" if area is not None else checkpoint.name
    return area.name if area is not None else _("Elsewhere")


def category_label(category: str) -> str:
    return str(CATEGORY_LABELS.get(category, category))


def supervisors(site: Site) -> list[User]:
    return db.session.scalars(
        select(User)
        .join(site_members, site_members.c.user_id == User.id)
        .where(site_members.c.site_id == site.id, User.role == "supervisor", User.active)
        .order_by(User.display_name)
    ).all()


def _day(site: Site, moment: datetime) -> str:
    return site.local(moment).strftime("%Y-%m-%d")


def _one_line(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def draft_text(site: Site, report: RepetitionReport) -> tuple[str, str]:
    """The drafted title and body (plain text), in the language of the request (English
    msgids, Simplified Chinese by default): to whom, what, where, how often, the items,
    and blanks for the cause and the action."""
    items = report.findings
    place = place_name(report)
    category = category_label(report.category)
    count = len(items)
    title = _(
        "Repeated problem: %(category)s at %(place)s, %(count)d times",
        category=category,
        place=place,
        count=count,
    )[:TITLE_MAX]
    names = "、".join(user.display_name for user in supervisors(site))
    lines = [
        _("To: %(names)s (supervisor)", names=names) if names else _("To: the supervisor"),
        _("From: the duty staff of %(site)s", site=site.name),
        _("Subject: %(title)s", title=title),
        "",
        _(
            "%(category)s problems were found %(count)d times at %(place)s between "
            "%(first)s and %(last)s. The site reports a problem that recurs %(threshold)d "
            "times within %(days)d days in writing.",
            category=category,
            count=count,
            place=place,
            first=_day(site, items[0].received_at),
            last=_day(site, items[-1].received_at),
            threshold=report.threshold,
            days=report.window_days,
        ),
        "",
        _("Occurrences:"),
    ]
    for number, item in enumerate(items[:ITEMS_IN_BODY], start=1):
        what = f"{item.item}: {item.description}" if item.item else item.description
        when = site.local(item.received_at).strftime("%Y-%m-%d %H:%M")
        status = str(STATE_LABELS.get(item.status, item.status))
        lines.append(f"{number}. {when} · {_one_line(what) or '—'} · {status}")
    if count > ITEMS_IN_BODY:
        lines.append(_("… and %(n)d more (see the linked items).", n=count - ITEMS_IN_BODY))
    lines += [
        "",
        _("Likely cause: (to be filled in)"),
        _("Action proposed: (to be filled in)"),
        "",
        _("Reported by: ____________    Date: ____________"),
    ]
    return title, "\n".join(lines)[:BODY_MAX]


def edit_report(report: RepetitionReport, *, by: User, title: str, body: str, now: datetime):
    """A person's wording replaces the draft; from now on the software leaves it alone."""
    if report.status != "draft":
        raise DomainError(_("This report was sent; it can no longer be changed."), 409)
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise DomainError(_("Give the report a title and a text."))
    if len(title) > TITLE_MAX:
        raise DomainError(_("The title is too long (at most %(n)d characters).", n=TITLE_MAX))
    if len(body) > BODY_MAX:
        raise DomainError(_("The text is too long (at most %(n)d characters).", n=BODY_MAX))
    report.title, report.body = title, body
    report.edited = True
    report.updated_at = now
    report.updated_by_id = by.id
    db.session.flush()


def mark_sent(report: RepetitionReport, *, by: User, now: datetime) -> None:
    """D8: the written report went to the supervisor; it is kept as it was sent."""
    if report.status != "draft":
        raise DomainError(_("This report was already marked as sent."), 409)
    report.status = "sent"
    report.sent_at = now
    report.updated_by_id = by.id
    db.session.flush()


def added_since_edit(report: RepetitionReport) -> list[Finding]:
    """Items linked after a person last edited the text (which was then left alone)."""
    if not report.edited:
        return []
    return [item for item in report.findings if item.received_at > report.updated_at]


@bp.get("/s/<site_code>/reports/repetitions")
@roles_required(*MANAGERS)
def index(site_code: str):
    """Drafts first, then sent reports, newest first; count and last occurrence of each."""
    site = site_or_403(site_code)
    stats = (
        select(
            repetition_items.c.report_id,
            func.count().label("count"),
            func.max(Finding.received_at).label("last"),
        )
        .join(Finding, Finding.id == repetition_items.c.finding_id)
        .group_by(repetition_items.c.report_id)
        .subquery()
    )
    rows = db.session.execute(
        select(RepetitionReport, stats.c.count, stats.c.last)
        .outerjoin(stats, stats.c.report_id == RepetitionReport.id)
        .where(RepetitionReport.site_id == site.id)
        .options(selectinload(RepetitionReport.checkpoint), selectinload(RepetitionReport.area))
        .order_by(
            case((RepetitionReport.status == "draft", 0), else_=1),
            stats.c.last.desc(),
            RepetitionReport.id.desc(),
        )
    ).all()
    return render(
        "repetition/index.html", site=site, rows=rows, place_name=place_name, label=category_label
    )


def _page(site: Site, report: RepetitionReport, status: int = 200, **extra):
    return render(
        "repetition/show.html",
        "repetition/_text.html",
        status=status,
        site=site,
        report=report,
        place=place_name(report),
        category=category_label(report.category),
        states=STATE_LABELS,
        added=added_since_edit(report),
        **extra,
    )


@bp.get("/s/<site_code>/reports/repetitions/<int:report_id>")
@roles_required(*MANAGERS)
def show(site_code: str, report_id: int):
    site = site_or_403(site_code)
    return _page(site, site_object(RepetitionReport, report_id, site))


@bp.post("/s/<site_code>/reports/repetitions/<int:report_id>")
@roles_required(*MANAGERS)
def update(site_code: str, report_id: int):
    """Save the edited title and text (htmx swaps the text section; 422 keeps the input)."""
    site = site_or_403(site_code)
    report = site_object(RepetitionReport, report_id, site)
    title, body = request.form.get("title", ""), request.form.get("body", "")
    try:
        edit_report(report, by=current_user, title=title, body=body, now=utcnow())
    except DomainError as error:
        db.session.rollback()
        form = {"title": title, "body": body}
        return _page(site, report, error.status, error=error.message, form=form)
    db.session.commit()
    if not is_htmx():
        return redirect(url_for(".show", site_code=site.code, report_id=report.id), 303)
    return _page(site, report, saved=True)


@bp.post("/s/<site_code>/reports/repetitions/<int:report_id>/send")
@roles_required(*MANAGERS)
def send(site_code: str, report_id: int):
    site = site_or_403(site_code)
    report = site_object(RepetitionReport, report_id, site)
    mark_sent(report, by=current_user, now=utcnow())
    db.session.commit()
    flash(_("Marked as sent to the supervisor."), "ok")
    return redirect(url_for(".show", site_code=site.code, report_id=report.id), 303)


@bp.post("/s/<site_code>/reports/repetitions/scan")
@roles_required(*MANAGERS)
def scan(site_code: str):
    """Look through the window now (after a settings change, or for older records)."""
    site = site_or_403(site_code)
    reports = detect_all(site, utcnow())
    db.session.commit()
    flash(
        ngettext(
            "%(num)d report drafted or brought up to date.",
            "%(num)d reports drafted or brought up to date.",
            len(reports),
        ),
        "ok",
    )
    return redirect(url_for(".index", site_code=site.code), 303)
