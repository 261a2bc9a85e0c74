"""All-hands periods (全员留守, R7; design d-7): a manager declares a typhoon, rainstorm, flood
or company event for a site. Every member's phone shows it and asks for an acknowledgement
(offline too); new leave in the window is refused with the reason; approved leave in it is
listed for a manager's decision and never cancelled; members off duty get a standby (备勤)
roster entry over the window — entries are only added, so coverage never drops (e-5 4); on
the lift the standby time after each person reported "on site" becomes comp time (R6).
Functions add and flush; the views and the sync API commit.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.facts import device_clock, payload_hash
from dutypwa.models import (
    ACK_STATUSES,
    ALL_HANDS_KINDS,
    LEAVE_DECISIONS,
    LEAVE_KINDS,
    MAX_ALL_HANDS_HOURS,
    AllHands,
    AllHandsAck,
    AllHandsLeaveDecision,
    AllHandsStandby,
    CompLedger,
    Post,
    RosterChange,
    RosterEntry,
    RosterMonth,
    RosterRequest,
    RosterRow,
    ShiftTemplate,
    Site,
    User,
    site_members,
    utcnow,
)
from dutypwa.roster import checks, comptime, core
from dutypwa.roster.times import local_midnight

KIND_LABELS = {
    "typhoon": _l("Typhoon"),
    "rainstorm": _l("Rainstorm"),
    "flood": _l("Flood"),
    "event": _l("Company event"),
    "other": _l("Emergency"),
}
STATUS_LABELS = {"acknowledged": _l("Acknowledged"), "on_site": _l("On site")}
DECISION_LABELS = {"recall": _l("Recall to work"), "keep": _l("Leave stands")}
# The site's standby shift, made on first use. Its segments are nominal: each standby entry
# holds the window's real times.
STANDBY_CODE, STANDBY_NAME, STANDBY_COLOUR = "备", "备勤", "#fde68a"
SOURCE_TYPE = "all_hands"
MAX_LEVEL, MAX_INSTRUCTIONS, MAX_NOTE = 40, 1000, 500
TIME_SHOWN = "%m-%d %H:%M"


# The declaring form, shared by the page and the tests


def parse_declaration(site: Site, form) -> dict:
    """The declaring form's fields: times are the site's local "YYYY-MM-DDTHH:MM"; an empty
    start is None (now, when declared)."""
    try:
        op_id = str(uuid.UUID(form.get("op_id", "")))
    except ValueError:
        raise DomainError(_("The form is missing its id. Reload and try again.")) from None
    return {
        "op_id": op_id,
        "kind": form.get("kind", ""),
        "level": form.get("level", ""),
        "instructions": form.get("instructions", ""),
        "starts_at": _local_time(site, form.get("starts_at")),
        "until": parse_local_time(site, form.get("until")),
    }


def parse_local_time(site: Site, raw: str | None) -> datetime:
    """A required local date and time from a form: the expected end."""
    moment = _local_time(site, raw)
    if moment is None:
        raise DomainError(_("Give the expected end."))
    return moment


def _local_time(site: Site, raw: str | None) -> datetime | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise DomainError(_("Write a date and time as YYYY-MM-DD HH:MM.")) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=site.tz)
    return moment.astimezone(UTC)


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _shown(site: Site, moment: datetime) -> str:
    return site.local(moment).strftime(TIME_SHOWN)


def declaration_text(period: AllHands) -> str:
    """The period in one line, for the roster's record of changes and the comp-time note."""
    head = f"{KIND_LABELS[period.kind]} {period.level}".strip()
    return f"{head}: {period.instructions}"[:MAX_NOTE] if period.instructions else head


# Declaring, extending, lifting


