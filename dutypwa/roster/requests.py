"""Leave, swap and substitute requests (R4). Staff ask, for their own published shifts and at
least `roster_request_notice_days` ahead; a manager who is not the requester decides, and
only an approval changes the roster — through core.reassign, with every check re-run
against the roster as it is then. The first approval of a shift wins; other pending
requests for it are superseded. Functions add and flush; the views and the sync API commit.

Comp time off (补休, R6) is leave paid from the comp-time balance: it costs the planned
minutes of the shifts it takes off, is refused when the balance is short, and only a
director (or an admin) approves it, which consumes the minutes from the ledger.
"""

from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.facts import device_clock, moment_of, payload_hash
from dutypwa.models import (
    LEAVE_KINDS,
    MANAGERS,
    REQUEST_KINDS,
    Post,
    PostQualification,
    RosterEntry,
    RosterMonth,
    RosterRequest,
    Site,
    User,
    utcnow,
)
from dutypwa.roster import all_hands, checks, comptime, core
from dutypwa.roster.times import local_midnight

KIND_LABELS = {
    "leave": _l("Leave"),
    "comp_leave": _l("Comp time off"),
    "swap": _l("Swap"),
    "substitute": _l("Substitute"),
}
STATUS_LABELS = {
    "pending": _l("Waiting for a decision"),
    "approved": _l("Approved"),
    "rejected": _l("Refused"),
    "cancelled": _l("Cancelled"),
    "expired": _l("Expired"),
    "superseded": _l("Superseded"),
}
# Who may decide whose request: a role above the requester's (an admin decides anyone's).
ROLE_RANK = {"staff": 0, "supervisor": 1, "director": 2, "admin": 3}
# R6: "taking it needs the director's approval".
COMP_LEAVE_APPROVERS = ("director", "admin")
COMP_SOURCE = "roster_request"
MAX_LEAVE_DAYS = 31
MAX_TEXT = 500


class RequestClosed(DomainError):
    """The request closed while it was being decided (its first shift began, or a shift of
    it changed meanwhile): the decision is refused, the closing is kept — commit it."""

    def __init__(self, message: str):
        super().__init__(message, 409)


# The form, shared by the page and the sync API


def parse_request(site: Site, form) -> dict:
    """The request form's fields, looked up and checked for shape (422 otherwise)."""
    kind = form.get("kind", "")
    if kind not in REQUEST_KINDS:
        raise DomainError(_("Choose leave, a swap or a substitute."))
    values: dict = {"kind": kind, "reason": form.get("reason", "")}
    if kind in LEAVE_KINDS:
        try:
            values["first_day"] = date.fromisoformat(form.get("first_day", ""))
            values["last_day"] = date.fromisoformat(form.get("last_day") or form["first_day"])
        except (KeyError, ValueError):
            raise DomainError(_("Give the first and the last day of the leave.")) from None
    else:
        values["entry"] = _entry_of(site, form.get("entry"))
    if kind == "swap":
        values["counterpart_entry"] = _entry_of(site, form.get("counterpart_entry"))
    if kind == "substitute":
        values["substitute"] = _person_of(form.get("substitute"))
    version = str(form.get("version", ""))
    values["version_seen"] = int(version) if version.isdigit() else None
    return values


def _entry_of(site: Site, raw) -> RosterEntry:
    entry = db.session.get(RosterEntry, str(raw or ""))
    if entry is None or entry.site_id != site.id:
        raise DomainError(_("Choose a shift of this site's roster."))
    return entry


def _person_of(raw) -> User:
    person = db.session.get(User, int(raw)) if str(raw or "").isdigit() else None
    if person is None:
        raise DomainError(_("Choose who would take the shift."))
    return person


# Asking


