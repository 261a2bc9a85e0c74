"""Reports for the office: how often the duty targets were met (D2, D3, D11).

For a period of local days: nonconformities corrected by their due time (by severity),
duty-log entries closed by their response time (by kind), escalations acknowledged in
time (by level) and emergencies reached within the arrival target. An item whose target
has not come yet is "pending" and left out of the percentage. As a page and as CSV.
"""

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask import Blueprint, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from dutypwa import escalation as clock
from dutypwa.access import roles_required, site_or_403
from dutypwa.dutylog.entries import KIND_LABELS
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.findings import SEVERITY_LABELS
from dutypwa.http import render
from dutypwa.models import (
    ENTRY_KINDS,
    MANAGERS,
    SEVERITIES,
    DutyEntry,
    Escalation,
    Finding,
    FindingEvent,
    Site,
)

bp = Blueprint("reports", __name__)

DEFAULT_DAYS = 30
MAX_DAYS = 366
SECTIONS = {
    "findings": _l("Nonconformities corrected by their due time"),
    "entries": _l("Duty-log entries closed by their response time"),
    "escalations": _l("Escalations acknowledged in time"),
    "emergencies": _l("Emergencies reached within the arrival target"),
}


@dataclass
class Tally:
    """One line of the report: items whose target passed, and how they fared."""

    met: int = 0
    late: int = 0  # done, but after the target
    missed: int = 0  # not done, and the target has passed
    pending: int = 0  # the target has not come yet

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def judged(self) -> int:
        return self.met + self.late + self.missed

    @property
    def percent(self) -> float | None:
        return round(100 * self.met / self.judged, 1) if self.judged else None


@dataclass
class Section:
    key: str
    rows: dict = field(default_factory=dict)  # group label → Tally

    @property
    def total(self) -> Tally:
        total = Tally()
        for tally in self.rows.values():
            for name in ("met", "late", "missed", "pending"):
                setattr(total, name, getattr(total, name) + getattr(tally, name))
        return total


def parse_period(site: Site, values, today: date) -> tuple[date, date]:
    """from/to as local dates, both included; the last 30 days by default."""
    try:
        end = date.fromisoformat(values.get("to") or today.isoformat())
        start = date.fromisoformat(
            values.get("from") or (end - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        )
    except ValueError:
        raise DomainError(_("Give the dates like 2026-11-26.")) from None
    if start > end:
        raise DomainError(_("The start date is after the end date."))
    if (end - start).days >= MAX_DAYS:
        raise DomainError(_("Choose at most %(n)d days.", n=MAX_DAYS))
    return start, end


def bounds(site: Site, start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time(0), site.tz),
        datetime.combine(end + timedelta(days=1), time(0), site.tz),
    )


def outcome(done_at, target, now) -> str:
    if done_at is not None:
        return "met" if done_at <= target else "late"
    return "missed" if target <= now else "pending"


def findings_section(site: Site, since: datetime, until: datetime, now: datetime) -> Section:
    """Raised in the period; corrected (the latest correction, by the device's clock unless
    it was flagged) by the due time. Closed without a correction counts at closing."""
    moment = case(
        (FindingEvent.clock_flagged, FindingEvent.received_at),
        else_=func.coalesce(FindingEvent.device_time, FindingEvent.received_at),
    )
    corrected = (
        select(FindingEvent.finding_id, func.max(moment).label("corrected_at"))
        .where(FindingEvent.action == "correct", FindingEvent.outcome == "applied")
        .group_by(FindingEvent.finding_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Finding.severity, Finding.due_at, Finding.closed_at, corrected.c.corrected_at)
        .outerjoin(corrected, corrected.c.finding_id == Finding.id)
        .where(
            Finding.site_id == site.id,
            Finding.received_at >= since,
            Finding.received_at < until,
            Finding.due_at.is_not(None),
        )
    ).all()
    section = Section("findings", {str(SEVERITY_LABELS[s]): Tally() for s in SEVERITIES})
    for severity, due_at, closed_at, corrected_at in rows:
        done = corrected_at or closed_at
        label = str(SEVERITY_LABELS.get(severity, severity))
        section.rows.setdefault(label, Tally()).add(outcome(done, due_at, now))
    return section