def declare(
    site: Site,
    *,
    by: User,
    op_id: str,
    kind: str,
    starts_at: datetime | None,
    until: datetime,
    level: str = "",
    instructions: str = "",
    now: datetime | None = None,
) -> tuple[AllHands, bool]:
    """R7: declare an all-hands period from `starts_at` (None: now); returns (period,
    created). The same form again (its op id) returns the period and only adds standby
    entries that are still missing; other details under that id are a conflict (409). A
    period that meets an open one at the site is refused (409): extend that one instead."""
    now = now or utcnow()
    _check_manager(by, site)
    _lock(site)
    level, instructions = _text(level, MAX_LEVEL), _text(instructions, MAX_INSTRUCTIONS)
    body_hash = payload_hash({
        "site": site.id, "kind": kind, "level": level, "instructions": instructions,
        "starts_at": starts_at.isoformat() if starts_at else None, "until": until.isoformat(),
    })  # fmt: skip
    existing = db.session.get(AllHands, op_id)
    if existing is not None:
        if existing.payload_hash != body_hash or existing.site_id != site.id:
            raise DomainError(_("This declaration was already sent with other details."), 409)
        if not existing.lifted:
            add_standby(existing, by=by, now=now)
        return existing, False
    if kind not in ALL_HANDS_KINDS:
        raise DomainError(_("Choose what kind of emergency it is."))
    starts_at = starts_at or _minute(now)
    _check_window(starts_at, until, now)
    clash = _clash(site, starts_at, until)
    if clash is not None:
        raise DomainError(
            _(
                "An all-hands period is already declared here from %(start)s until %(until)s: "
                "extend it instead.",
                start=_shown(site, clash.starts_at),
                until=_shown(site, clash.until),
            ),
            409,
        )
    period = AllHands(
        id=op_id, site=site, kind=kind, level=level, instructions=instructions,
        starts_at=starts_at, until=until, declared_by_id=by.id, declared_at=now,
        payload_hash=body_hash,
    )  # fmt: skip
    db.session.add(period)
    db.session.flush()
    add_standby(period, by=by, now=now)
    return period, True


def extend(period: AllHands, *, by: User, until: datetime, now: datetime | None = None) -> None:
    """Move the expected end later (still at most 72 h after the start): standby entries
    that ended with the old end run on to the new one, unless the person has a shift or
    leave then; members without a standby entry get one."""
    now = now or utcnow()
    site = period.site
    _check_manager(by, site)
    _lock(site)
    _check_open(period)
    if until <= period.until:
        raise DomainError(
            _("The new end comes after the current one (%(until)s).",
              until=_shown(site, period.until)),
        )  # fmt: skip
    _check_window(period.starts_at, until, now)
    clash = _clash(site, period.until, until, exclude=period.id)
    if clash is not None:
        raise DomainError(
            _("Another all-hands period starts at %(start)s.", start=_shown(site, clash.starts_at)),
            409,
        )
    old_until = period.until
    period.until, period.extended_by_id, period.extended_at = until, by.id, now
    running = [
        link for link in period.standby
        if link.entry.status == "planned" and link.entry.end_at == old_until
    ]  # fmt: skip
    people = {link.user_id for link in running}
    busy = _busy(people, old_until, until, exclude={link.entry_id for link in running})
    away = _on_leave(site, old_until, until)
    changes = []
    for link in running:
        if link.user_id in busy or link.user_id in away:
            continue
        entry = link.entry
        before = core._snapshot(entry)
        entry.segments = standby_segments(entry.start_at, until, site)
        entry.end_at = until
        _touch(entry, now)
        changes.append((entry, before))
    _record(changes, by=by, reason=declaration_text(period), now=now)
    add_standby(period, by=by, now=now)


def lift(period: AllHands, *, by: User, now: datetime | None = None) -> list[CompLedger]:
    """R7: lift the period. Nothing is cut silently: standby entries end at the lift (those
    not begun are cancelled), each change recorded on the roster; then each standby
    person's time on standby after they reported on site becomes comp time
    (`accrue_emergency`, expiring per the site's setting). Lifting twice: 409."""
    now = _minute(now or utcnow())
    site = period.site
    _check_manager(by, site)
    _lock(site)
    _check_open(period)
    period.lifted_at, period.lifted_by_id = now, by.id
    end = period.ends_at
    changes = []
    for link in period.standby:
        entry = link.entry
        if entry.status != "planned" or entry.end_at <= end:
            continue
        before = core._snapshot(entry)
        if entry.start_at >= end:
            entry.status = "cancelled"
        else:
            entry.segments = _cut(entry.segments, end)
            entry.end_at = end
        _touch(entry, now)
        changes.append((entry, before))
    _record(changes, by=by, reason=declaration_text(period), now=now)
    return accrue_standby(period, by=by)