def create_request(
    site: Site,
    *,
    by: User,
    op_id: str,
    device_time: datetime,
    kind: str,
    reason: str = "",
    entry: RosterEntry | None = None,
    counterpart_entry: RosterEntry | None = None,
    substitute: User | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
    version_seen: int | None = None,
    received_at: datetime | None = None,
    clock_offset_s: float | None = None,
    device_id: str | None = None,
) -> tuple[RosterRequest, bool]:
    """Record a request once; returns (request, created). Same id, other body: 409.

    R4: only one's own published shifts; a swap partner or substitute is a member of the
    site who fits the post (a duty manager only for a duty manager); the first shift it
    touches starts at least the site's notice ahead of when it was asked. Nothing on the
    roster changes."""
    received_at, clock_offset_s, flagged = device_clock(device_time, received_at, clock_offset_s)
    body_hash = payload_hash({
        "site": site.id, "user": by.id, "kind": kind, "reason": reason,
        "entry": entry.id if entry else None,
        "counterpart_entry": counterpart_entry.id if counterpart_entry else None,
        "substitute": substitute.id if substitute else None,
        "first_day": first_day.isoformat() if first_day else None,
        "last_day": last_day.isoformat() if last_day else None,
        "device_time": device_time.isoformat(),
    })  # fmt: skip
    existing = db.session.get(RosterRequest, op_id)
    if existing is not None:
        if existing.payload_hash != body_hash or existing.requester_id != by.id:
            raise DomainError(_("This request was already sent with other details."), 409)
        return existing, False

    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why you ask."))
    if len(reason) > MAX_TEXT:
        raise DomainError(_("At most %(n)d characters.", n=MAX_TEXT))
    request = RosterRequest(
        id=op_id, site_id=site.id, kind=kind, requester_id=by.id, reason=reason,
        roster_version_seen=version_seen, device_time=device_time, received_at=received_at,
        clock_offset_s=clock_offset_s, clock_flagged=flagged, payload_hash=body_hash,
        device_id=device_id,
    )  # fmt: skip
    if kind in LEAVE_KINDS:
        touched = _ask_leave(request, site, by, first_day, last_day)
        if kind == "comp_leave":
            _ask_comp_time(site, by, touched, first_day)
    else:
        touched = _ask_shift_change(request, site, by, entry, counterpart_entry, substitute)
    request.entry_ids = [e.id for e in touched]
    if request.roster_version_seen is None and touched:
        request.roster_version_seen = touched[0].month.version
    starts = [e.start_at for e in touched] + ([request.leave_from] if request.leave_from else [])
    request.expires_at = min(starts)
    if request.expires_at <= received_at:
        raise DomainError(_("Too late: the first shift it touches has begun."))
    notice = int(site.setting("roster_request_notice_days"))
    if request.expires_at - moment_of(device_time, received_at, flagged) < timedelta(days=notice):
        raise DomainError(
            ngettext(
                "Requests are made at least %(num)d day ahead; the first shift it "
                "touches starts %(start)s.",
                "Requests are made at least %(num)d days ahead; the first shift it "
                "touches starts %(start)s.",
                notice,
                start=site.local(request.expires_at).strftime("%m-%d %H:%M"),
            )
        )
    _refuse_a_second_request(request, by)
    db.session.add(request)
    db.session.flush()
    return request, True


def _ask_shift_change(request, site, by, entry, counterpart_entry, substitute) -> list:
    _own_published(entry, by)
    if request.kind == "swap":
        if counterpart_entry is None or counterpart_entry.user_id == by.id:
            raise DomainError(_("Choose a colleague's shift to swap with."))
        if counterpart_entry.status != "planned" or not counterpart_entry.month.published:
            raise DomainError(_("That shift is not on the published roster."))
        partner = counterpart_entry.user
        _member(partner, site)
        request.entry_id, request.counterpart_entry_id = entry.id, counterpart_entry.id
        request.counterpart_id = partner.id
        _refuse_unfit([(entry, partner), (counterpart_entry, by)])
        return [entry, counterpart_entry]
    if substitute is None or substitute.id == by.id:
        raise DomainError(_("Choose a colleague to take the shift."))
    _member(substitute, site)
    request.entry_id, request.substitute_id = entry.id, substitute.id
    _refuse_unfit([(entry, substitute)])
    return [entry]


