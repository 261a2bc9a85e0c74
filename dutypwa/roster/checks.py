"""The roster's rule checks (d-6) as pure functions over plain values, shared by the editor,
the approvals and the Excel import: overlap, rest between shifts, consecutive days, monthly
hours, level and qualification per post (R4), approved leave, and R5 — a post that is never
unstaffed is covered at every minute of the month and a day either side, gaps listed.
"""

import heapq
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any

from flask_babel import gettext as _

from dutypwa.roster.times import SHANGHAI, Segment, local_midnight, segment_times

HARD, WARN = "hard", "warn"
# Ordered: a post takes its required level or above, except the levels in EXACT_LEVELS,
# which take exactly that level (R4: a duty manager is replaced only by a duty manager).
LEVELS = ("staff", "leader", "supervisor", "duty_manager", "manager")
EXACT_LEVELS = frozenset({"duty_manager"})
# Hours per month: attribute a shift to its duty date's month, or split it at midnight.
MONTH_POLICIES = ("duty_date", "split")

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Entry:
    """One person on one duty on one duty date (the day it starts). `segments` are the real
    [start, end) UTC times, in order; a split shift has two or more. A rest day is no entry.
    """

    id: Hashable
    person: Hashable
    post: Hashable
    duty_date: date
    segments: tuple[Interval, ...]

    def __post_init__(self):
        if not self.segments:
            raise ValueError("an entry has at least one segment")
        ordered = all(start < end for start, end in self.segments) and all(
            end <= next_start for (_start, end), (next_start, _end) in pairwise(self.segments)
        )
        if not ordered:
            raise ValueError(f"segments out of order or overlapping: {self.segments}")

    @classmethod
    def of(
        cls,
        id: Hashable,
        person: Hashable,
        post: Hashable,
        duty_date: date,
        minutes: Iterable[Segment],
        tz: tzinfo = SHANGHAI,
    ) -> "Entry":
        """An entry from a template's segments in minutes from the duty date's midnight."""
        return cls(id, person, post, duty_date, segment_times(minutes, duty_date, tz))

    @property
    def start(self) -> datetime:
        return self.segments[0][0]

    @property
    def end(self) -> datetime:
        return self.segments[-1][1]

    @property
    def worked(self) -> timedelta:
        """The time on duty: the segments, not the gap inside a split shift."""
        return sum((end - start for start, end in self.segments), timedelta())


@dataclass(frozen=True)
class Qualification:
    """A person may work at `post` from `valid_from` to `valid_to` (inclusive; None: open)."""

    post: Hashable
    valid_from: date | None = None
    valid_to: date | None = None


@dataclass(frozen=True)
class Person:
    id: Hashable
    level: str = "staff"
    qualifications: tuple[Qualification, ...] = ()

    def qualified_for(self, post: Hashable, day: date) -> bool:
        return any(
            q.post == post
            and (q.valid_from is None or q.valid_from <= day)
            and (q.valid_to is None or day <= q.valid_to)
            for q in self.qualifications
        )


@dataclass(frozen=True)
class Post:
    id: Hashable
    required_level: str = "staff"
    never_unstaffed: bool = False  # R5, e.g. the customer-service centre
    needs_qualification: bool = True


@dataclass(frozen=True)
class Leave:
    """Approved leave of a person over [start, end), UTC."""

    person: Hashable
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Settings:
    """A site's roster rules; minutes, as the site's settings store them."""

    min_rest_minutes: int = 11 * 60
    # 做一休二: after a shift of at least `long_shift_minutes` (a 24 h 通班) the rest is
    # this long instead; None keeps `min_rest_minutes`.
    rest_after_long_minutes: int | None = None
    long_shift_minutes: int = 24 * 60
    rest_severity: str = WARN
    max_consecutive_days: int = 6
    # 21.75 days × 8 h is the standard month; 劳动法第41条 caps overtime at 36 h a month.
    standard_month_minutes: int = 174 * 60
    overtime_cap_minutes: int = 36 * 60
    month_hours: str = "duty_date"

    def rest_needed(self, entry: Entry) -> timedelta:
        long = entry.worked >= timedelta(minutes=self.long_shift_minutes)
        if long and self.rest_after_long_minutes is not None:
            return timedelta(minutes=self.rest_after_long_minutes)
        return timedelta(minutes=self.min_rest_minutes)