def accrue_standby(period: AllHands, *, by: User | None) -> list[CompLedger]:
    """R6 + R7: comp time for standby, counted from the moment each person reported "on
    site" (the attendance evidence the app has) to the end of their standby entry. Someone
    who only acknowledged, or never answered, may have stayed home: nothing accrues. Once
    per person and period (the ledger's source), so running it again writes nothing."""
    standing = standings_of(period)
    written = []
    for link in sorted(period.standby, key=lambda link: link.user_id):
        entry, reported = link.entry, standing.get(link.user_id)
        if entry.status != "planned" or reported is None or reported.on_site_at is None:
            continue
        minutes = sum(
            _whole_minutes(end - max(start, reported.on_site_at))
            for start, end in entry.times
            if end > reported.on_site_at
        )
        if minutes <= 0:
            continue
        accrual = comptime.accrue(
            link.user, site=period.site, minutes=minutes, kind="accrue_emergency",
            source_type=SOURCE_TYPE, source_id=f"{period.id}:{link.user_id}",
            earned_on=entry.duty_date, by=by, note=declaration_text(period)[:200],
        )  # fmt: skip
        written.append(accrual)
    return written


def accruals_of(period: AllHands) -> list[CompLedger]:
    return db.session.scalars(
        select(CompLedger)
        .where(
            CompLedger.site_id == period.site_id,
            CompLedger.source_type == SOURCE_TYPE,
            CompLedger.source_id.startswith(f"{period.id}:"),
        )
        .options(joinedload(CompLedger.user))
        .order_by(CompLedger.id)
    ).all()


def _check_manager(by: User, site: Site) -> None:
    if not by.is_manager or not by.can_see_site(site):
        raise DomainError(_("A supervisor of this site declares and lifts all-hands periods."), 403)


def _lock(site: Site) -> None:
    # One declaration, extension or lift per site at a time (PostgreSQL): two managers
    # pressing at once must not open two periods that meet. SQLite serialises writers.
    db.session.execute(select(Site.id).where(Site.id == site.id).with_for_update())


def _check_open(period: AllHands) -> None:
    db.session.refresh(period, ["lifted_at", "until"])  # as it is now, under the lock
    if period.lifted:
        raise DomainError(_("This all-hands period was lifted already."), 409)


def _check_window(starts_at: datetime, until: datetime, now: datetime) -> None:
    if until <= starts_at:
        raise DomainError(_("The expected end comes after the start."))
    if until - starts_at > timedelta(hours=MAX_ALL_HANDS_HOURS):
        raise DomainError(
            _(
                "An all-hands period lasts at most %(hours)d hours from its start; extend it "
                "later if the emergency goes on.",
                hours=MAX_ALL_HANDS_HOURS,
            )
        )
    if until <= now:
        raise DomainError(_("The expected end has already passed."))