def _ask_leave(request, site, by, first_day, last_day) -> list:
    if first_day is None or last_day is None or last_day < first_day:
        raise DomainError(_("The last day of the leave comes on or after the first."))
    if (last_day - first_day).days >= MAX_LEAVE_DAYS:
        raise DomainError(_("Ask for at most %(n)d days at a time.", n=MAX_LEAVE_DAYS))
    request.leave_from = local_midnight(first_day, site.tz)
    request.leave_to = local_midnight(last_day + timedelta(days=1), site.tz)
    held = all_hands.window_refusal(site, request.leave_from, request.leave_to)
    if held is not None:  # R7: no leave while all hands stay on site
        raise DomainError(held)
    return leave_entries(site, by.id, request.leave_from, request.leave_to)


def _ask_comp_time(site: Site, by: User, touched: list, first_day: date) -> None:
    """R6: comp time off takes at least one shift off, and the balance usable on its first
    day covers the shifts' planned minutes (the approval checks again and consumes)."""
    if not touched:
        raise DomainError(_("Comp time off takes at least one of your shifts off; none falls "
                            "in these days."))  # fmt: skip
    comptime.check_available(by, site, planned_minutes(touched), first_day)


def planned_minutes(entries: list[RosterEntry]) -> int:
    """R6: what comp time off costs — the planned minutes of the shifts it takes off, whole
    (a night that ends on the leave's first morning too: its shift goes to someone else)."""
    return sum(
        int((end - start).total_seconds() // 60) for entry in entries for start, end in entry.times
    )


def leave_entries(site: Site, person_id: int, start: datetime, end: datetime) -> list:
    """The person's planned shifts with time inside [start, end): leave covers them all,
    a night that ends on the leave's first morning too."""
    candidates = db.session.scalars(
        select(RosterEntry)
        .where(
            RosterEntry.site_id == site.id,
            RosterEntry.user_id == person_id,
            RosterEntry.status == "planned",
            RosterEntry.start_at < end,
            RosterEntry.end_at > start,
        )
        .order_by(RosterEntry.start_at)
    ).all()
    return [e for e in candidates if any(a < end and b > start for a, b in e.times)]


def _own_published(entry: RosterEntry | None, by: User) -> None:
    if entry is None or entry.user_id != by.id:
        raise DomainError(_("You can ask only about your own shifts."))
    if entry.status != "planned" or not entry.month.published:
        raise DomainError(_("That shift is not on the published roster."))


def _member(person: User, site: Site) -> None:
    if not person.active or not any(s.id == site.id for s in person.sites):
        raise DomainError(_("%(name)s is not a member of this site.", name=person.display_name))


def _refuse_unfit(moves: list[tuple[RosterEntry, User]]) -> None:
    """R4: whoever would take a shift fits its post — exactly a duty manager for a duty
    manager's post, else the post's level or above — and holds its qualification."""
    problems = []
    for entry, person in moves:
        post = entry.post
        trial = checks.Entry(entry.id, person.id, post.id, entry.duty_date, entry.times)
        problems += checks.check_post_fit([trial], {post.id: check_post(post)},
                                          {person.id: check_person(person, post)})  # fmt: skip
    if problems:
        names = {person.id: person.display_name for _entry, person in moves}
        posts = {entry.post_id: entry.post.name for entry, _person in moves}
        raise DomainError(" ".join(
            checks.describe(p, person_names=names, post_names=posts) for p in problems
        ))  # fmt: skip


def check_post(post: Post) -> checks.Post:
    return checks.Post(post.id, post.required_level, post.never_unstaffed, post.needs_qualification)


def check_person(person: User, post: Post) -> checks.Person:
    return check_people([person], post)[person.id]


def check_people(people: list[User], post: Post) -> dict[int, checks.Person]:
    """The checks' view of these people with their qualifications for `post` (one query)."""
    held: dict[int, list] = {}
    for q in db.session.scalars(
        select(PostQualification).where(
            PostQualification.post_id == post.id,
            PostQualification.user_id.in_([person.id for person in people]),
        )
    ):
        held.setdefault(q.user_id, []).append(
            checks.Qualification(q.post_id, q.valid_from, q.valid_to)
        )
    return {
        person.id: checks.Person(person.id, person.level, tuple(held.get(person.id, ())))
        for person in people
    }


def _refuse_a_second_request(request: RosterRequest, by: User) -> None:
    for other in pending_of(request.site_id, requester_id=by.id):
        if set(other.entry_ids) & set(request.entry_ids):
            raise DomainError(
                _("You already asked about this shift; cancel that request first."), 409
            )


def entries_of(request: RosterRequest) -> list[RosterEntry]:
    """The shifts it touched when it was made, in time order."""
    return db.session.scalars(
        select(RosterEntry)
        .where(RosterEntry.id.in_(request.entry_ids))
        .order_by(RosterEntry.start_at)
    ).all()


def leave_days(request: RosterRequest) -> tuple[date, date]:
    """The first and last day of leave, as asked (it ends at the next midnight)."""
    site = request.site
    return (site.local(request.leave_from).date(),
            site.local(request.leave_to).date() - timedelta(days=1))  # fmt: skip


def covered(request: RosterRequest) -> list[tuple[RosterEntry, User | None]]:
    """An approved request: who took each shift."""
    if not request.cover:
        return []
    people = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_([i for i in request.cover.values() if i]))
    )}  # fmt: skip
    entries = db.session.scalars(
        select(RosterEntry).where(RosterEntry.id.in_(list(request.cover)))
        .order_by(RosterEntry.start_at)
    )  # fmt: skip
    return [(entry, people.get(request.cover[entry.id])) for entry in entries]


