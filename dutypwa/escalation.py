"""Escalation (逐级上报, rules D2, D3, D11): staff → supervisor → director.

An item (a nonconformity or a duty-log entry) is put before a level by a person, by an
emergency, or by its response clock running out. The level must acknowledge it within the
site's time for that level; if nobody does, it goes up a level by itself at that moment.

advance() is the clock: it is idempotent and dates what it does at the moment it became
due, not the moment it ran, so the timeline is the same whether it runs every minute
(`flask escalations`, from cron) or when the next page that shows escalations is polled.
Views read the time through now(), which tests replace.
"""

from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.orm import selectinload

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import OPEN_STATES, DutyEntry, Escalation, Finding, Site, User, utcnow
from dutypwa.models.escalation import LEVEL_ROLES

LEVEL_LABELS = {1: _l("Duty staff"), 2: _l("Supervisor"), 3: _l("Director")}
REASON_LABELS = {
    "manual": _l("Reported up"),
    "overdue": _l("Response overdue"),
    "emergency": _l("Emergency"),
    "unacknowledged": _l("Not acknowledged in time"),
    "no_arrival": _l("Nobody on the scene in time"),
}
TOP = 3
# A nonconformity is overdue while it waits for its correction; a corrected one waits for
# the supervisor's verification, which has no due time of its own.
AWAITING_CORRECTION = ("open", "assigned", "reopened")
# The level a person works at; they report to the one above and acknowledge their own.
OWN_LEVEL = {"staff": 1, "supervisor": 2, "director": 3, "admin": 3}
# The levels whose escalations wait in a person's inbox (and count on their badge).
INBOX_LEVELS = {"supervisor": (2,), "director": (3,), "admin": (2, 3)}


def now() -> datetime:
    """The clock the views read; tests put their own in its place."""
    return utcnow()


def ack_minutes(site: Site, level: int) -> int:
    return int(site.setting("ack_minutes").get(str(level), 15))


def pending_of(finding: Finding | None = None, entry: DutyEntry | None = None):
    query = select(Escalation).where(
        Escalation.acknowledged_at.is_(None), Escalation.superseded_at.is_(None)
    )
    if finding is not None:
        return query.where(Escalation.finding_id == finding.id)
    return query.where(Escalation.entry_id == entry.id)


def item_is_open(item) -> bool:
    return item.status in OPEN_STATES if isinstance(item, Finding) else item.status == "open"


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
    pendings = db.session.scalars(
        pending_of(finding, entry).execution_options(populate_existing=True)
    ).all()
    higher = [pending for pending in pendings if pending.level >= level]
    for pending in pendings:
        if pending.level < level:
            pending.superseded_at = at  # taken over by the level above, even one already there
    if higher:
        return min(higher, key=lambda pending: pending.level)
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
    """D3: a person reports the item to the level above their own (逐级上报). If it is
    waiting at their own level, reporting it up acknowledges it there first: they saw it."""
    item = finding or entry
    note = note.strip()
    if not note:
        raise DomainError(_("Write the reason."))
    if len(note) > 500:
        raise DomainError(_("The reason is too long (at most 500 characters)."))
    level = OWN_LEVEL.get(by.role, TOP) + 1
    if level > TOP:
        raise DomainError(_("There is no higher level to report to."))
    if not item_is_open(item):
        raise DomainError(_("It is closed; there is nothing to report up."), 409)
    for pending in db.session.scalars(pending_of(finding, entry)):
        if pending.level >= level:
            raise DomainError(
                _(
                    "It is already waiting for the %(level)s to acknowledge it.",
                    level=LEVEL_LABELS[pending.level],
                ),
                409,
            )
        if by.role in LEVEL_ROLES.get(pending.level, ()):
            pending.acknowledged_at = at
            pending.acknowledged_by_id = by.id
    return escalate(
        site, level=level, reason="manual", at=at, finding=finding, entry=entry, by=by, note=note
    )


def may_acknowledge(escalation: Escalation, user: User) -> bool:
    return escalation.pending and user.role in LEVEL_ROLES[escalation.level]


