"""Reading the duty log by day and by shift: the day's list, the shift's duty record (D5)
and what the night shift left for the morning (D7).

A day shift runs from the site's night_end to night_start; the night shift from
night_start to the next day's night_end and belongs to the date it starts on. "Who was on
duty" is the people who held a post during the shift (from the signed handovers) and the
people who logged entries or check-ins in it; the roster (a later issue) will add who was
due.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select, type_coerce
from sqlalchemy.orm import selectinload

from dutypwa.extensions import db
from dutypwa.models import CheckIn, DutyEntry, FollowUp, Handover, PostDuty, Site, User
from dutypwa.models.base import UTCDateTime

SHIFTS = ("day", "night")
# How far around a shift to look for the handovers that say who held a post in it.
HOLD_LOOKBACK = timedelta(days=7)
NIGHT_KINDS = ("repair", "complaint")
CARRIED_DAYS = 30  # how far back "what is left" looks for entries still open

# When an entry happened, as SQL: the phone's time unless its clock was flagged.
entry_moment = type_coerce(
    case(
        (
            and_(DutyEntry.device_time.is_not(None), DutyEntry.clock_flagged.is_(False)),
            DutyEntry.device_time,
        ),
        else_=DutyEntry.received_at,
    ),
    UTCDateTime(),
)


@dataclass(frozen=True)
class Shift:
    date: date
    name: str
    start: datetime
    end: datetime

    @property
    def previous(self) -> tuple[date, str]:
        if self.name == "night":
            return self.date, "day"
        return self.date - timedelta(days=1), "night"

    @property
    def next(self) -> tuple[date, str]:
        if self.name == "day":
            return self.date, "night"
        return self.date + timedelta(days=1), "day"


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _at(site: Site, day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=site.tz).astimezone(UTC)


def shift_window(site: Site, day: date, name: str) -> Shift:
    night_start = _clock(site.setting("night_start"))
    night_end = _clock(site.setting("night_end"))
    if name == "day":
        return Shift(day, name, _at(site, day, night_end), _at(site, day, night_start))
    following = day + timedelta(days=1)
    return Shift(day, name, _at(site, day, night_start), _at(site, following, night_end))


def current_shift(site: Site, now: datetime) -> Shift:
    """The shift running at `now` (a night belongs to the date it starts on)."""
    today = site.local(now).date()
    for day, name in ((today, "day"), (today - timedelta(days=1), "night"), (today, "night")):
        shift = shift_window(site, day, name)
        if shift.start <= now < shift.end:
            return shift
    return shift_window(site, today, "day")


def last_night(site: Site, now: datetime) -> Shift:
    """The night shift that ended most recently (D7: its open items are for this morning)."""
    today = site.local(now).date()
    shift = shift_window(site, today - timedelta(days=1), "night")
    return shift if shift.end <= now else shift_window(site, today - timedelta(days=2), "night")


def day_bounds(site: Site, day: date) -> tuple[datetime, datetime]:
    return _at(site, day, time(0)), _at(site, day + timedelta(days=1), time(0))


def entries_query(site: Site, start: datetime | None = None, end: datetime | None = None):
    query = (
        select(DutyEntry)
        .where(DutyEntry.site_id == site.id)
        .options(selectinload(DutyEntry.follow_ups), selectinload(DutyEntry.created_by))
        .order_by(entry_moment.desc(), DutyEntry.received_at.desc())
    )
    if start is not None:
        query = query.where(entry_moment >= start)
    if end is not None:
        query = query.where(entry_moment < end)
    return query


def night_items(site: Site, now: datetime) -> list[DutyEntry]:
    """D7: repairs and complaints from last night, still open, with no work order or
    complaint record yet: the day staff turn each into one."""
    night = last_night(site, now)
    entries = db.session.scalars(
        entries_query(site, night.start, night.end).where(
            DutyEntry.status == "open", DutyEntry.kind.in_(NIGHT_KINDS)
        )
    ).all()
    return [entry for entry in reversed(entries) if not entry.follow_ups]


def open_at(entry: DutyEntry, moment: datetime) -> bool:
    return entry.closed_at is None or entry.closed_at > moment


@dataclass
class DutyRecord:
    shift: Shift
    people: list[User]
    entries: list[DutyEntry]
    left: list[DutyEntry]
    carried: set[str]


def duty_record(site: Site, shift: Shift, post_id: int | None = None) -> DutyRecord:
    """D5: who was on duty, every entry of the shift and what was still open at its end
    (entries of earlier shifts still open are carried into it)."""
    query = entries_query(site, shift.start, shift.end)
    if post_id is not None:
        query = query.where(DutyEntry.post_id == post_id)
    entries = list(reversed(db.session.scalars(query).all()))
    earlier = entries_query(site, shift.start - timedelta(days=CARRIED_DAYS), shift.start).where(
        or_(DutyEntry.closed_at.is_(None), DutyEntry.closed_at > shift.end)
    )
    if post_id is not None:
        earlier = earlier.where(DutyEntry.post_id == post_id)
    carried = list(reversed(db.session.scalars(earlier).all()))
    left = [entry for entry in carried + entries if open_at(entry, shift.end)]
    people_ids = {entry.created_by_id for entry in entries}
    people_ids.update(
        db.session.scalars(
            select(CheckIn.user_id).where(
                CheckIn.site_id == site.id,
                CheckIn.visited_at >= shift.start,
                CheckIn.visited_at < shift.end,
            )
        )
    )
    people_ids.update(post_holders(site, shift, post_id))
    people = (
        list(
            db.session.scalars(
                select(User).where(User.id.in_(people_ids)).order_by(User.display_name)
            )
        )
        if people_ids
        else []
    )
    return DutyRecord(shift, people, entries, left, {entry.id for entry in carried})


def post_holders(site: Site, shift: Shift, post_id: int | None = None) -> set[int]:
    """The people who held a post during the shift, from the signed handovers: whoever
    held it when the shift began (the outgoing person of the first handover signed after
    that, else the relief of the last one before, else whoever holds it now) and the
    relief of every handover signed during it."""
    signed = func.coalesce(Handover.outgoing_signed_at, Handover.incoming_signed_at)
    scope = [Handover.site_id == site.id, Handover.status == "signed"]
    duty_scope = [PostDuty.site_id == site.id]
    if post_id is not None:
        scope.append(Handover.post_id == post_id)
        duty_scope.append(PostDuty.post_id == post_id)
    window = (shift.start - HOLD_LOOKBACK, shift.end + HOLD_LOOKBACK)
    rows = db.session.execute(
        select(Handover.post_id, signed, Handover.outgoing_id, Handover.incoming_id)
        .where(*scope, signed >= window[0], signed < window[1])
        .order_by(signed)
    ).all()
    by_post: dict[int, list] = {}
    for row in rows:
        by_post.setdefault(row[0], []).append(row)
    holders: set[int] = set()
    now_held = dict(
        db.session.execute(
            select(PostDuty.post_id, PostDuty.person_id).where(
                *duty_scope, PostDuty.since < shift.end
            )
        ).all()
    )
    for post in now_held:
        by_post.setdefault(post, [])
    for post, handovers in by_post.items():
        before = [h for h in handovers if h[1] < shift.start]
        after = [h for h in handovers if h[1] >= shift.start]
        if after and after[0][2] is not None:
            holders.add(after[0][2])  # held it until relieved, after the shift began
        elif before:
            holders.add(before[-1][3])
        elif not after and post in now_held:
            holders.add(now_held[post])
        holders.update(h[3] for h in after if h[1] < shift.end)
    return holders


def follow_ups_query(site: Site, status: str | None = None, follow_up_type: str | None = None):
    query = select(FollowUp).where(FollowUp.site_id == site.id)
    if status:
        query = query.where(FollowUp.status == status)
    if follow_up_type:
        query = query.where(FollowUp.type == follow_up_type)
    return query.order_by(FollowUp.created_at.desc(), FollowUp.id.desc())