def pending_of(site_id: int, *, requester_id: int | None = None) -> list[RosterRequest]:
    query = select(RosterRequest).where(
        RosterRequest.site_id == site_id, RosterRequest.status == "pending"
    )
    if requester_id is not None:
        query = query.where(RosterRequest.requester_id == requester_id)
    return db.session.scalars(query.order_by(RosterRequest.received_at)).all()


# What a decision would do


def moves_of(request: RosterRequest, cover: dict | None = None) -> list[tuple]:
    """Which shift goes to whom if it is approved: a swap trades the two shifts, a
    substitute takes the shift, leave gives each shift inside it to whoever the approver
    chose in `cover` ({entry id: user or None}), or to nobody."""
    if request.kind == "swap":
        return [
            (request.entry, request.counterpart),
            (request.counterpart_entry, request.requester),
        ]
    if request.kind == "substitute":
        return [(request.entry, request.substitute)]
    entries = leave_entries(request.site, request.requester_id, request.leave_from,
                            request.leave_to)  # fmt: skip
    return [(entry, (cover or {}).get(entry.id)) for entry in entries]


def candidates(entry: RosterEntry) -> list[User]:
    """Who could take the shift: active members of the site who fit its post that day and
    have no shift at the same time (a substitute picker shows only these)."""
    site, post = entry.month.site, entry.post
    # Back to back is busy too: nobody hands over to themself (checks.check_overlap).
    busy = set(db.session.scalars(
        select(RosterEntry.user_id).where(
            RosterEntry.status == "planned",
            RosterEntry.start_at <= entry.end_at,
            RosterEntry.end_at >= entry.start_at,
        )
    ))  # fmt: skip
    members = db.session.scalars(
        select(User).where(User.active, User.sites.any(id=site.id)).order_by(User.display_name)
    ).all()
    free = [p for p in members if p.id not in busy and p.id != entry.user_id]
    seen = check_people(free, post)
    return [p for p in free if checks.fits(seen[p.id], check_post(post), entry.duty_date)]


