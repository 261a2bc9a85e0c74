"""Escalation (逐级上报, rules D2, D3, D11): staff → supervisor → director.

An item (a nonconformity or a duty-log entry) is put before a level by a person, by an
emergency, or by its response clock running out. The level must acknowledge it within the
site's time for that level; if nobody does, it goes up a level by itself at that moment.

advance() is the clock: it is idempotent and dates what it does at the moment it became
due, not the moment it ran, so the timeline is the same whether it runs every minute
(`flask escalations`, from cron) or when the next page that shows escalations is polled.
"""

from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import OPEN_STATES, DutyEntry, Escalation, Finding, Site, User
from dutypwa.models.escalation import LEVEL_ROLES

LEVEL_LABELS = {1: _l("Duty staff"), 2: _l("Supervisor"), 3: _l("Director")}
REASON_LABELS = {
    "manual": _l("Reported up"),
    "overdue": _l("Response overdue"),
    "emergency": _l("Emergency"),
    "unacknowledged": _l("Not acknowledged in time"),
}
TOP = 3


def ack_minutes(site: Site, level: int) -> int:
    return int(site.setting("ack_minutes").get(str(level), 15))


def pending_of(finding: Finding | None = None, entry: DutyEntry | None = None):
    query = select(Escalation).where(
        Escalation.acknowledged_at.is_(None), Escalation.superseded_at.is_(None)
    )
    if finding is not None:
        return query.where(Escalation.finding_id == finding.id)
    return query.where(Escalation.entry_id == entry.id)


def escalate(
    site: Site,
    *,
    level: int,
    reason: str,
    at: datetime,
    finding: Finding | None = None,
    entry: DutyEntry | None = None,
    by: User | None = None,
    note: str = "",
) -> Escalation:
    """Put the item before `level`. A pending escalation at that level or above is
    returned as it is; one below it is superseded now."""
    if (finding is None) == (entry is None):
        raise ValueError("escalate one item: a finding or an entry")
    if level not in LEVEL_ROLES:
        raise DomainError(_("There is no higher level to report to."))
    item = finding or entry
    for pending in db.session.scalars(pending_of(finding, entry)):
        if pending.level >= level:
            return pending
        pending.superseded_at = at
    escalation = Escalation(
        site_id=site.id,
        finding_id=finding.id if finding else None,
        entry_id=entry.id if entry else None,
        level=level,
        reason=reason,
        note=note[:500],
        raised_at=at,
        raised_by_id=by.id if by else None,
        ack_due=at + timedelta(minutes=ack_minutes(site, level)),
    )
    db.session.add(escalation)
    item.escalation_level = max(item.escalation_level, level)
    db.session.flush()
    return escalation


def report_up(
    site: Site, *, by: User, at: datetime, note: str, finding=None, entry=None
) -> Escalation:
    """A person reports the item to the level above theirs (逐级上报)."""
    item = finding or entry
    own = {"staff": 1, "supervisor": 2}.get(by.role, TOP)
    level = max(own, item.escalation_level) + 1
    if level > TOP:
        raise DomainError(_("There is no higher level to report to."))
    if not note.strip():
        raise DomainError(_("Write the reason."))
    return escalate(
        site, level=level, reason="manual", at=at, finding=finding, entry=entry, by=by, note=note
    )


def acknowledge(escalation: Escalation, *, by: User, at: datetime) -> None:
    if by.role not in LEVEL_ROLES[escalation.level]:
        raise DomainError(
            _(
                "Only the %(level)s level can acknowledge this.",
                level=LEVEL_LABELS[escalation.level],
            ),
            403,
        )
    if escalation.acknowledged_at is not None:
        raise DomainError(_("It was already acknowledged."), 409)
    if escalation.superseded_at is not None:
        raise DomainError(_("It has gone up a level; the level above acknowledges it now."), 409)
    escalation.acknowledged_at = at
    escalation.acknowledged_by_id = by.id


def _closed_by(item, moment: datetime) -> bool:
    return item.closed_at is not None and item.closed_at <= moment


def advance(site: Site, now: datetime) -> int:
    """Run the clock up to `now`; returns how many escalations it raised."""
    raised = 0
    overdue_findings = db.session.scalars(
        select(Finding).where(
            Finding.site_id == site.id,
            Finding.status.in_(OPEN_STATES),
            Finding.due_at <= now,
            Finding.escalation_level == 0,
        )
    ).all()
    for finding in overdue_findings:
        escalate(site, level=2, reason="overdue", at=finding.due_at, finding=finding)
        raised += 1
    overdue_entries = db.session.scalars(
        select(DutyEntry).where(
            DutyEntry.site_id == site.id,
            DutyEntry.status == "open",
            DutyEntry.respond_by <= now,
            DutyEntry.escalation_level == 0,
        )
    ).all()
    for entry in overdue_entries:
        escalate(site, level=2, reason="overdue", at=entry.respond_by, entry=entry)
        raised += 1
    while True:
        expired = db.session.scalars(
            select(Escalation).where(
                Escalation.site_id == site.id,
                Escalation.acknowledged_at.is_(None),
                Escalation.superseded_at.is_(None),
                Escalation.level < TOP,
                Escalation.ack_due <= now,
            )
        ).all()
        went_up = 0
        for escalation in expired:
            item = escalation.finding or escalation.entry
            if _closed_by(item, escalation.ack_due):
                continue  # settled before anyone had to look: nothing to take higher
            escalate(
                site,
                level=escalation.level + 1,
                reason="unacknowledged",
                at=escalation.ack_due,
                finding=escalation.finding,
                entry=escalation.entry,
            )
            went_up += 1
        raised += went_up
        if not went_up:
            return raised


def advance_all(now: datetime) -> int:
    return sum(advance(site, now) for site in db.session.scalars(select(Site)))


def inbox_query(site: Site, user: User):
    """The pending escalations this person's level must acknowledge at this site."""
    levels = [level for level, roles in LEVEL_ROLES.items() if user.role in roles]
    return (
        select(Escalation)
        .where(
            Escalation.site_id == site.id,
            Escalation.acknowledged_at.is_(None),
            Escalation.superseded_at.is_(None),
            or_(*(Escalation.level == level for level in levels)) if levels else False,
        )
        .order_by(Escalation.ack_due)
    )
