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
from functools import cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, case, false, func, or_, select, update
from sqlalchemy.orm import aliased, selectinload

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import (
    OPEN_STATES,
    OVERDUE_STATES,
    DutyEntry,
    Escalation,
    Finding,
    Site,
    User,
    utcnow,
)
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
# A nonconformity is overdue while it waits for its correction (models.OVERDUE_STATES).
AWAITING_CORRECTION = OVERDUE_STATES
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
    pendings = db.session.scalars(
        pending_of(finding, entry).execution_options(populate_existing=True)
    ).all()
    escalation = _put_before(
        site, finding or entry, level=level, reason=reason, at=at, pendings=pendings, by=by,
        note=note,
    )  # fmt: skip
    db.session.flush()
    return escalation


def _put_before(
    site: Site, item, *, level: int, reason: str, at: datetime, pendings, by=None, note=""
) -> Escalation:
    """escalate() given all of the item's pending escalations (the clock loads them in
    bulk). The levels below are superseded even when one above is already waiting."""
    higher = [pending for pending in pendings if pending.level >= level]
    for pending in pendings:
        if pending.level < level:
            pending.superseded_at = at
    if higher:
        return min(higher, key=lambda pending: pending.level)
    is_finding = isinstance(item, Finding)
    escalation = Escalation(
        site_id=site.id,
        finding_id=item.id if is_finding else None,
        entry_id=None if is_finding else item.id,
        level=level,
        reason=reason,
        note=note[:500],
        raised_at=at,
        raised_by_id=by.id if by else None,
        ack_due=at + timedelta(minutes=ack_minutes(site, level)),
    )
    db.session.add(escalation)
    item.escalation_level = max(item.escalation_level, level)
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
    arrived_before = now - timedelta(minutes=arrival_minutes(site))
    # One statement asks all the questions (each an index range); the usual answer is no:
    # read only, no lock taken.
    due = {"site_id": site.id, "now": now, "arrived_before": arrived_before}
    if not db.session.scalar(_anything_due(), due):
        return 0
    questions = _work(site.id, now, arrived_before)
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
    # Items still at level 0 have never been escalated: nothing of theirs is pending.
    # D11: an emergency goes before the supervisor the moment the server has it.
    for entry in db.session.scalars(questions["emergencies"].execution_options(**fresh)).all():
        _put_before(site, entry, level=2, reason="emergency", at=entry.received_at, pendings=())
        raised += 1
    for key, due in (("findings", "due_at"), ("entries", "respond_by")):
        db.session.flush()  # the emergencies just raised are not at level 0 any more
        for item in db.session.scalars(questions[key].execution_options(**fresh)).all():
            at = _known_at(item, getattr(item, due))
            if at <= now:
                _put_before(site, item, level=2, reason="overdue", at=at, pendings=())
                raised += 1
    # What is left happens to items already escalated: their pending escalation runs out
    # (it goes up a level) or, for an emergency, nobody reaches the scene (it goes to the
    # director). Each item takes its earliest such event first, so the order is the order
    # in time, however long ago the clock last ran.
    for _round in range(2 * TOP):  # each round takes every item at least a level up
        db.session.flush()
        earliest: dict[tuple, tuple] = {}
        expired = (
            questions["expired"]
            .options(selectinload(Escalation.finding), selectinload(Escalation.entry))
            .execution_options(**fresh)
        )
        for escalation in db.session.scalars(expired).all():
            item = escalation.finding or escalation.entry
            _keep_earliest(earliest, _key(item), (escalation.ack_due, 0, escalation, item))
        for entry, at in _no_arrivals(site, now, questions["arrivals"]):
            _keep_earliest(earliest, _key(entry), (at, 1, None, entry))
        if not earliest:
            return raised
        pendings = _pendings_of([candidate[3] for candidate in earliest.values()])
        for key, (at, _order, escalation, item) in earliest.items():
            if escalation is not None:
                level, reason = escalation.level + 1, "unacknowledged"
            else:
                level, reason = TOP, "no_arrival"
            _put_before(site, item, level=level, reason=reason, at=at, pendings=pendings[key])
            raised += 1
    return raised


def _key(item) -> tuple[str, str]:
    return ("finding" if isinstance(item, Finding) else "entry", item.id)


def _pendings_of(items: list) -> dict:
    """The pending escalations of these items, by item, in a few queries."""
    found = {_key(item): [] for item in items}
    for column, kind in ((Escalation.finding_id, "finding"), (Escalation.entry_id, "entry")):
        ids = [item_id for item_kind, item_id in found if item_kind == kind]
        for start in range(0, len(ids), 500):
            query = (
                select(Escalation)
                .where(
                    column.in_(ids[start : start + 500]),
                    Escalation.acknowledged_at.is_(None),
                    Escalation.superseded_at.is_(None),
                )
                .execution_options(populate_existing=True)
            )
            for escalation in db.session.scalars(query):
                found[(kind, getattr(escalation, column.key))].append(escalation)
    return found