# Deciding


def _check_decider(request: RosterRequest, by: User) -> None:
    """e-4 1–2: never the requester; a manager of the site, above the requester's role."""
    if by.id == request.requester_id:
        raise DomainError(_("A request is decided by someone other than who asked."), 403)
    if by.role not in MANAGERS or not by.can_see_site(request.site):
        raise DomainError(_("Only a manager of this site decides requests."), 403)
    if by.role != "admin" and ROLE_RANK[by.role] <= ROLE_RANK[request.requester.role]:
        raise DomainError(_("A request is decided by someone above the requester."), 403)


def may_approve(request: RosterRequest, by: User) -> bool:
    """R6: comp time off is approved by a director or an admin, not by a supervisor (who may
    still refuse it, like any request)."""
    return request.kind != "comp_leave" or by.role in COMP_LEAVE_APPROVERS


def _still_pending(request: RosterRequest) -> None:
    if not request.pending:
        status = STATUS_LABELS[request.status]
        note = f" {request.decision_note}" if request.decision_note else ""
        raise DomainError(_("This request is no longer open: %(status)s.", status=status)
                          + note, 409)  # fmt: skip


def _close(request: RosterRequest, status: str, note: str, now: datetime, by=None) -> None:
    request.status = status
    request.decided_at = now
    request.decided_by_id = by.id if by is not None else None
    request.decision_note = note[:MAX_TEXT]