def acknowledge(escalation: Escalation, *, by: User, at: datetime) -> None:
    """The level takes the item on; it stops going up. After `ack_due` it still counts as
    acknowledged, but late (the targets report says so)."""
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


def is_late(escalation: Escalation) -> bool:
    acknowledged = escalation.acknowledged_at
    return acknowledged is not None and acknowledged > escalation.ack_due


def _known_at(item, moment: datetime) -> datetime:
    """An escalation is not dated before the server knew of the item (a late sync)."""
    return max(moment, item.received_at)


def advance(site: Site, now: datetime) -> int:
    """Run the clock up to `now`; returns how many escalations it raised.

    Looks only at open items and pending escalations, through indexes, so it can run at
    the start of every request that shows escalations. An item closed before the clock
    ran past its due time is not escalated afterwards (the targets report counts it late).
    """
    questions = _work(site, now)
    if not any(db.session.scalar(question.limit(1)) for question in questions.values()):
        return 0  # the usual answer: read only, no lock taken
    # One clock run per site at a time: a no-op update takes the site's row lock (the
    # database's write lock on SQLite) until the request commits; what was read before it
    # is read again, fresh.
    db.session.execute(
        update(Site)
        .where(Site.id == site.id)
        .values(code=Site.code)
        .execution_options(synchronize_session=False)
    )
    raised = 0
    fresh = {"populate_existing": True}
    # D11: an emergency goes before the supervisor the moment the server has it.
    for entry in db.session.scalars(questions["emergencies"].execution_options(**fresh)).all():
        escalate(site, level=2, reason="emergency", at=entry.received_at, entry=entry)
        raised += 1
    for finding in db.session.scalars(questions["findings"].execution_options(**fresh)).all():
        at = _known_at(finding, finding.due_at)
        if at <= now:
            escalate(site, level=2, reason="overdue", at=at, finding=finding)
            raised += 1
    for entry in db.session.scalars(questions["entries"].execution_options(**fresh)).all():
        at = _known_at(entry, entry.respond_by)
        if at <= now:
            escalate(site, level=2, reason="overdue", at=at, entry=entry)
            raised += 1
    # What is left happens to items already escalated: their pending escalation runs out
    # (it goes up a level) or, for an emergency, nobody reaches the scene (it goes to the
    # director). Each item takes its earliest such event first, so the order is the order
    # in time, however long ago the clock last ran.
    for _round in range(2 * TOP):  # each round takes every item at least a level up
        earliest: dict[tuple, tuple] = {}
        expired = questions["expired"].execution_options(**fresh)
        for escalation in db.session.scalars(expired).all():
            key = ("finding", escalation.finding_id, "entry", escalation.entry_id)
            _keep_earliest(earliest, key, (escalation.ack_due, 0, escalation))
        for entry, at in _no_arrivals(site, now):
            key = ("finding", None, "entry", entry.id)
            _keep_earliest(earliest, key, (at, 1, entry))
        if not earliest:
            return raised
        for at, _order, subject in earliest.values():
            if isinstance(subject, Escalation):
                escalate(site, level=subject.level + 1, reason="unacknowledged", at=at,
                         finding=subject.finding, entry=subject.entry)  # fmt: skip
            else:
                escalate(site, level=TOP, reason="no_arrival", at=at, entry=subject)
            raised += 1
    return raised


def _work(site: Site, now: datetime) -> dict:
    """The questions the clock asks: what has become due by `now` at this site."""
    open_entries = (DutyEntry.site_id == site.id, DutyEntry.status == "open")
    return {
        "emergencies": select(DutyEntry).where(
            *open_entries,
            DutyEntry.kind == "emergency",
            DutyEntry.escalation_level == 0,
            DutyEntry.received_at <= now,
        ),
        "findings": select(Finding).where(
            Finding.site_id == site.id,
            Finding.status.in_(AWAITING_CORRECTION),
            Finding.escalation_level == 0,
            Finding.due_at <= now,
        ),
        "entries": select(DutyEntry).where(
            *open_entries, DutyEntry.escalation_level == 0, DutyEntry.respond_by <= now
        ),
        "expired": _expired(site, now),
        "arrivals": _arrival_query(site, now),
    }