@dataclass(frozen=True)
class Window:
    """The days being checked, [first_day, end_day), in the site's time zone."""

    first_day: date
    end_day: date
    tz: tzinfo = SHANGHAI
    # R5 is checked this many days beyond each end. The editor checks its own month only
    # (0): the neighbouring months' shifts still count where they reach into it.
    margin_days: int = 1

    @classmethod
    def month(cls, year: int, month: int, tz: tzinfo = SHANGHAI) -> "Window":
        return cls(date(year, month, 1), _next_month(date(year, month, 1)), tz)

    def __contains__(self, day: date) -> bool:
        return self.first_day <= day < self.end_day

    def coverage_span(self) -> Interval:
        """R5 is checked a day beyond each end, so the nights that cross into the
        neighbouring months are covered too."""
        margin = timedelta(days=self.margin_days)
        return (
            local_midnight(self.first_day - margin, self.tz),
            local_midnight(self.end_day + margin, self.tz),
        )

    def months(self) -> set[tuple[int, int]]:
        months, day = set(), self.first_day
        while day < self.end_day:
            months.add((day.year, day.month))
            day = _next_month(day)
        return months


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One finding: what (`code`), how bad (`severity`: "hard" blocks, "warn" informs),
    whose, where, when, the numbers of the sentence (`params`) and the entries involved."""

    code: str
    severity: str
    person: Hashable | None = None
    post: Hashable | None = None
    start: datetime
    end: datetime
    params: Mapping[str, Any] = field(default_factory=dict)
    entries: tuple[Hashable, ...] = ()


@dataclass(frozen=True)
class Scope:
    """What a change can affect: the checks of some people and the coverage of some posts.
    A problem with a person belongs to that person; a coverage gap to its post."""

    people: frozenset = frozenset()
    posts: frozenset = frozenset()

    @classmethod
    def of(cls, *entries: Entry) -> "Scope":
        """The scope of an edit: pass the entry before and the entry after the change."""
        return cls(frozenset(e.person for e in entries), frozenset(e.post for e in entries))

    def covers(self, problem: Problem) -> bool:
        if problem.person is not None:
            return problem.person in self.people
        return problem.post in self.posts


def check_roster(
    entries: Iterable[Entry],
    posts: Iterable[Post] | Mapping[Hashable, Post],
    people: Iterable[Person] | Mapping[Hashable, Person],
    leave: Iterable[Leave],
    settings: Settings,
    window: Window,
    *,
    scope: Scope | None = None,
) -> list[Problem]:
    """Every problem of the roster in `window`, in time order. Pass the entries from a week
    before the window to a day after it (consecutive days, nights across the boundary).
    With `scope`, only what those people and posts can be affected by is checked — the
    editor's one-cell edit; `recheck` merges that into the previous findings."""
    entries, leave = list(entries), list(leave)
    posts, people = _index(posts), _index(people)
    if scope is not None:
        own = [e for e in entries if e.person in scope.people]
        at_posts = [e for e in entries if e.post in scope.posts]
        checked_posts = {key: post for key, post in posts.items() if key in scope.posts}
    else:
        own, at_posts, checked_posts = entries, entries, posts
    problems = [
        *check_overlap(own, window),
        *check_rest(own, settings, window),
        *check_consecutive_days(own, settings, window),
        *check_monthly_hours(own, settings, window),
        *check_post_fit(own, posts, people, window),
        *check_leave(own, leave, window),
        *check_coverage(at_posts, checked_posts, people, leave, window),
    ]
    return sorted(problems, key=_order)


def recheck(
    previous: Iterable[Problem],
    scope: Scope,
    entries: Iterable[Entry],
    posts: Iterable[Post] | Mapping[Hashable, Post],
    people: Iterable[Person] | Mapping[Hashable, Person],
    leave: Iterable[Leave],
    settings: Settings,
    window: Window,
) -> list[Problem]:
    """The findings after a change: the previous ones outside `scope`, plus a fresh check
    of what is inside it. Equal to a full `check_roster`, at the cost of one person and post.
    """
    kept = [problem for problem in previous if not scope.covers(problem)]
    fresh = check_roster(entries, posts, people, leave, settings, window, scope=scope)
    return sorted(kept + fresh, key=_order)


def check_overlap(entries: Iterable[Entry], window: Window | None = None) -> list[Problem]:
    """Hard: two entries of one person at the same time, at any post or site. Entries that
    only touch (08:00–20:00, then 20:00–08:00) count too: the relief comes 5 minutes early
    (H1) and the outgoing person stays until both sign (H8), so nobody can be on both
    sides of a handover."""
    problems = []
    for person, own in _by_person(entries).items():
        segments = sorted(
            ((start, end, entry) for entry in own for start, end in entry.segments),
            key=lambda item: (item[0], item[1]),
        )
        active: list[tuple[datetime, int, Entry]] = []  # (end, tiebreak, entry) by end
        pairs: dict[tuple, list] = {}
        for number, (start, end, entry) in enumerate(segments):
            while active and active[0][0] < start:
                heapq.heappop(active)
            for other_end, _number, other in active:
                if other is entry:
                    continue
                piece_start, piece_end = start, min(end, other_end)
                found = pairs.setdefault(
                    (other.id, entry.id), [piece_start, piece_end, other, entry]
                )
                found[0], found[1] = min(found[0], piece_start), max(found[1], piece_end)
            heapq.heappush(active, (end, number, entry))
        for start, end, first, second in pairs.values():
            if _in(window, first, second):
                problems.append(
                    Problem(
                        code="overlap",
                        severity=HARD,
                        person=person,
                        start=start,
                        end=end,
                        entries=(first.id, second.id),
                    )
                )
    return problems


def check_rest(
    entries: Iterable[Entry], settings: Settings, window: Window | None = None
) -> list[Problem]:
    """Rest between consecutive entries of a person, below the site's minimum (warn or hard,
    as the site says). The gap inside a split shift is not rest: it is one entry."""
    problems = []
    for person, own in _by_person(entries).items():
        latest = None  # the entry that ends last among those before
        for entry in sorted(own, key=lambda e: (e.start, e.end)):
            if latest is not None:
                rest, needed = entry.start - latest.end, settings.rest_needed(latest)
                # No gap at all is an overlap, reported by check_overlap.
                if timedelta(0) < rest < needed and _in(window, latest, entry):
                    problems.append(
                        Problem(
                            code="rest",
                            severity=settings.rest_severity,
                            person=person,
                            start=latest.end,
                            end=entry.start,
                            params={
                                "rest_minutes": _minutes(rest),
                                "minimum_minutes": _minutes(needed),
                            },
                            entries=(latest.id, entry.id),
                        )
                    )
            if latest is None or entry.end > latest.end:
                latest = entry
    return problems


def check_consecutive_days(
    entries: Iterable[Entry], settings: Settings, window: Window | None = None
) -> list[Problem]:
    """Warn: more duty dates in a row than the site allows (e.g. a seventh day after six).
    `entries` names the entries on the days beyond the limit."""
    problems = []
    limit = settings.max_consecutive_days
    for person, own in _by_person(entries).items():
        by_day = defaultdict(list)
        for entry in own:
            by_day[entry.duty_date].append(entry)
        for run in _runs(sorted(by_day)):
            if len(run) <= limit:
                continue
            if window is not None and not (run[-1] >= window.first_day and run[0] < window.end_day):
                continue
            in_run = [entry for day in run for entry in by_day[day]]
            problems.append(
                Problem(
                    code="consecutive_days",
                    severity=WARN,
                    person=person,
                    start=min(entry.start for entry in in_run),
                    end=max(entry.end for entry in in_run),
                    params={
                        "days": len(run),
                        "maximum": limit,
                        "first_day": run[0],
                        "last_day": run[-1],
                    },
                    entries=tuple(entry.id for day in run[limit:] for entry in by_day[day]),
                )
            )
    return problems


def check_monthly_hours(
    entries: Iterable[Entry], settings: Settings, window: Window | None = None
) -> list[Problem]:
    """Warn: a person's hours in a calendar month go beyond the standard month plus the
    overtime cap (36 h by default)."""
    tz = window.tz if window is not None else SHANGHAI
    totals = monthly_minutes(entries, policy=settings.month_hours, tz=tz)
    cap = settings.standard_month_minutes + settings.overtime_cap_minutes
    months = window.months() if window is not None else None
    problems = []
    for (person, (year, month)), minutes in totals.items():
        if minutes <= cap or (months is not None and (year, month) not in months):
            continue
        first = date(year, month, 1)
        problems.append(
            Problem(
                code="monthly_hours",
                severity=WARN,
                person=person,
                start=local_midnight(first, tz),
                end=local_midnight(_next_month(first), tz),
                params={
                    "month": f"{year}-{month:02d}",
                    "minutes": minutes,
                    "overtime_minutes": minutes - settings.standard_month_minutes,
                    "cap_minutes": settings.overtime_cap_minutes,
                },
            )
        )
    return problems


def monthly_minutes(
    entries: Iterable[Entry], *, policy: str = "duty_date", tz: tzinfo = SHANGHAI
) -> dict[tuple[Hashable, tuple[int, int]], int]:
    """Minutes on duty per (person, (year, month)): each entry counted in its duty date's
    month ("duty_date"), or its time split at local midnight between months ("split")."""
    if policy not in MONTH_POLICIES:
        raise ValueError(f"unknown month policy {policy!r}")
    totals: dict[tuple[Hashable, tuple[int, int]], int] = defaultdict(int)
    for entry in entries:
        if policy == "duty_date":
            key = (entry.person, (entry.duty_date.year, entry.duty_date.month))
            totals[key] += _minutes(entry.worked)
            continue
        for start, end in entry.segments:
            # A segment lasts at most 24 h, so it crosses at most one month boundary.
            local = start.astimezone(tz).date()
            boundary = local_midnight(_next_month(local), tz)
            totals[(entry.person, (local.year, local.month))] += _minutes(
                min(end, boundary) - start
            )
            if end > boundary:
                after = _next_month(local)
                totals[(entry.person, (after.year, after.month))] += _minutes(end - boundary)
    return dict(totals)


def check_post_fit(
    entries: Iterable[Entry],
    posts: Iterable[Post] | Mapping[Hashable, Post],
    people: Iterable[Person] | Mapping[Hashable, Person],
    window: Window | None = None,
) -> list[Problem]:
    """Hard: the person's level does not fit the post (R4: a duty-manager post takes exactly
    a duty manager), or the person holds no qualification for the post on that day."""
    posts, people = _index(posts), _index(people)
    problems = []
    for entry in entries:
        if not _in(window, entry):
            continue
        person, post = people[entry.person], posts[entry.post]
        common = {
            "person": entry.person,
            "post": entry.post,
            "start": entry.start,
            "end": entry.end,
            "entries": (entry.id,),
        }
        if not level_fits(person.level, post.required_level):
            params = {"level": person.level, "required": post.required_level}
            problems.append(Problem(code="level", severity=HARD, params=params, **common))
        if post.needs_qualification and not person.qualified_for(post.id, entry.duty_date):
            params = {"day": entry.duty_date}
            problems.append(Problem(code="qualification", severity=HARD, params=params, **common))
    return problems


def level_fits(level: str, required: str) -> bool:
    """R4: exactly the level for a duty-manager post, that level or above elsewhere."""
    if required in EXACT_LEVELS:
        return level == required
    return LEVELS.index(level) >= LEVELS.index(required)


def fits(person: Person, post: Post, day: date) -> bool:
    """The person may stand at the post on `day`: level and qualification."""
    return level_fits(person.level, post.required_level) and (
        not post.needs_qualification or person.qualified_for(post.id, day)
    )


def check_leave(
    entries: Iterable[Entry], leave: Iterable[Leave], window: Window | None = None
) -> list[Problem]:
    """Hard: an entry during the person's approved leave."""
    away = _leave_by_person(leave)
    problems = []
    for entry in entries:
        if entry.person not in away or not _in(window, entry):
            continue
        pieces = [
            piece for segment in entry.segments for piece in _intersect(segment, away[entry.person])
        ]
        if pieces:
            problems.append(
                Problem(
                    code="leave",
                    severity=HARD,
                    person=entry.person,
                    post=entry.post,
                    start=pieces[0][0],
                    end=pieces[-1][1],
                    entries=(entry.id,),
                )
            )
    return problems


def check_coverage(
    entries: Iterable[Entry],
    posts: Iterable[Post] | Mapping[Hashable, Post],
    people: Iterable[Person] | Mapping[Hashable, Person],
    leave: Iterable[Leave],
    window: Window,
) -> list[Problem]:
    """R5, hard: each never-unstaffed post is held by someone fit for it at every moment from
    a day before the window to a day after. Segments count, not a split shift's envelope;
    approved leave takes its time out. Each gap is listed with its start and end."""
    posts, people = _index(posts), _index(people)
    away = _leave_by_person(leave)
    span_start, span_end = window.coverage_span()
    held: dict[Hashable, list[Interval]] = defaultdict(list)
    for entry in entries:
        post = posts.get(entry.post)
        if post is None or not post.never_unstaffed:
            continue
        if not fits(people[entry.person], post, entry.duty_date):
            continue
        for start, end in entry.segments:
            start, end = max(start, span_start), min(end, span_end)
            if start < end:
                held[post.id].extend(subtract((start, end), away.get(entry.person, [])))
    problems = []
    for post in posts.values():
        if not post.never_unstaffed:
            continue
        for start, end in gaps(merge(held[post.id]), span_start, span_end):
            problems.append(
                Problem(code="coverage_gap", severity=HARD, post=post.id, start=start, end=end)
            )
    return problems


def merge(intervals: Iterable[tuple]) -> list[tuple]:
    """Sorted, disjoint intervals covering the same time; touching ones join (08:00–20:00
    and 20:00–08:00 cover the day without a gap)."""
    merged: list[list] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def gaps(merged: Iterable[tuple], start, end) -> list[tuple]:
    """The parts of [start, end) that the sorted, disjoint `merged` intervals leave open."""
    found, cursor = [], start
    for piece_start, piece_end in merged:
        if piece_start > cursor:
            found.append((cursor, min(piece_start, end)))
        cursor = max(cursor, piece_end)
        if cursor >= end:
            break
    if cursor < end:
        found.append((cursor, end))
    return [gap for gap in found if gap[0] < gap[1]]


def subtract(interval: tuple, holes: list[tuple]) -> list[tuple]:
    """`interval` minus the sorted, disjoint `holes`."""
    start, end = interval
    pieces, cursor = [], start
    for hole_start, hole_end in _intersect(interval, holes):
        if hole_start > cursor:
            pieces.append((cursor, hole_start))
        cursor = hole_end
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def _intersect(interval: tuple, merged: list[tuple]) -> list[tuple]:
    """The parts of `interval` inside the sorted, disjoint `merged`, in O(log n + k)."""
    start, end = interval
    # Intervals starting before `end` may intersect; walk back while they end after `start`.
    index = bisect_left(merged, (end,))
    pieces = []
    while index > 0 and merged[index - 1][1] > start:
        index -= 1
        pieces.append((max(start, merged[index][0]), min(end, merged[index][1])))
    return pieces[::-1]


def _leave_by_person(leave: Iterable[Leave]) -> dict[Hashable, list[Interval]]:
    spans = defaultdict(list)
    for item in leave:
        spans[item.person].append((item.start, item.end))
    return {person: merge(intervals) for person, intervals in spans.items()}


def _by_person(entries: Iterable[Entry]) -> dict[Hashable, list[Entry]]:
    grouped = defaultdict(list)
    for entry in entries:
        grouped[entry.person].append(entry)
    return grouped