def _text(value: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise DomainError(_("At most %(n)d characters.", n=limit))
    return value


def _clash(site: Site, start: datetime, end: datetime, exclude: str | None = None):
    """An open period at the site that overlaps or meets [start, end]."""
    query = select(AllHands).where(
        AllHands.site_id == site.id,
        AllHands.lifted_at.is_(None),
        AllHands.starts_at <= end,
        AllHands.until >= start,
    )
    if exclude is not None:
        query = query.where(AllHands.id != exclude)
    return db.session.scalars(query.order_by(AllHands.starts_at)).first()


# Standby entries


def standby_segments(start: datetime, end: datetime, site: Site) -> list[list[str]]:
    """[start, end) as an entry's segments, split at the site's midnights: one entry for the
    whole window (touching entries of one person would count as an overlap), each segment
    within one day."""
    pieces, cursor = [], start
    while cursor < end:
        midnight = local_midnight(site.local(cursor).date() + timedelta(days=1), site.tz)
        piece_end = min(end, midnight)
        pieces.append([cursor.astimezone(UTC).isoformat(), piece_end.astimezone(UTC).isoformat()])
        cursor = piece_end
    return pieces


def standby_template(site: Site) -> ShiftTemplate:
    template = db.session.scalars(
        select(ShiftTemplate)
        .where(
            ShiftTemplate.site_id == site.id,
            ShiftTemplate.code == STANDBY_CODE,
            ShiftTemplate.post_id.is_(None),
            ShiftTemplate.retired_at.is_(None),
        )
        .order_by(ShiftTemplate.id)
    ).first()
    if template is None:
        template = ShiftTemplate(
            site=site, code=STANDBY_CODE, name=STANDBY_NAME, colour=STANDBY_COLOUR,
            segments=[[0, 1440]],
        )  # fmt: skip
        db.session.add(template)
        db.session.flush()
    return template


def add_standby(period: AllHands, *, by: User, now: datetime | None = None) -> list[RosterEntry]:
    """R7: a standby entry from now (or the start, if later) to the expected end for every
    active member of the site who has none for this period, no planned shift that overlaps
    or meets the window (at any site) and no approved leave in it. It goes under the post
    of the person's roster rows, else the first post they fit (level, qualification), so
    no rule check turns hard; a person who fits no post gets none. Only adds entries."""
    site = period.site
    start = max(period.starts_at, _minute(now or utcnow()))
    end = period.until
    if start >= end:
        return []
    have = {link.user_id for link in period.standby}
    members = [person for person in _members(site) if person.id not in have]
    busy = _busy({person.id for person in members}, start, end)
    away = _on_leave(site, start, end)
    wanted = [person for person in members if person.id not in busy | away]
    if not wanted:
        return []
    duty_date = site.local(start).date()
    month = core.month_of(site, duty_date.replace(day=1), create=True)
    context = core.context_of(site, duty_date.replace(day=1))
    posts = {post.id: post for post in db.session.scalars(
        select(Post).where(Post.site_id == site.id).order_by(Post.name)
    )}  # fmt: skip
    preferred = _usual_posts(site, [person.id for person in wanted])
    template = standby_template(site)
    segments = standby_segments(start, end, site)
    created, changes = [], []
    for person in wanted:
        post = _standby_post(person, [*preferred[person.id], *posts], posts, context, duty_date)
        if post is None:
            continue
        entry = RosterEntry(
            id=str(uuid.uuid4()), month_id=month.id, site_id=site.id, user_id=person.id,
            post_id=post.id, template=template, duty_date=duty_date, start_at=start,
            end_at=end, segments=[list(piece) for piece in segments], source="emergency",
            updated_at=now or utcnow(),
        )  # fmt: skip
        db.session.add(entry)
        db.session.add(AllHandsStandby(entry=entry, all_hands=period, user_id=person.id))
        core._row(month, post, person)
        created.append(entry)
        changes.append((entry, None))
    _record(changes, by=by, reason=declaration_text(period), now=now or utcnow())
    return created


def _members(site: Site) -> list[User]:
    """The site's people who stay on site: everyone but the system administrator, who is
    not on the duty staff."""
    return db.session.scalars(
        select(User)
        .join(site_members)
        .where(site_members.c.site_id == site.id, User.active.is_(True), User.role != "admin")
        .order_by(User.display_name, User.id)
    ).all()


def _busy(people: set[int], start: datetime, end: datetime, exclude=frozenset()) -> set[int]:
    """Who of `people` has a planned shift (at any site) that overlaps or meets [start, end]:
    the overlap check counts shifts that only meet, as nobody is on both sides of a
    handover."""
    if not people:
        return set()
    rows = db.session.execute(
        select(RosterEntry.id, RosterEntry.user_id, RosterEntry.segments).where(
            RosterEntry.user_id.in_(people),
            RosterEntry.status == "planned",
            RosterEntry.start_at <= end,
            RosterEntry.end_at >= start,
        )
    ).all()
    return {
        row.user_id
        for row in rows
        if row.id not in exclude
        and any(a <= end and b >= start for a, b in core._times(row.segments))
    }


def _on_leave(site: Site, start: datetime, end: datetime) -> set[int]:
    return {leave.person for leave in core.approved_leave(site, start, end)}


def _usual_posts(site: Site, people: list[int]) -> dict[int, list[int]]:
    """Each person's posts on the site's roster, the latest month first."""
    rows = db.session.execute(
        select(RosterRow.user_id, RosterRow.post_id)
        .join(RosterMonth, RosterRow.month_id == RosterMonth.id)
        .where(RosterMonth.site_id == site.id, RosterRow.user_id.in_(people))
        .order_by(RosterMonth.month.desc(), RosterRow.position)
    ).all()
    usual: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        if row.post_id not in usual[row.user_id]:
            usual[row.user_id].append(row.post_id)
    return usual


def _standby_post(person: User, candidates: list[int], posts: dict, context, day: date):
    checked = context.people.get(person.id) or checks.Person(person.id, person.level)
    for post_id in candidates:
        if post_id in posts and checks.fits(checked, context.posts[post_id], day):
            return posts[post_id]
    return None


def _cut(segments: list, end: datetime) -> list[list[str]]:
    """The segments up to `end`."""
    kept = []
    for start_text, end_text in segments:
        start, stop = datetime.fromisoformat(start_text), datetime.fromisoformat(end_text)
        if start < end:
            kept.append([start_text, min(stop, end).astimezone(UTC).isoformat()])
    return kept


def _touch(entry: RosterEntry, now: datetime) -> None:
    entry.ical_sequence += 1  # calendar apps see the change (ICS SEQUENCE)
    entry.updated_at = now


def _record(changes: list, *, by: User, reason: str, now: datetime) -> None:
    """R1: each month touched gets one new version and a change record per entry."""
    if not changes:
        return
    db.session.flush()
    months = {entry.month_id: db.session.get(RosterMonth, entry.month_id) for entry, _b in changes}
    for month in months.values():
        month.version += 1
    for entry, before in changes:
        month = months[entry.month_id]
        after = core._snapshot(entry) if entry.status == "planned" else None
        db.session.add(
            RosterChange(
                month_id=month.id, entry_id=entry.id, actor_id=by.id, action="all_hands",
                before=before, after=after, reason=reason[:MAX_NOTE], version=month.version,
                at=now,
            )
        )  # fmt: skip
    db.session.flush()


def _whole_minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


# Acknowledgements


@dataclass
class Standing:
    """What a person reported for a period: the strongest status, when they first
    answered, and when they first said they were on site."""

    status: str
    answered_at: datetime
    on_site_at: datetime | None = None


def record_ack(
    period: AllHands,
    *,
    by: User,
    op_id: str,
    device_time: datetime,
    status: str,
    received_at: datetime | None = None,
    clock_offset_s: float | None = None,
    device_id: str | None = None,
) -> tuple[AllHandsAck, bool]:
    """R7: record an acknowledgement once; returns (ack, created). A resend (same op id and
    body) is a duplicate, other details under that id a conflict (409). Refused from
    someone who is not a member of the site, and once the period is lifted."""
    received_at, clock_offset_s, flagged = device_clock(device_time, received_at, clock_offset_s)
    body_hash = payload_hash({
        "all_hands": period.id, "user": by.id, "status": status,
        "device_time": device_time.isoformat(),
    })  # fmt: skip
    existing = db.session.get(AllHandsAck, op_id)
    if existing is not None:
        if existing.payload_hash != body_hash or existing.user_id != by.id:
            raise DomainError(_("This acknowledgement was already sent with other details."), 409)
        return existing, False
    if status not in ACK_STATUSES:
        raise DomainError(_("Say whether you have read it or are on site."))
    if not any(site.id == period.site_id for site in by.sites):
        raise DomainError(_("Only the staff of this site answer its all-hands call."), 403)
    if period.lifted:
        raise DomainError(
            _("This all-hands period was lifted at %(time)s.",
              time=_shown(period.site, period.lifted_at))
        )  # fmt: skip
    ack = AllHandsAck(
        id=op_id, all_hands_id=period.id, user_id=by.id, status=status,
        device_time=device_time, received_at=received_at, clock_offset_s=clock_offset_s,
        clock_flagged=flagged, payload_hash=body_hash, device_id=device_id,
    )  # fmt: skip
    db.session.add(ack)
    db.session.flush()
    return ack, True


def parse_ack(fields) -> dict:
    return {"status": str(fields.get("status", ""))}


def standings_of(period: AllHands) -> dict[int, Standing]:
    """Each person's standing. Phones send in any order (an offline "on site" may arrive
    after a later "read it"), so the strongest status counts and the earliest times."""
    standing: dict[int, Standing] = {}
    for ack in db.session.scalars(select(AllHandsAck).where(AllHandsAck.all_hands_id == period.id)):
        moment = ack.moment
        current = standing.setdefault(ack.user_id, Standing(ack.status, moment))
        current.answered_at = min(current.answered_at, moment)
        if ACK_STATUSES.index(ack.status) > ACK_STATUSES.index(current.status):
            current.status = ack.status
        if ack.status == "on_site":
            current.on_site_at = min(current.on_site_at or moment, moment)
    return standing


def period_of(site: Site, raw_id) -> AllHands:
    period = db.session.get(AllHands, str(raw_id or ""))
    if period is None or period.site_id != site.id:
        raise DomainError(_("There is no such all-hands period at this site."), 404)
    return period


# What every page shows


@dataclass
class Banner:
    period: AllHands
    status: str | None  # the person's strongest answer so far

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS[self.period.kind])


def active_for(user: User, now: datetime | None = None) -> list[Banner]:
    """R7: the open periods at the sites the person is a member of, with their answer — one
    query (the banner on every page; ix_all_hands_site_open)."""
    now = now or utcnow()
    # ACK_STATUSES sort alphabetically in order of strength, so max() is the strongest.
    strongest = (
        select(func.max(AllHandsAck.status))
        .where(AllHandsAck.all_hands_id == AllHands.id, AllHandsAck.user_id == user.id)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(AllHands, strongest)
        .join(site_members, site_members.c.site_id == AllHands.site_id)
        .where(
            site_members.c.user_id == user.id,
            AllHands.lifted_at.is_(None),
            AllHands.until > now,
        )
        .options(joinedload(AllHands.site))
        .order_by(AllHands.starts_at)
    ).all()
    return [Banner(period, status) for period, status in rows]


def reference_periods(user: User, now: datetime | None = None) -> list[dict]:
    """The open periods for the offline reference data (GET /api/v1/reference)."""
    return [
        {
            "id": banner.period.id,
            "site": banner.period.site.code,
            "kind": banner.period.kind,
            "kind_label": str(KIND_LABELS[banner.period.kind]),
            "level": banner.period.level,
            "instructions": banner.period.instructions,
            "starts_at": banner.period.starts_at.isoformat(),
            "until": banner.period.until.isoformat(),
            "status": banner.status,
        }
        for banner in active_for(user, now)
    ]


# Leave


def window_refusal(site: Site, start: datetime, end: datetime) -> str | None:
    """R7: why new leave over [start, end) is refused — an all-hands period that is not
    lifted overlaps it — else None. Also holds pending leave: an approval in the window is
    refused with the same reason."""
    period = db.session.scalars(
        select(AllHands)
        .where(
            AllHands.site_id == site.id,
            AllHands.lifted_at.is_(None),
            AllHands.starts_at < end,
            AllHands.until > start,
        )
        .order_by(AllHands.starts_at)
    ).first()
    if period is None:
        return None
    return _(
        "%(kind)s: all hands stay on site from %(start)s until %(until)s, so no leave is "
        "granted in that time.",
        kind=KIND_LABELS[period.kind],
        start=_shown(site, period.starts_at),
        until=_shown(site, period.until),
    )


@dataclass
class LeaveInWindow:
    approved: list[tuple[RosterRequest, AllHandsLeaveDecision | None]] = field(default_factory=list)
    pending: list[RosterRequest] = field(default_factory=list)


def leave_in_window(period: AllHands) -> LeaveInWindow:
    """Approved leave that overlaps the period, each with the latest decision about it, and
    pending leave there (held: it cannot be approved while the period is open)."""
    requests = db.session.scalars(
        select(RosterRequest)
        .where(
            RosterRequest.site_id == period.site_id,
            RosterRequest.kind.in_(LEAVE_KINDS),
            RosterRequest.status.in_(("approved", "pending")),
            RosterRequest.leave_from < period.ends_at,
            RosterRequest.leave_to > period.starts_at,
        )
        .options(joinedload(RosterRequest.requester))
        .order_by(RosterRequest.leave_from)
    ).all()
    latest = {}
    for decision in db.session.scalars(
        select(AllHandsLeaveDecision)
        .where(AllHandsLeaveDecision.all_hands_id == period.id)
        .order_by(AllHandsLeaveDecision.id)
    ):
        latest[decision.request_id] = decision
    found = LeaveInWindow()
    for request in requests:
        if request.status == "approved":
            found.approved.append((request, latest.get(request.id)))
        else:
            found.pending.append(request)
    return found


