"""Attendance on a published roster entry, from the evidence the app has (design d-8): the
relief's signature on a handover at the post starts a duty and the handover in which the
person signs as outgoing ends it; without a handover, the first and last patrol check-in
stand in (e-10 3: the handover wins over a later first scan). Events are matched to the
entry whose [start − 2 h, end + 2 h] holds them (times.entry_for_event, d-3), never by
calendar date, so a night across midnight is one duty.

What it earns (R6, e-7 1–2): duty worked on a rest day accrues comp time (补休) equal to the
worked minutes; a planned shift nobody attended accrues nothing.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import CheckIn, CompLedger, Handover, RosterEntry, RosterMonth, Site, utcnow
from dutypwa.roster import comptime
from dutypwa.roster.times import entry_for_event

# An event this long before a shift's start or after its end still belongs to it (H1: the
# relief arrives early; a handover may run late).
PRE_WINDOW = timedelta(hours=2)
POST_WINDOW = timedelta(hours=2)
SOURCE_TYPE = "roster_entry"
ACCRUAL_KIND = {"rest": "accrue_rest_day", "statutory": "accrue_statutory"}


@dataclass(frozen=True)
class _Span:
    """An entry as times.entry_for_event sees it."""

    entry: RosterEntry
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Attendance:
    """When the person on `entry` worked, and what says so ("handover" or "patrol")."""

    entry: RosterEntry
    start: datetime | None = None
    end: datetime | None = None
    start_source: str | None = None
    end_source: str | None = None

    @property
    def attended(self) -> bool:
        return self.minutes > 0

    @property
    def minutes(self) -> int:
        """Whole minutes worked inside the entry's segments: comp time is earned for the
        rostered duty, not for arriving early or handing over late (a night 20:00–08:00
        with handovers at 20:05 and 08:02 is 11 h 55 min), nor for a split shift's break."""
        if self.start is None or self.end is None or self.end <= self.start:
            return 0
        worked = sum(
            (min(end, self.end) - max(start, self.start) for start, end in self.entry.times),
            timedelta(0),
        )
        positive = max(worked, timedelta(0))
        return int(positive.total_seconds() // 60)


def _window(entry: RosterEntry) -> tuple[datetime, datetime]:
    return entry.start_at - PRE_WINDOW, entry.end_at + POST_WINDOW


def _neighbours(entry: RosterEntry) -> list[_Span]:
    """The person's planned entries whose windows may share an event with this one's."""
    reach = PRE_WINDOW + POST_WINDOW
    rows = db.session.scalars(
        select(RosterEntry).where(
            RosterEntry.site_id == entry.site_id,
            RosterEntry.user_id == entry.user_id,
            RosterEntry.status == "planned",
            RosterEntry.start_at < entry.end_at + reach,
            RosterEntry.end_at > entry.start_at - reach,
        )
    ).all()
    if entry not in rows:
        rows.append(entry)
    return [_Span(row, row.start_at, row.end_at) for row in rows]


def _mine(entry: RosterEntry, spans: list[_Span], moment: datetime, edge: str | None) -> bool:
    found = entry_for_event(spans, moment, PRE_WINDOW, POST_WINDOW, edge=edge)
    return found is not None and found.entry.id == entry.id


def attendance(entry: RosterEntry) -> Attendance:
    """The worked interval of a roster entry from the evidence (see the module docstring);
    without a start and an end it is not attended."""
    first, last = _window(entry)
    spans = _neighbours(entry)
    # A handover ends one duty and starts another only at its own post.
    at_post = [span for span in spans if span.entry.post_id == entry.post_id]
    handovers = db.session.scalars(
        select(Handover).where(
            Handover.post_id == entry.post_id,
            Handover.status == "signed",
            or_(
                and_(
                    Handover.incoming_id == entry.user_id,
                    Handover.incoming_signed_at.between(first, last),
                ),
                and_(
                    Handover.outgoing_id == entry.user_id,
                    Handover.outgoing_signed_at.between(first, last),
                ),
            ),
        )
    ).all()
    starts = sorted(
        h.incoming_signed_at
        for h in handovers
        if h.incoming_id == entry.user_id
        and h.incoming_signed_at is not None
        and first <= h.incoming_signed_at <= last
        and _mine(entry, at_post, h.incoming_signed_at, "start")
    )
    ends = sorted(
        h.outgoing_signed_at
        for h in handovers
        if h.outgoing_id == entry.user_id
        and h.outgoing_signed_at is not None
        and first <= h.outgoing_signed_at <= last
        and _mine(entry, at_post, h.outgoing_signed_at, "end")
    )
    scans = [
        moment
        for moment in db.session.scalars(
            select(CheckIn.visited_at)
            .where(
                CheckIn.site_id == entry.site_id,
                CheckIn.user_id == entry.user_id,
                CheckIn.visited_at.between(first, last),
            )
            .order_by(CheckIn.visited_at)
        )
        if _mine(entry, spans, moment, None)
    ]
    start, start_source = _pick(starts[:1], scans[:1])
    end, end_source = _pick(ends[-1:], scans[-1:])
    return Attendance(entry, start, end, start_source, end_source)


def _pick(handover: list, patrol: list) -> tuple[datetime | None, str | None]:
    """e-10 3: the handover's signature, else the patrol scan, else nothing."""
    if handover:
        return handover[0], "handover"
    if patrol:
        return patrol[0], "patrol"
    return None, None


@dataclass
class AccrualRun:
    """What one run of the accrual wrote, and the entries it left for a person to sort out."""

    written: list[CompLedger] = field(default_factory=list)
    held: list[tuple[RosterEntry, str]] = field(default_factory=list)


def accrue_holiday_duty(site: Site, day: date, *, now: datetime | None = None) -> AccrualRun:
    """R6 (e-7 1–2): comp time for the published, planned shifts of duty date `day` on a
    rest day — the minutes actually worked (`attendance`), nothing when not attended. A
    shift on a statutory holiday earns comp time only when the site's
    `comp_statutory_accrues` is on; otherwise it earns nothing here, because the law pays
    it at 300 % instead, which is payroll's business. Shifts still running (or within the
    post-window of their end) are left for a later run.

    Idempotent: the ledger's source is the entry, so a second run writes nothing. When late
    evidence (an offline phone syncing) changes the minutes, the accrual is reversed and
    written again — unless some of it was taken already; that entry is `held`."""
    now = now or utcnow()
    kinds = ["rest"] + (["statutory"] if site.setting("comp_statutory_accrues") else [])
    entries = db.session.scalars(
        select(RosterEntry)
        .join(RosterMonth, RosterMonth.id == RosterEntry.month_id)
        .where(
            RosterEntry.site_id == site.id,
            RosterEntry.duty_date == day,
            RosterEntry.status == "planned",
            RosterEntry.day_kind.in_(kinds),
            RosterMonth.status == "published",
        )
        .order_by(RosterEntry.start_at, RosterEntry.id)
    ).all()
    run = AccrualRun()
    for entry in entries:
        if entry.end_at + POST_WINDOW > now:
            continue
        minutes = attendance(entry).minutes
        if minutes <= 0:
            continue  # e-7 2: planned but not attended
        try:
            accrual = _accrue_entry(entry, site, minutes)
        except DomainError as held:
            run.held.append((entry, held.message))
            continue
        if accrual is not None:
            run.written.append(accrual)
    db.session.flush()
    return run


def _accrue_entry(entry: RosterEntry, site: Site, minutes: int) -> CompLedger | None:
    """The entry's accrual of `minutes`; None when it stands already."""
    kind = ACCRUAL_KIND[entry.day_kind]
    standing = comptime.recorded(entry.user, site, kind, SOURCE_TYPE, entry.id)
    if standing is not None:
        if standing.delta_minutes == minutes:
            return None
        comptime.reverse(
            standing, by=None, reason=_("The attendance evidence for this shift changed.")
        )
    return comptime.accrue(
        entry.user, site=site, minutes=minutes, kind=kind, source_type=SOURCE_TYPE,
        source_id=entry.id, earned_on=entry.duty_date, by=None, note=entry.post.name,
    )  # fmt: skip


def accrue_all(days: list[date] | None = None, *, now: datetime | None = None) -> AccrualRun:
    """Run `accrue_holiday_duty` for every site, on `days` or else the site's own last two
    dates (yesterday's night shift ends this morning: the next night's run picks it up)."""
    total = AccrualRun()
    for site in db.session.scalars(select(Site).order_by(Site.id)).all():
        today = site.now().date()
        for day in days or [today - timedelta(days=2), today - timedelta(days=1)]:
            run = accrue_holiday_duty(site, day, now=now)
            total.written += run.written
            total.held += run.held
    return total