def lock(request: RosterRequest) -> None:
    """One decision at a time for the months a request touches, and what the others
    decided is seen: SELECT … FOR UPDATE of the month rows on PostgreSQL (the second
    approval waits for the first to commit); on SQLite, BEGIN IMMEDIATE takes the
    database's one write lock before anything is read. Everything is then read afresh."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN IMMEDIATE")
    else:
        db.session.execute(
            select(RosterMonth.id)
            .where(RosterMonth.id.in_(_month_ids(request)))
            .order_by(RosterMonth.id)
            .with_for_update()
        )
        db.session.execute(
            select(RosterRequest.id).where(RosterRequest.id == request.id).with_for_update()
        )
    db.session.expire_all()


def _month_ids(request: RosterRequest) -> list[int]:
    ids = set(
        db.session.scalars(
            select(RosterEntry.month_id).where(RosterEntry.id.in_(request.entry_ids))
        )
    )
    if request.is_leave:
        # Shifts may have been added inside the leave since it was asked.
        first = request.site.local(request.leave_from).date() - timedelta(days=1)
        last = request.site.local(request.leave_to).date()
        ids |= set(db.session.scalars(select(RosterMonth.id).where(
            RosterMonth.site_id == request.site_id,
            RosterMonth.month >= first.strftime("%Y-%m"),
            RosterMonth.month <= last.strftime("%Y-%m"),
        )))  # fmt: skip
    return sorted(ids)


def approve_request(
    request: RosterRequest,
    *,
    by: User,
    note: str = "",
    cover: dict | None = None,
    now: datetime | None = None,
) -> list[RosterEntry]:
    """R4: the roster changes only here. Refused (403) to the requester and to anyone
    without authority; a request whose first shift began is marked expired, one whose
    shift changed meanwhile superseded (RequestClosed: commit that). Every check is re-run
    on the current roster (core.reassign); then every other pending request for the same
    shifts is superseded — the first approval wins. Returns the new entries.

    R6: comp time off only by a director or an admin (403 otherwise); the balance is checked
    again and the shifts' planned minutes are consumed, FIFO, on the leave's first day."""
    now = now or utcnow()
    _check_decider(request, by)
    if not may_approve(request, by):
        raise DomainError(_("Comp time off is approved by a director."), 403)
    lock(request)
    _still_pending(request)
    if request.expires_at <= now:
        _close(request, "expired", _("Its first shift began before a decision."), now)
        db.session.flush()
        raise RequestClosed(_("Too late: the first shift it touches has begun; it expired."))
    if request.is_leave:
        held = all_hands.window_refusal(request.site, request.leave_from, request.leave_to)
        if held is not None:  # R7: pending leave waits until the period is lifted
            raise DomainError(held)
    moves = moves_of(request, cover)
    if request.is_leave and any(getattr(p, "id", None) == request.requester_id
                                for _e, p in moves):  # fmt: skip
        raise DomainError(_("The person on leave cannot cover their own shift."))
    if any(entry.status != "planned" for entry, _person in moves):
        _close(request, "superseded", _("A shift of it was changed meanwhile."), now)
        db.session.flush()
        raise RequestClosed(_("A shift of it was changed meanwhile; it is superseded."))
    findings = core.assess(moves)
    refused = [finding.text for finding in findings if finding.hard]
    if refused:
        raise DomainError(" ".join(refused[:3]), 422)
    if request.kind == "comp_leave":
        _take_comp_time(request, [entry for entry, _person in moves], by)
    source = "swap" if request.kind == "swap" else "substitute"
    created = core.reassign(moves, by=by, reason=request.reason, source=source, now=now)
    _close(request, "approved", (note or "").strip(), now, by)
    request.cover = {entry.id: getattr(person, "id", None) for entry, person in moves}
    request.checks = [finding.frozen() for finding in findings]
    touched = set(request.cover)
    for other in pending_of(request.site_id):
        if other.id != request.id and touched & set(other.entry_ids):
            _close(other, "superseded", _(
                "%(name)s's request (%(kind)s) for the same shift was approved first.",
                name=request.requester.display_name, kind=KIND_LABELS[request.kind],
            ), now)  # fmt: skip
    db.session.flush()
    return created


def _take_comp_time(request: RosterRequest, entries: list[RosterEntry], by: User) -> None:
    minutes = planned_minutes(entries)
    if minutes <= 0:
        raise DomainError(_("No shift of the requester is left in these days, so there is no "
                            "comp time to take; refuse it instead."), 422)  # fmt: skip
    comptime.consume(
        request.requester, site=request.site, minutes=minutes, on=leave_days(request)[0],
        source_type=COMP_SOURCE, source_id=request.id, by=by, note=request.reason[:200],
    )  # fmt: skip


def reject_request(
    request: RosterRequest, *, by: User, note: str, now: datetime | None = None
) -> None:
    """Refused with a note the requester reads; the checks seen are kept with it."""
    now = now or utcnow()
    _check_decider(request, by)
    lock(request)
    _still_pending(request)
    note = (note or "").strip()
    if not note:
        raise DomainError(_("Say why it is refused."))
    if len(note) > MAX_TEXT:
        raise DomainError(_("At most %(n)d characters.", n=MAX_TEXT))
    request.checks = [finding.frozen() for finding in core.assess(_open_moves(request))]
    _close(request, "rejected", note, now, by)
    db.session.flush()


def _open_moves(request: RosterRequest) -> list[tuple]:
    moves = moves_of(request)
    return moves if all(entry.status == "planned" for entry, _p in moves) else []


def cancel_request(request: RosterRequest, *, by: User, now: datetime | None = None) -> None:
    if by.id != request.requester_id:
        raise DomainError(_("Only the person who asked can cancel a request."), 403)
    lock(request)
    _still_pending(request)
    _close(request, "cancelled", "", now or utcnow(), by)
    db.session.flush()


def expire_due(site: Site, *, now: datetime | None = None) -> int:
    """e-4 8: pending requests whose first shift has begun expire — no cover after the
    start. Returns how many."""
    now = now or utcnow()
    due = db.session.scalars(
        select(RosterRequest).where(
            RosterRequest.site_id == site.id,
            RosterRequest.status == "pending",
            RosterRequest.expires_at <= now,
        )
    ).all()
    for request in due:
        _close(request, "expired", _("Its first shift began before a decision."), now)
    db.session.flush()
    return len(due)