def entries_section(site: Site, since: datetime, until: datetime, now: datetime) -> Section:
    rows = db.session.execute(
        select(DutyEntry.kind, DutyEntry.respond_by, DutyEntry.closed_at, DutyEntry.status).where(
            DutyEntry.site_id == site.id,
            DutyEntry.received_at >= since,
            DutyEntry.received_at < until,
            DutyEntry.respond_by.is_not(None),
        )
    ).all()
    section = Section("entries", {str(KIND_LABELS[k]): Tally() for k in ENTRY_KINDS})
    for kind, respond_by, closed_at, status in rows:
        done = closed_at if status == "closed" else None
        label = str(KIND_LABELS.get(kind, kind))
        section.rows.setdefault(label, Tally()).add(outcome(done, respond_by, now))
    return section


def escalations_section(site: Site, since: datetime, until: datetime, now: datetime) -> Section:
    """Raised in the period. One that went up unacknowledged is missed; one whose item was
    closed before anyone had to look is left out, like one still within its time."""
    rows = db.session.execute(
        select(
            Escalation.level,
            Escalation.ack_due,
            Escalation.acknowledged_at,
            func.coalesce(Finding.closed_at, DutyEntry.closed_at),
        )
        .outerjoin(Finding, Finding.id == Escalation.finding_id)
        .outerjoin(DutyEntry, DutyEntry.id == Escalation.entry_id)
        .where(
            Escalation.site_id == site.id,
            Escalation.raised_at >= since,
            Escalation.raised_at < until,
        )
    ).all()
    section = Section("escalations", {str(clock.LEVEL_LABELS[lv]): Tally() for lv in (2, 3)})
    for level, ack_due, acknowledged_at, closed_at in rows:
        result = outcome(acknowledged_at, ack_due, now)
        if result == "missed" and closed_at is not None and closed_at <= ack_due:
            result = "pending"
        section.rows.setdefault(str(clock.LEVEL_LABELS.get(level, level)), Tally()).add(result)
    return section


def emergencies_section(site: Site, since: datetime, until: datetime, now: datetime) -> Section:
    """D11: on the scene within the target after the emergency was logged (the device's
    time unless its clock was flagged)."""
    minutes = int(site.setting("emergency_arrival_minutes"))
    entries = db.session.scalars(
        select(DutyEntry).where(
            DutyEntry.site_id == site.id,
            DutyEntry.kind == "emergency",
            DutyEntry.received_at >= since,
            DutyEntry.received_at < until,
        )
    ).all()
    tally = Tally()
    for entry in entries:
        target = entry.arrival_due or entry.when + timedelta(minutes=minutes)
        tally.add(outcome(entry.arrived_at, target, now))
    return Section("emergencies", {str(_("Within %(n)d minutes", n=minutes)): tally})


def targets_report(site: Site, start: date, end: date, now: datetime) -> list[Section]:
    since, until = bounds(site, start, end)
    return [
        builder(site, since, until, now)
        for builder in (findings_section, entries_section, escalations_section, emergencies_section)
    ]


def _period_or_422(site: Site, moment: datetime):
    return parse_period(site, request.args, site.local(moment).date())


@bp.get("/s/<site_code>/reports/targets")
@roles_required(*MANAGERS)
def targets(site_code: str):
    site = site_or_403(site_code)
    moment = clock.now()
    clock.advance(site, moment)
    db.session.commit()
    try:
        start, end = _period_or_422(site, moment)
    except DomainError as refused:
        today = site.local(moment).date()
        return render(
            "reports/targets.html", status=refused.status, site=site, error=refused.message,
            sections=[], titles=SECTIONS, start=today - timedelta(days=DEFAULT_DAYS - 1),
            end=today, args=request.args,
        )  # fmt: skip
    return render(
        "reports/targets.html",
        site=site,
        sections=targets_report(site, start, end, moment),
        titles=SECTIONS,
        start=start,
        end=end,
        error=None,
        args=request.args,
    )


@bp.get("/s/<site_code>/reports/targets.csv")
@roles_required(*MANAGERS)
def targets_csv(site_code: str):
    site = site_or_403(site_code)
    moment = clock.now()
    clock.advance(site, moment)
    db.session.commit()
    start, end = _period_or_422(site, moment)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["section", "group", "met", "late", "missed", "pending", "percent_met"])
    for section in targets_report(site, start, end, moment):
        for label, tally in [*section.rows.items(), (_("Total"), section.total)]:
            percent = "" if tally.percent is None else f"{tally.percent:.1f}"
            writer.writerow([section.key, label, tally.met, tally.late, tally.missed,
                             tally.pending, percent])  # fmt: skip
    name = f"targets-{site.code}-{start.isoformat()}-{end.isoformat()}.csv"
    # A byte-order mark, so that Excel opens the Chinese labels as UTF-8.
    return (
        "\ufeff" + buffer.getvalue(),
        200,
        {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )
