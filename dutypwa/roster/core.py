"""The monthly roster (R1–R5): a site's month, the grid a supervisor edits, one cell edit
with every check, and the workflow draft → submitted → (company review) → approved →
published. After publishing a change is an amendment with a reason; shifts already begun
are locked. Functions add and flush; the views commit.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import (
    LEAVE_KINDS,
    Post,
    PostQualification,
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
from dutypwa.roster import checks
from dutypwa.roster.holidays import holidays_known, kinds_between, year_banner
from dutypwa.roster.times import local_midnight, segment_times

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
EDITABLE = ("draft", "published")
REVIEWERS = ("director", "admin")
# R3: a month with these days goes to the company for review before it is final.
HOLIDAY_KINDS = ("statutory", "rest")


class UnderReview(DomainError):
    def __init__(self):
        super().__init__(
            _("This month is under review; it is returned to draft to change it."), 409
        )


class StaleVersion(DomainError):
    """The page was drawn from an older version of the month (409)."""

    def __init__(self):
        super().__init__(
            _("Someone changed this roster meanwhile: the cell shows what it holds now."), 409
        )


def parse_month(text: str) -> date:
    match = MONTH.match(text or "")
    if not match:
        raise DomainError(_("A month is written YYYY-MM, for example 2026-12."), 404)
    return date(int(match[1]), int(match[2]), 1)


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def month_days(first: date) -> list[date]:
    end = next_month(first)
    return [first + timedelta(days=n) for n in range((end - first).days)]


def month_of(site: Site, first: date, *, create: bool = False) -> RosterMonth | None:
    key = first.strftime("%Y-%m")
    month = db.session.scalar(
        select(RosterMonth).where(RosterMonth.site_id == site.id, RosterMonth.month == key)
    )
    if month is None and create:
        month = RosterMonth(site_id=site.id, month=key, site=site)
        db.session.add(month)
        db.session.flush()
    return month


def first_day(month: RosterMonth) -> date:
    return parse_month(month.month)


# Shift templates


def templates_of(site: Site) -> list[ShiftTemplate]:
    return db.session.scalars(
        select(ShiftTemplate)
        .where(ShiftTemplate.site_id == site.id, ShiftTemplate.retired_at.is_(None))
        .order_by(ShiftTemplate.post_id.is_not(None), ShiftTemplate.code)
    ).all()


def template_for(site: Site, post: Post, code: str) -> ShiftTemplate | None:
    """The shift typed into a cell: the post's own with that code, else the site's."""
    found = [t for t in templates_of(site) if t.code == code and t.post_id in (post.id, None)]
    found.sort(key=lambda template: template.post_id is None)
    return found[0] if found else None


def entry_times(template: ShiftTemplate, duty_date: date, site: Site) -> list[list[str]]:
    return [
        [start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()]
        for start, end in segment_times(template.minutes, duty_date, site.tz)
    ]


# The checks (roster/checks.py) over the database's rows


@dataclass
class Context:
    """What the checks need for one month: its entries with a week before and a day after,
    the site's posts and people, the settings and the window."""

    site: Site
    first: date
    entries: list[checks.Entry]
    posts: dict
    people: dict
    names: dict
    post_names: dict
    settings: checks.Settings
    window: checks.Window
    leave: list = field(default_factory=list)

    def problems(self, scope: checks.Scope | None = None) -> list[checks.Problem]:
        """Every problem of the month, or (with `scope`) those of some people and posts —
        all that one cell edit can change."""
        return checks.check_roster(
            self.entries, self.posts, self.people, self.leave, self.settings, self.window,
            scope=scope,
        )  # fmt: skip

    def sentence(self, problem: checks.Problem) -> str:
        return checks.describe(
            problem, self.site.tz, person_names=self.names, post_names=self.post_names
        )


def as_check_entry(entry: RosterEntry) -> checks.Entry:
    return checks.Entry(entry.id, entry.user_id, entry.post_id, entry.duty_date, entry.times)


def planned_entries(site: Site, start: date, end: date) -> list[RosterEntry]:
    """The site's planned entries with duty dates from `start` to `end` (excluded)."""
    return db.session.scalars(
        select(RosterEntry)
        .where(
            RosterEntry.site_id == site.id,
            RosterEntry.status == "planned",
            RosterEntry.duty_date >= start,
            RosterEntry.duty_date < end,
        )
        .order_by(RosterEntry.start_at)
    ).all()


def settings_of(site: Site) -> checks.Settings:
    return checks.Settings(
        min_rest_minutes=int(site.setting("roster_min_rest_hours")) * 60,
        rest_severity=site.setting("roster_rest_severity"),
        max_consecutive_days=int(site.setting("roster_max_consecutive_days")),
        overtime_cap_minutes=int(site.setting("roster_overtime_cap_hours")) * 60,
    )


def context_of(site: Site, first: date) -> Context:
    """The checks' view of the month: plain values read with two column queries, not ORM
    rows (a cell edit reads a whole month of a large site)."""
    end = next_month(first)
    rows = db.session.execute(
        select(
            RosterEntry.id,
            RosterEntry.user_id,
            RosterEntry.post_id,
            RosterEntry.duty_date,
            RosterEntry.segments,
        ).where(
            RosterEntry.site_id == site.id,
            RosterEntry.status == "planned",
            RosterEntry.duty_date >= first - timedelta(days=7),
            RosterEntry.duty_date < end + timedelta(days=1),
        )
    ).all()
    posts = db.session.scalars(select(Post).where(Post.site_id == site.id)).all()
    member_ids = select(site_members.c.user_id).where(site_members.c.site_id == site.id)
    people = db.session.execute(
        select(User.id, User.display_name, User.level).where(
            User.id.in_(member_ids) | User.id.in_({row.user_id for row in rows})
        )
    ).all()
    qualifications: dict[int, list] = {}
    for q in db.session.scalars(
        select(PostQualification).where(PostQualification.post_id.in_([p.id for p in posts]))
    ):
        qualifications.setdefault(q.user_id, []).append(
            checks.Qualification(q.post_id, q.valid_from, q.valid_to)
        )
    return Context(
        site=site,
        first=first,
        entries=[
            checks.Entry(row.id, row.user_id, row.post_id, row.duty_date, _times(row.segments))
            for row in rows
        ],
        posts={
            post.id: checks.Post(
                post.id, post.required_level, post.never_unstaffed, post.needs_qualification
            )
            for post in posts
        },
        people={
            person.id: checks.Person(
                person.id, person.level, tuple(qualifications.get(person.id, ()))
            )
            for person in people
        },
        names={person.id: person.display_name for person in people},
        post_names={post.id: post.name for post in posts},
        settings=settings_of(site),
        window=checks.Window(first, end, site.tz, margin_days=0),
        leave=approved_leave(
            site,
            local_midnight(first - timedelta(days=7), site.tz),
            local_midnight(end + timedelta(days=2), site.tz),
        ),
    )


def approved_leave(site: Site, start: datetime, end: datetime) -> list[checks.Leave]:
    """R4: approved leave (roster/requests.py) that reaches into [start, end): a hard rule
    for every later edit, so nobody is rostered back into it."""
    rows = db.session.execute(
        select(RosterRequest.requester_id, RosterRequest.leave_from, RosterRequest.leave_to).where(
            RosterRequest.site_id == site.id,
            RosterRequest.kind.in_(LEAVE_KINDS),
            RosterRequest.status == "approved",
            RosterRequest.leave_from < end,
            RosterRequest.leave_to > start,
        )
    ).all()
    return [checks.Leave(row.requester_id, row.leave_from, row.leave_to) for row in rows]


def _times(segments: list) -> tuple:
    return tuple(
        (datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in segments
    )


# Editing a cell


def _row(month: RosterMonth, post: Post, person: User) -> RosterRow:
    row = db.session.scalar(
        select(RosterRow).where(
            RosterRow.month_id == month.id,
            RosterRow.post_id == post.id,
            RosterRow.user_id == person.id,
        )
    )
    if row is None:
        position = len(month.rows)
        row = RosterRow(month=month, post_id=post.id, user_id=person.id, position=position)
        db.session.add(row)
    return row


def add_row(month: RosterMonth, *, post: Post, person: User, by: User) -> RosterRow:
    if month.status not in EDITABLE:
        raise UnderReview()
    row = _row(month, post, person)
    db.session.flush()
    return row


def cell_entry(month: RosterMonth, post: Post, person: User, day: date) -> RosterEntry | None:
    return db.session.scalar(
        select(RosterEntry).where(
            RosterEntry.month_id == month.id,
            RosterEntry.post_id == post.id,
            RosterEntry.user_id == person.id,
            RosterEntry.duty_date == day,
            RosterEntry.status == "planned",
        )
    )


def _snapshot(entry: RosterEntry | None) -> dict | None:
    if entry is None:
        return None
    return {"person": entry.user_id, "post": entry.post_id, "day": entry.duty_date.isoformat(),
            "code": entry.template.code, "template": entry.template_id,
            "start": entry.start_at.isoformat(), "end": entry.end_at.isoformat()}  # fmt: skip


def set_cell(
    month: RosterMonth,
    *,
    by: User,
    post: Post,
    person: User,
    day: date,
    code: str,
    version: int,
    reason: str = "",
    source: str = "manual",
    now: datetime | None = None,
    context: Context | None = None,
) -> RosterEntry | None:
    """One cell: the shift with `code` (empty: none) for `person` at `post` on `day`.
    Refused with the reason, nothing written, when it breaks a hard rule for that person
    (overlap, level, qualification, leave) or, in a published month, leaves a post that
    must never be unstaffed without anyone (R5). Only that person and that post are
    checked again; a caller editing many cells passes one `context`, kept up to date."""
    now = now or utcnow()
    site = month.site
    first = first_day(month)
    if version != month.version:
        raise StaleVersion()
    if month.status not in EDITABLE:
        raise UnderReview()
    if not first <= day < next_month(first):
        raise DomainError(_("That day is not in this month."), 422)
    if post.site_id != site.id or not any(s.id == site.id for s in person.sites):
        raise DomainError(_("This person is not a member of this site."), 403)
    reason = (reason or "").strip()[:500]
    if month.published and not reason:
        raise DomainError(_("The roster is published: say why it changes."), 422)
    old = cell_entry(month, post, person, day)
    code = (code or "").strip()
    template = template_for(site, post, code) if code else None
    if code and template is None:
        raise DomainError(_("No shift has the code “%(code)s” here.", code=code), 422)
    if old is not None and template is not None and old.template_id == template.id:
        return old
    if month.published and old is not None and old.start_at <= now:
        raise DomainError(_("This shift has begun or is over; it can no longer change."), 422)
    times = entry_times(template, day, site) if template else None
    if month.published and times and datetime.fromisoformat(times[0][0]) <= now:
        raise DomainError(_("This shift would already have begun; it can no longer change."), 422)

    context = context or context_of(site, first)
    scope = checks.Scope(frozenset({person.id}), frozenset({post.id}))
    before = context.problems(scope) if month.published else []
    new_id = str(uuid.uuid4())
    candidate = None
    if template is not None:
        candidate = checks.Entry(new_id, person.id, post.id, day, tuple(
            (datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in times
        ))  # fmt: skip
    kept = [e for e in context.entries if old is None or e.id != old.id]
    trial = [*kept, candidate] if candidate is not None else kept
    previous_entries, context.entries = context.entries, trial
    refused = [
        problem
        for problem in context.problems(scope)
        if problem.severity == checks.HARD
        and (
            (candidate is not None and new_id in problem.entries)
            or (problem.code == "coverage_gap" and month.published and problem not in before)
        )
    ]
    if refused:
        context.entries = previous_entries
        raise DomainError(" ".join(context.sentence(problem) for problem in refused[:3]), 422)

    _row(month, post, person)
    entry = None
    if old is not None:
        if month.published:
            old.status = "replaced"
            old.ical_sequence += 1
            old.updated_at = now
        else:
            db.session.delete(old)
    if template is not None:
        entry = RosterEntry(
            id=new_id,
            month_id=month.id,
            site_id=site.id,
            user_id=person.id,
            post_id=post.id,
            template=template,
            duty_date=day,
            start_at=datetime.fromisoformat(times[0][0]),
            end_at=datetime.fromisoformat(times[-1][1]),
            segments=times,
            source="amendment" if month.published else source,
            updated_at=now,
        )
        db.session.add(entry)
    month.version += 1
    db.session.add(
        RosterChange(
            month_id=month.id,
            entry_id=(entry or old).id if (entry or old) else None,
            actor_id=by.id,
            action="amend" if month.published else ("set" if entry else "clear"),
            before=_snapshot(old),
            after=_snapshot(entry),
            reason=reason,
            version=month.version,
            at=now,
        )
    )
    db.session.flush()
    return entry


@dataclass(frozen=True)
class Finding:
    """A problem a change would bring, with its sentence for a person."""

    problem: checks.Problem
    text: str

    @property
    def hard(self) -> bool:
        return self.problem.severity == checks.HARD

    def frozen(self) -> dict:
        return {"code": self.problem.code, "severity": self.problem.severity, "text": self.text}


def assess(moves: list[tuple[RosterEntry, User | None]]) -> list[Finding]:
    """The problems the moves (each entry to a person, None: nobody) would bring, against
    the roster as it is now: for everyone involved (overlap, rest, level and qualification,
    leave …) and for the posts (R5: a new gap at a post that is never unstaffed). Each month
    touched is checked with all the moves applied, so a swap across a month's end is seen
    whole."""
    if not moves:
        return []
    site = moves[0][0].month.site
    fresh = {str(uuid.uuid4()): (entry, person) for entry, person in moves if person is not None}
    trial = [
        checks.Entry(new_id, person.id, entry.post_id, entry.duty_date, entry.times)
        for new_id, (entry, person) in fresh.items()
    ]
    moved = {entry.id for entry, _person in moves}
    people = {entry.user_id for entry, _p in moves} | {p.id for _e, p in fresh.values()}
    scope = checks.Scope(frozenset(people), frozenset(entry.post_id for entry, _p in moves))
    found: list[Finding] = []
    for month in sorted({entry.month for entry, _p in moves}, key=lambda m: m.month):
        context = context_of(site, first_day(month))
        before = context.problems(scope)
        context.entries = [e for e in context.entries if e.id not in moved] + trial
        for problem in context.problems(scope):
            new = set(problem.entries) & set(fresh) or problem not in before
            if new and all(problem != f.problem for f in found):
                found.append(Finding(problem, context.sentence(problem)))
    return found


def reassign(
    moves: list[tuple[RosterEntry, User | None]],
    *,
    by: User,
    reason: str,
    source: str,
    now: datetime | None = None,
) -> list[RosterEntry]:
    """Several shifts change hands at once (a swap, a substitute, leave): each entry goes
    to the person given (None: nobody). Checked as one change (`assess`) and refused whole,
    with the reasons, if it brings a hard problem; then written as one version per month.
    Shifts already begun are locked. Returns the new entries."""
    now = now or utcnow()
    reason = (reason or "").strip()[:500]
    if not moves:
        return []
    site = moves[0][0].month.site
    for entry, person in moves:
        if entry.status != "planned":
            raise DomainError(_("That shift was changed meanwhile."), 409)
        if entry.month.status not in EDITABLE:
            raise UnderReview()
        if entry.start_at <= now:
            raise DomainError(_("This shift has begun or is over; it can no longer change."), 422)
        if person is not None and not any(s.id == site.id for s in person.sites):
            raise DomainError(_("This person is not a member of this site."), 403)
    refused = [finding.text for finding in assess(moves) if finding.hard]
    if refused:
        raise DomainError(" ".join(refused[:3]), 422)
    created, after = [], {}
    for entry, _person in moves:
        if entry.month.published:
            entry.status = "replaced"
            entry.ical_sequence += 1
            entry.updated_at = now
    for entry, person in moves:
        if person is None:
            continue
        created.append(
            RosterEntry(
                id=str(uuid.uuid4()),
                month_id=entry.month_id,
                site_id=entry.site_id,
                user_id=person.id,
                post_id=entry.post_id,
                template_id=entry.template_id,
                duty_date=entry.duty_date,
                start_at=entry.start_at,
                end_at=entry.end_at,
                segments=entry.segments,
                day_kind=entry.day_kind,
                source=source,
                updated_at=now,
            )
        )
        db.session.add(created[-1])
        after[entry.id] = created[-1]
        _row(entry.month, entry.post, person)
    for entry, _person in moves:
        if not entry.month.published:
            db.session.delete(entry)
    for touched in {entry.month for entry, _p in moves}:
        touched.version += 1
        for entry, _person in moves:
            if entry.month is touched:
                db.session.add(RosterChange(
                    month_id=touched.id, entry_id=entry.id, actor_id=by.id, action=source,
                    before=_snapshot(entry), after=_snapshot(after.get(entry.id)),
                    reason=reason, version=touched.version, at=now))  # fmt: skip
    db.session.flush()
    return created


# The workflow (R1, R3)


def _record(month: RosterMonth, by: User, action: str, reason: str = "") -> None:
    month.version += 1
    db.session.add(RosterChange(month_id=month.id, actor_id=by.id, action=action,
                                reason=reason[:500], version=month.version))  # fmt: skip


def holiday_days(first: date) -> dict[date, str]:
    days = kinds_between(first, next_month(first) - timedelta(days=1))
    return {day: kind for day, kind in days.items() if kind in HOLIDAY_KINDS}


def submit(month: RosterMonth, *, by: User, now: datetime | None = None) -> None:
    """The supervisor submits the month: no hard problem may be left (R5: every gap at a
    post that is never unstaffed is shown and must be closed first); a month with
    statutory holidays or rest days goes to the company for review (R3)."""
    if month.status != "draft":
        raise DomainError(_("Only a draft is submitted."), 409)
    first = first_day(month)
    if not holidays_known(first.year):
        raise DomainError(year_banner(first.year), 422)
    context = context_of(month.site, first)
    hard = [p for p in context.problems() if p.severity == checks.HARD]
    if hard:
        raise DomainError(
            _("%(n)d problems must be fixed first: %(first)s", n=len(hard),
              first=context.sentence(hard[0])),
            422,
        )  # fmt: skip
    month.requires_company_review = bool(holiday_days(first))
    month.status = "company_review" if month.requires_company_review else "submitted"
    month.submitted_by_id, month.submitted_at = by.id, now or utcnow()
    _record(month, by, "submit")


def approve(month: RosterMonth, *, by: User, comment: str = "", now=None) -> None:
    """A director approves, after the company's review when the month has holidays (R3);
    never the person who submitted it."""
    if month.status not in ("submitted", "company_review"):
        raise DomainError(_("Only a submitted roster is approved."), 409)
    if by.role not in REVIEWERS:
        raise DomainError(_("A director approves the roster."), 403)
    if by.id == month.submitted_by_id:
        raise DomainError(_("The roster is approved by someone other than who submitted it."), 403)
    now = now or utcnow()
    if month.status == "company_review":
        month.reviewed_by_id, month.reviewed_at = by.id, now
    month.status = "approved"
    month.approved_by_id, month.approved_at = by.id, now
    month.comment = (comment or "").strip()[:500]
    _record(month, by, "approve", month.comment)


def return_to_draft(month: RosterMonth, *, by: User, comment: str) -> None:
    if month.status not in ("submitted", "company_review", "approved"):
        raise DomainError(_("Only a submitted or approved roster is returned."), 409)
    if by.role not in REVIEWERS:
        raise DomainError(_("A director returns the roster."), 403)
    comment = (comment or "").strip()
    if not comment:
        raise DomainError(_("Say what is to change."), 422)
    month.status = "draft"
    month.comment = comment[:500]
    _record(month, by, "return", month.comment)


def publish(month: RosterMonth, *, by: User, now=None) -> None:
    """R1: published, the roster is visible to every member of the site and printable;
    each entry keeps the kind of its day as it was now (a later calendar correction does
    not change what was planned)."""
    if month.status != "approved":
        raise DomainError(_("Only an approved roster is published."), 409)
    now = now or utcnow()
    first = first_day(month)
    kinds = kinds_between(first, next_month(first))
    for entry in db.session.scalars(
        select(RosterEntry).where(RosterEntry.month_id == month.id, RosterEntry.status == "planned")
    ):
        entry.day_kind = kinds.get(entry.duty_date)
        entry.updated_at = now
    month.status = "published"
    month.published_by_id, month.published_at = by.id, now
    _record(month, by, "publish")


def offline_months(site: Site, today: date) -> list[dict]:
    """The published months of the site a phone keeps for reading offline: this one and
    the next (from `today`, the site's date), each with its version, so the service worker
    fetches a month once per version and never asks for one that is not there."""
    first = today.replace(day=1)
    keys = [first.strftime("%Y-%m"), next_month(first).strftime("%Y-%m")]
    months = db.session.scalars(
        select(RosterMonth)
        .where(
            RosterMonth.site_id == site.id,
            RosterMonth.month.in_(keys),
            RosterMonth.status == "published",
        )
        .order_by(RosterMonth.month)
    )
    return [{"month": month.month, "version": month.version} for month in months]


# What the pages draw


def row_hours(context: Context, post: Post, person: User) -> float:
    """The hours at the end of a grid row: the person's shifts at the post this month, from
    the checks' entries (kept up to date by a cell edit, whose answer redraws them)."""
    end = next_month(context.first)
    seconds = sum(
        (segment_end - segment_start).total_seconds()
        for entry in context.entries
        if entry.person == person.id and entry.post == post.id
        and context.first <= entry.duty_date < end
        for segment_start, segment_end in entry.segments
    )  # fmt: skip
    return round(seconds / 3600, 1)


@dataclass
class Grid:
    month: RosterMonth
    first: date
    days: list[date]
    kinds: dict
    sections: list  # [(post, [(row, {day: entry})])]
    coverage: dict  # {post id: {day: [(start local, end local)]}}
    problems: list  # [(problem, sentence)]
    templates: list
    banner: str | None
    totals: dict  # {row id: hours}


def grid(month: RosterMonth, *, cells: bool = True, context: Context | None = None) -> Grid:
    """The month as the page draws it; without `cells` only the problems and coverage (a
    cell edit's answer, which passes the `context` the edit kept up to date)."""
    site, first = month.site, first_day(month)
    days = month_days(first)
    entries = (
        db.session.scalars(
            select(RosterEntry).where(
                RosterEntry.month_id == month.id, RosterEntry.status == "planned"
            )
        ).all()
        if cells
        else []
    )
    cells: dict = {}
    for entry in entries:
        cells.setdefault((entry.post_id, entry.user_id), {})[entry.duty_date] = entry
    posts = db.session.scalars(
        select(Post).where(Post.site_id == site.id).order_by(Post.name)
    ).all()
    rows = {post.id: [] for post in posts}
    for row in month.rows:
        rows.setdefault(row.post_id, []).append(row)
    context = context or context_of(site, first)
    problems = context.problems()
    coverage: dict = {}
    for problem in problems:
        if problem.code != "coverage_gap":
            continue
        start, end = problem.start.astimezone(site.tz), problem.end.astimezone(site.tz)
        day = start.date()
        while datetime.combine(day, datetime.min.time(), site.tz) < end:
            coverage.setdefault(problem.post, {}).setdefault(day, []).append((start, end))
            day += timedelta(days=1)
    totals = {}
    for post_rows in rows.values():
        for row in post_rows:
            own = cells.get((row.post_id, row.user_id), {}).values()
            seconds = sum((b - a).total_seconds() for e in own for a, b in e.times)
            totals[row.id] = round(seconds / 3600, 1)
    return Grid(
        month=month,
        first=first,
        days=days,
        kinds=kinds_between(first, days[-1]),
        sections=[
            (post, [(row, cells.get((row.post_id, row.user_id), {})) for row in rows[post.id]])
            for post in posts
        ],
        coverage=coverage,
        problems=[(problem, context.sentence(problem)) for problem in problems],
        templates=templates_of(site),
        banner=year_banner(first.year),
        totals=totals,
    )