def arrival_minutes(site: Site) -> int:
    return int(site.setting("emergency_arrival_minutes"))


@cache
def _anything_due():
    """All of the clock's questions as one statement, built once; the site, the time and
    the arrival deadline are bound at each run."""
    questions = _work(bindparam("site_id"), bindparam("now"), bindparam("arrived_before"))
    return select(or_(*(question.order_by(None).exists() for question in questions.values())))


def _work(site_id, now, arrived_before) -> dict:
    """The questions the clock asks: what has become due by `now` at this site; emergencies
    received before `arrived_before` should have someone on the scene."""
    open_entries = (DutyEntry.site_id == site_id, DutyEntry.status == "open")
    return {
        "emergencies": select(DutyEntry).where(
            *open_entries,
            DutyEntry.kind == "emergency",
            DutyEntry.escalation_level == 0,
            DutyEntry.received_at <= now,
        ),
        "findings": select(Finding).where(
            Finding.site_id == site_id,
            Finding.status.in_(AWAITING_CORRECTION),
            Finding.escalation_level == 0,
            Finding.due_at <= now,
        ),
        "entries": select(DutyEntry).where(
            *open_entries, DutyEntry.escalation_level == 0, DutyEntry.respond_by <= now
        ),
        "expired": _expired(site_id, now),
        "arrivals": _arrivals(site_id, now, arrived_before),
    }


def _keep_earliest(earliest: dict, key: tuple, candidate: tuple) -> None:
    if key not in earliest or candidate[:2] < earliest[key][:2]:
        earliest[key] = candidate


def _no_arrivals(site: Site, now: datetime, query) -> list[tuple[DutyEntry, datetime]]:
    """D11: open emergencies nobody has reached by their arrival time, with that time;
    the director must know."""
    minutes = arrival_minutes(site)
    found = []
    query = query.execution_options(populate_existing=True)
    for entry in db.session.scalars(query).all():
        due = entry.arrival_due or entry.when + timedelta(minutes=minutes)
        at = _known_at(entry, due)
        if at <= now:
            found.append((entry, at))
    return found


def _arrivals(site_id, now, arrived_before):
    return select(DutyEntry).where(
        DutyEntry.site_id == site_id,
        DutyEntry.status == "open",
        DutyEntry.kind == "emergency",
        DutyEntry.arrived_at.is_(None),
        DutyEntry.escalation_level < TOP,
        or_(
            DutyEntry.arrival_due <= now,
            and_(
                DutyEntry.arrival_due.is_(None),
                DutyEntry.received_at <= arrived_before,
            ),
        ),
    )


def _expired(site_id, now):
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
            Escalation.site_id == site_id,
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


def _item_open():
    """The escalation's item is still open, looked up by primary key for each pending
    escalation (a scalar subquery runs per row): an OR across two outer joins, or EXISTS,
    let PostgreSQL hash every open nonconformity, or read them all, for the few waiting."""
    finding_status = select(Finding.status).where(Finding.id == Escalation.finding_id)
    entry_status = select(DutyEntry.status).where(DutyEntry.id == Escalation.entry_id)
    item_status = case(
        (Escalation.finding_id.is_not(None), finding_status.scalar_subquery()),
        else_=entry_status.scalar_subquery(),
    )
    # An entry is open as "open", which is one of the open states of a nonconformity.
    return item_status.in_(OPEN_STATES)


def _inbox_conditions(site_id, levels: tuple[int, ...]) -> tuple:
    return (
        Escalation.site_id == site_id,
        Escalation.acknowledged_at.is_(None),
        Escalation.superseded_at.is_(None),
        Escalation.level.in_(levels) if levels else false(),
        _item_open(),
    )


def inbox_query(site: Site, user: User, levels: tuple[int, ...] | None = None):
    """The pending escalations of open items this person's level must acknowledge here:
    emergencies first (D11), then by the time they must be acknowledged."""
    levels = inbox_levels(user) if levels is None else levels
    entry = aliased(DutyEntry)  # not the one _item_open() correlates with
    emergency = case((entry.kind == "emergency", 0), else_=1)
    return (
        select(Escalation)
        .outerjoin(entry, entry.id == Escalation.entry_id)
        .where(*_inbox_conditions(site.id, levels))
        .order_by(emergency, Escalation.ack_due, Escalation.id)
    )


def inbox_count_query(site_id, levels: tuple[int, ...]):
    """How many escalations wait in the inbox of these levels: a count, no ORDER BY."""
    return select(func.count()).select_from(Escalation).where(*_inbox_conditions(site_id, levels))


@cache
def _inbox_count(levels: tuple[int, ...]):
    return inbox_count_query(bindparam("site_id"), levels)


def inbox_count(site: Site, user: User, levels: tuple[int, ...] | None = None) -> int:
    levels = inbox_levels(user) if levels is None else levels
    return db.session.scalar(_inbox_count(tuple(levels)), {"site_id": site.id})


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