def _runs(days: list[date]) -> Iterator[list[date]]:
    run: list[date] = []
    for day in days:
        if run and day - run[-1] != timedelta(days=1):
            yield run
            run = []
        run.append(day)
    if run:
        yield run


def _in(window: Window | None, *entries: Entry) -> bool:
    return window is None or any(entry.duty_date in window for entry in entries)


def _index(items) -> Mapping:
    return items if isinstance(items, Mapping) else {item.id: item for item in items}


def _minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _order(problem: Problem) -> tuple:
    return (
        problem.start,
        problem.end,
        problem.code,
        str(problem.person),
        str(problem.post),
        str(problem.entries),
    )


def describe(
    problem: Problem,
    tz: tzinfo = SHANGHAI,
    *,
    person_names: Mapping[Hashable, str] | None = None,
    post_names: Mapping[Hashable, str] | None = None,
) -> str:
    """The problem as a sentence in the person's language (needs the app's Babel)."""
    params = {
        "person": (person_names or {}).get(problem.person, str(problem.person)),
        "post": (post_names or {}).get(problem.post, str(problem.post)),
        "start": _when(problem.start, tz),
        "end": _when(problem.end, tz),
    }
    extra = problem.params
    if problem.code == "overlap" and problem.start == problem.end:
        return _(
            "%(person)s ends one shift and starts another at %(start)s; nobody can hand "
            "over to themself.",
            **params,
        )
    if problem.code == "overlap":
        return _("%(person)s has overlapping shifts from %(start)s to %(end)s.", **params)
    if problem.code == "rest":
        return _(
            "%(person)s rests only %(rest)s hours between shifts, from %(start)s to %(end)s; "
            "the minimum is %(minimum)s hours.",
            rest=_hours(extra["rest_minutes"]),
            minimum=_hours(extra["minimum_minutes"]),
            **params,
        )
    if problem.code == "consecutive_days":
        return _(
            "%(person)s is on duty %(days)d days in a row, %(first)s to %(last)s; the limit "
            "is %(maximum)d.",
            days=extra["days"],
            maximum=extra["maximum"],
            first=extra["first_day"].strftime("%m-%d"),
            last=extra["last_day"].strftime("%m-%d"),
            **params,
        )
    if problem.code == "monthly_hours":
        return _(
            "%(person)s works %(hours)s hours in %(month)s, %(overtime)s hours of overtime; "
            "the cap is %(cap)s hours.",
            hours=_hours(extra["minutes"]),
            month=extra["month"],
            overtime=_hours(extra["overtime_minutes"]),
            cap=_hours(extra["cap_minutes"]),
            **params,
        )
    if problem.code == "level":
        levels = {
            "level": LEVEL_TITLES[extra["level"]](),
            "required": LEVEL_TITLES[extra["required"]](),
        }
        if extra["required"] in EXACT_LEVELS:
            return _(
                "%(person)s (%(level)s) cannot take %(post)s, which takes exactly a %(required)s.",
                **levels,
                **params,
            )
        return _(
            "%(person)s (%(level)s) cannot take %(post)s, which needs %(required)s or above.",
            **levels,
            **params,
        )
    if problem.code == "qualification":
        return _(
            "%(person)s is not qualified for %(post)s on %(day)s.",
            day=extra["day"].strftime("%m-%d"),
            **params,
        )
    if problem.code == "leave":
        return _(
            "%(person)s is rostered at %(post)s from %(start)s to %(end)s, during approved leave.",
            **params,
        )
    if problem.code == "coverage_gap":
        return _("Nobody is on duty at %(post)s from %(start)s to %(end)s.", **params)
    raise ValueError(f"unknown problem code {problem.code!r}")


LEVEL_TITLES = {
    "staff": lambda: _("staff"),
    "leader": lambda: _("team leader"),
    "supervisor": lambda: _("supervisor"),
    "duty_manager": lambda: _("duty manager"),
    "manager": lambda: _("manager"),
}


def _when(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%m-%d %H:%M")


def _hours(minutes: int) -> str:
    return str(minutes // 60) if minutes % 60 == 0 else f"{minutes / 60:.1f}"