def _keep_earliest(earliest: dict, key: tuple, candidate: tuple) -> None:
    if key not in earliest or candidate[:2] < earliest[key][:2]:
        earliest[key] = candidate


def _no_arrivals(site: Site, now: datetime) -> list[tuple[DutyEntry, datetime]]:
    """D11: open emergencies nobody has reached by their arrival time, with that time;
    the director must know."""
    minutes = int(site.setting("emergency_arrival_minutes"))
    found = []
    query = _arrival_query(site, now).execution_options(populate_existing=True)
    for entry in db.session.scalars(query).all():
        due = entry.arrival_due or entry.when + timedelta(minutes=minutes)
        at = _known_at(entry, due)
        if at <= now:
            found.append((entry, at))
    return found


def _arrival_query(site: Site, now: datetime):
    minutes = int(site.setting("emergency_arrival_minutes"))
    return select(DutyEntry).where(
        DutyEntry.site_id == site.id,
        DutyEntry.status == "open",
        DutyEntry.kind == "emergency",
        DutyEntry.arrived_at.is_(None),
        DutyEntry.escalation_level < TOP,
        or_(
            DutyEntry.arrival_due <= now,
            and_(
                DutyEntry.arrival_due.is_(None),
                DutyEntry.received_at <= now - timedelta(minutes=minutes),
            ),
        ),
    )


def _expired(site: Site, now: datetime):
    """Pending escalations below the top whose time ran out while their item was open."""
    # Written without NULLs reaching not(): the other item's columns are NULL here.
    finding_open = or_(
        Escalation.finding_id.is_(None),
        Finding.status != "closed",
        Finding.closed_at.is_(None),
        Finding.closed_at > Escalation.ack_due,
    )
    entry_open = or_(
        Escalation.entry_id.is_(None),
        DutyEntry.status != "closed",
        DutyEntry.closed_at.is_(None),
        DutyEntry.closed_at > Escalation.ack_due,
    )
    return (
        select(Escalation)
        .outerjoin(Finding, Finding.id == Escalation.finding_id)
        .outerjoin(DutyEntry, DutyEntry.id == Escalation.entry_id)
        .where(
            Escalation.site_id == site.id,
            Escalation.acknowledged_at.is_(None),
            Escalation.superseded_at.is_(None),
            Escalation.level < TOP,
            Escalation.ack_due <= now,
            finding_open,
            entry_open,
        )
        .order_by(Escalation.ack_due, Escalation.id)
    )


def advance_all(now: datetime) -> int:
    return sum(advance(site, now) for site in db.session.scalars(select(Site)).all())


def inbox_levels(user: User) -> tuple[int, ...]:
    return INBOX_LEVELS.get(user.role, ())


def inbox_query(site: Site, user: User, levels: tuple[int, ...] | None = None):
    """The pending escalations of open items this person's level must acknowledge here."""
    levels = inbox_levels(user) if levels is None else levels
    return (
        select(Escalation)
        .outerjoin(Finding, Finding.id == Escalation.finding_id)
        .outerjoin(DutyEntry, DutyEntry.id == Escalation.entry_id)
        .where(
            Escalation.site_id == site.id,
            Escalation.acknowledged_at.is_(None),
            Escalation.superseded_at.is_(None),
            Escalation.level.in_(levels) if levels else false(),
            or_(Finding.status.in_(OPEN_STATES), DutyEntry.status == "open"),
        )
        .order_by(Escalation.ack_due, Escalation.id)
    )


def timeline(finding: Finding | None = None, entry: DutyEntry | None = None) -> list[Escalation]:
    """An item's escalations, oldest first: the evidence of who was asked and who answered."""
    column = Escalation.finding_id if finding is not None else Escalation.entry_id
    item = finding if finding is not None else entry
    return db.session.scalars(
        select(Escalation)
        .where(column == item.id)
        .options(selectinload(Escalation.raised_by), selectinload(Escalation.acknowledged_by))
        .order_by(Escalation.raised_at, Escalation.id)
    ).all()