def decide_leave(
    period: AllHands,
    request: RosterRequest,
    *,
    by: User,
    decision: str,
    note: str = "",
    now: datetime | None = None,
) -> AllHandsLeaveDecision:
    """R7: record a manager's decision about approved leave in the window — recall the
    person or let the leave stand. The leave is not changed: cancelling it, if it comes to
    that, is the person's or the requests' business, on the record."""
    _check_manager(by, period.site)
    if decision not in LEAVE_DECISIONS:
        raise DomainError(_("Choose to recall the person or let the leave stand."))
    in_window = (
        request.site_id == period.site_id
        and request.is_leave
        and request.status == "approved"
        and request.leave_from < period.ends_at
        and request.leave_to > period.starts_at
    )
    if not in_window:
        raise DomainError(_("That is not approved leave in this all-hands period."), 404)
    made = AllHandsLeaveDecision(
        all_hands_id=period.id, request_id=request.id, decision=decision,
        note=_text(note, MAX_NOTE), decided_by_id=by.id, decided_at=now or utcnow(),
    )  # fmt: skip
    db.session.add(made)
    db.session.flush()
    return made


# The roll call on the manager's page


@dataclass
class RollCallRow:
    person: User
    standing: Standing | None
    standby: RosterEntry | None
    why_not: str | None  # no standby entry: "on_duty", "on_leave" or "no_post"


@dataclass
class RollCall:
    rows: list[RollCallRow]

    @property
    def answered(self) -> int:
        return sum(1 for row in self.rows if row.standing is not None)

    @property
    def on_site(self) -> int:
        return sum(1 for row in self.rows if row.standing and row.standing.status == "on_site")

    @property
    def silent(self) -> list[User]:
        return [row.person for row in self.rows if row.standing is None]


def roll_call(period: AllHands) -> RollCall:
    """Every active member with their answer and standby entry, or why they have none."""
    members = _members(period.site)
    standing = standings_of(period)
    standby = {link.user_id: link.entry for link in period.standby}
    others = {person.id for person in members if person.id not in standby}
    busy = _busy(others, period.starts_at, period.ends_at)
    away = _on_leave(period.site, period.starts_at, period.ends_at)
    rows = []
    for person in members:
        why_not = None
        if person.id not in standby:
            why_not = "on_duty" if person.id in busy else "on_leave" if person.id in away else (
                "no_post")  # fmt: skip
        rows.append(RollCallRow(person, standing.get(person.id), standby.get(person.id), why_not))
    return RollCall(rows)


def periods_of(site: Site, limit: int = 50) -> list[AllHands]:
    """The site's periods, the latest first."""
    return db.session.scalars(
        select(AllHands)
        .where(AllHands.site_id == site.id)
        .options(joinedload(AllHands.declared_by))
        .order_by(AllHands.starts_at.desc())
        .limit(limit)
    ).all()
