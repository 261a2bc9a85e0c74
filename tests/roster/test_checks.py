"""The roster's rule checks (d-6) as pure functions: overlap and rest (e-6 1), consecutive
days and monthly hours (e-6 2), level and qualification (R4), approved leave, and R5
coverage across month boundaries and split shifts (e-2 3–4, e-5 1–2, the property test
against a minute-by-minute oracle)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import has_app_context
from hypothesis import given, settings
from hypothesis import strategies as st

from dutypwa.roster.checks import (
    HARD,
    LEVELS,
    WARN,
    Entry,
    Leave,
    Person,
    Post,
    Qualification,
    Scope,
    Settings,
    Window,
    check_consecutive_days,
    check_coverage,
    check_leave,
    check_monthly_hours,
    check_overlap,
    check_post_fit,
    check_rest,
    check_roster,
    describe,
    gaps,
    merge,
    monthly_minutes,
    recheck,
)
from dutypwa.roster.times import SHANGHAI, local_midnight, parse_segments

DESK = Post("desk", never_unstaffed=True)  # 客户服务中心: never unstaffed (R5)
GATE = Post("gate")
DUTY_MANAGER = Post("duty_manager", required_level="duty_manager")
POSTS = {post.id: post for post in (DESK, GATE, DUTY_MANAGER)}
FEBRUARY = Window.month(2026, 2)


def person(id, level="staff", posts=("desk", "gate")) -> Person:
    return Person(id, level, tuple(Qualification(post) for post in posts))


def entry(id, who, day: date, text: str, post="desk") -> Entry:
    return Entry.of(id, who, post, day, parse_segments(text))


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall time in 2026, as the UTC moment the checks report."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def day_and_night(first: date, last: date, skip=()) -> list[Entry]:
    """The desk held round the clock: 甲 08:00–20:00 and 乙 20:00–08:00 every day."""
    entries, day = [], first
    while day <= last:
        for who, text in (("甲", "08:00–20:00"), ("乙", "20:00–08:00")):
            if (who, day) not in skip:
                entries.append(entry(f"{who}{day}", who, day, text))
        day += timedelta(days=1)
    return entries


PEOPLE = {who: person(who) for who in ("甲", "乙", "丙")}


def spans(problems, code="coverage_gap"):
    return [(p.start, p.end) for p in problems if p.code == code]


# e-5 1: interval merge


def test_r5_touching_intervals_merge_and_cover():
    """R5: 08:00–20:00 plus 20:00–08:00 is one covered stretch; a minute apart is a gap."""
    assert merge([(1200, 1920), (480, 1200)]) == [(480, 1920)]
    assert gaps(merge([(480, 1200), (1200, 1920)]), 480, 1920) == []
    assert merge([(480, 1199), (1200, 1920)]) == [(480, 1199), (1200, 1920)]
    assert gaps(merge([(480, 1199), (1200, 1920)]), 480, 1920) == [(1199, 1200)]
    assert merge([(0, 10), (2, 5), (8, 20), (30, 40)]) == [(0, 20), (30, 40)]
    assert gaps([(0, 20), (30, 40)], -5, 50) == [(-5, 0), (20, 30), (40, 50)]


def test_r5_day_and_night_cover_the_month_and_a_day_either_side():
    """R5: nothing to report when the desk is held without a break."""
    entries = day_and_night(date(2026, 1, 30), date(2026, 3, 1))
    assert check_coverage(entries, POSTS, PEOPLE, [], FEBRUARY) == []


def test_r5_a_one_minute_gap_is_listed_with_its_times():
    entries = day_and_night(date(2026, 1, 30), date(2026, 3, 1), skip={("甲", date(2026, 2, 10))})
    entries.append(entry("short", "甲", date(2026, 2, 10), "08:00–19:59"))
    problems = check_coverage(entries, POSTS, PEOPLE, [], FEBRUARY)
    assert [(p.code, p.severity, p.post) for p in problems] == [("coverage_gap", HARD, "desk")]
    assert spans(problems) == [(at(2, 10, 19, 59), at(2, 10, 20))]


def test_e2_4_r5_split_shift_counts_its_segments_not_its_envelope():
    """e-2 4, R5: 08:00–12:00 + 17:00–21:00 leaves 12:00–17:00 open."""
    entries = day_and_night(date(2026, 1, 30), date(2026, 3, 1), skip={("甲", date(2026, 2, 16))})
    entries.append(entry("split", "丙", date(2026, 2, 16), "08:00–12:00 + 17:00–21:00"))
    problems = check_coverage(entries, POSTS, PEOPLE, [], FEBRUARY)
    assert spans(problems) == [(at(2, 16, 12), at(2, 16, 17))]


def test_e2_4_gap_inside_a_split_shift_is_not_rest():
    """e-2 4: rest runs from the split shift's last segment, not from its midday break."""
    split = entry("split", "丙", date(2026, 2, 16), "08:00–12:00 + 17:00–21:00")
    assert check_rest([split], Settings(min_rest_minutes=11 * 60)) == []
    early = entry("early", "丙", date(2026, 2, 17), "06:00–14:00")
    (problem,) = check_rest([early, split], Settings(min_rest_minutes=11 * 60))
    assert problem.params == {"rest_minutes": 9 * 60, "minimum_minutes": 11 * 60}
    assert (problem.start, problem.end) == (at(2, 16, 21), at(2, 17, 6))
    assert problem.entries == ("split", "early")


# e-2 3: month boundaries


def test_e2_3_night_of_31_january_belongs_to_january_and_covers_1_february():
    """e-2 3: the 01-31 night is a January entry, yet February's R5 check counts its hours
    after midnight; without it February lists the gap across the boundary."""
    entries = day_and_night(date(2026, 1, 30), date(2026, 3, 1))
    (night,) = [e for e in entries if e.id == f"乙{date(2026, 1, 31)}"]
    assert night.duty_date == date(2026, 1, 31) and night.duty_date not in FEBRUARY
    assert night.duty_date in Window.month(2026, 1)
    assert check_coverage(entries, POSTS, PEOPLE, [], FEBRUARY) == []

    without = [e for e in entries if e is not night]
    problems = check_coverage(without, POSTS, PEOPLE, [], FEBRUARY)
    assert spans(problems) == [(at(1, 31, 20), at(2, 1, 8))]


def test_e2_3_month_hours_attribute_to_the_duty_date_or_split_at_midnight():
    night = entry("night", "乙", date(2026, 1, 31), "20:00–08:00")
    assert monthly_minutes([night]) == {("乙", (2026, 1)): 720}
    assert monthly_minutes([night], policy="duty_date") == {("乙", (2026, 1)): 720}
    assert monthly_minutes([night], policy="split") == {
        ("乙", (2026, 1)): 240,
        ("乙", (2026, 2)): 480,
    }
    with pytest.raises(ValueError):
        monthly_minutes([night], policy="calendar")


def test_e2_3_problems_of_entries_outside_the_window_belong_to_their_month():
    january = [
        entry("a", "甲", date(2026, 1, 20), "08:00–20:00"),
        entry("b", "甲", date(2026, 1, 20), "19:00–23:00"),
    ]
    assert check_overlap(january, FEBRUARY) == []
    assert [p.code for p in check_overlap(january, Window.month(2026, 1))] == ["overlap"]


# e-6 1: overlap and rest


def test_e6_1_day_then_night_the_same_evening_is_an_overlap():
    """e-6 1: 08:00–20:00, then the night from 20:00 the same day: one person would be on
    both sides of the 20:00 handover (H1, H8) — hard."""
    day = entry("day", "甲", date(2026, 2, 16), "08:00–20:00")
    night = entry("night", "甲", date(2026, 2, 16), "20:00–08:00", post="gate")
    (problem,) = check_overlap([night, day])
    assert (problem.code, problem.severity, problem.person) == ("overlap", HARD, "甲")
    assert (problem.start, problem.end) == (at(2, 16, 20), at(2, 16, 20))
    assert problem.entries == ("day", "night")
    # Touching is not rest either: no rest finding on top.
    assert check_rest([day, night], Settings()) == []


def test_e6_1_overlapping_times_report_the_shared_stretch_per_pair():
    """R2's 09:00–21:00 and 20:00–09:00 overlap for one hour; a third entry inside both
    is reported with each of them."""
    day = entry("day", "甲", date(2026, 2, 16), "09:00–21:00")
    night = entry("night", "甲", date(2026, 2, 16), "20:00–09:00", post="gate")
    inner = entry("inner", "甲", date(2026, 2, 16), "20:30–20:45", post="duty_manager")
    problems = check_overlap([day, night, inner])
    found = {p.entries: (p.start, p.end) for p in problems}
    assert found == {
        ("day", "night"): (at(2, 16, 20), at(2, 16, 21)),
        ("day", "inner"): (at(2, 16, 20, 30), at(2, 16, 20, 45)),
        ("night", "inner"): (at(2, 16, 20, 30), at(2, 16, 20, 45)),
    }
    # Other people's entries never overlap with this person's.
    other = entry("other", "乙", date(2026, 2, 16), "20:00–08:00")
    assert len(check_overlap([day, night, inner, other])) == 3


def test_e6_1_eight_hours_after_a_night_warns_under_an_eleven_hour_rule():
    """e-6 1: the night ends at 08:00, the next shift starts 16:00: 8 h of rest."""
    night = entry("night", "乙", date(2026, 2, 16), "20:00–08:00")
    late = entry("late", "乙", date(2026, 2, 17), "16:00–23:30")
    (problem,) = check_rest([late, night], Settings(min_rest_minutes=11 * 60))
    assert (problem.code, problem.severity) == ("rest", WARN)
    assert problem.params == {"rest_minutes": 480, "minimum_minutes": 660}
    assert (problem.start, problem.end) == (at(2, 17, 8), at(2, 17, 16))
    assert check_rest([late, night], Settings(min_rest_minutes=8 * 60)) == []
    (hard,) = check_rest([late, night], Settings(rest_severity=HARD))
    assert hard.severity == HARD


def test_rest_after_a_24_hour_shift_follows_the_long_shift_rule():
    """做一休二: after a 24 h 通班 the site wants 48 h off."""
    through = entry("through", "丙", date(2026, 2, 16), "08:00–08:00")
    next_day = entry("next", "丙", date(2026, 2, 18), "08:00–20:00")
    rules = Settings(min_rest_minutes=12 * 60, rest_after_long_minutes=48 * 60)
    (problem,) = check_rest([through, next_day], rules)
    assert problem.params == {"rest_minutes": 24 * 60, "minimum_minutes": 48 * 60}
    assert check_rest([through, next_day], Settings(min_rest_minutes=12 * 60)) == []


def test_rest_is_measured_from_the_latest_end_before():
    """A short entry inside a long one does not shorten the rest after the long one."""
    long = entry("long", "甲", date(2026, 2, 16), "08:00–20:00")
    inside = entry("inside", "甲", date(2026, 2, 16), "09:00–10:00", post="gate")
    after = entry("after", "甲", date(2026, 2, 17), "09:00–20:00")
    (problem,) = check_rest([long, inside, after], Settings(min_rest_minutes=14 * 60))
    assert problem.entries == ("long", "after")
    assert problem.params["rest_minutes"] == 13 * 60


# e-6 2: consecutive days and monthly hours


def days_in_a_row(count: int, first=date(2026, 2, 2)) -> list[Entry]:
    return [
        entry(f"d{n}", "甲", first + timedelta(days=n), "08:00–16:00", post="gate")
        for n in range(count)
    ]


def test_e6_2_a_seventh_day_in_a_row_warns():
    """e-6 2: six days in a row are within the default limit; the seventh warns and
    names its entry."""
    assert check_consecutive_days(days_in_a_row(6), Settings(), FEBRUARY) == []
    (problem,) = check_consecutive_days(days_in_a_row(7), Settings(), FEBRUARY)
    assert (problem.code, problem.severity) == ("consecutive_days", WARN)
    assert problem.params == {
        "days": 7,
        "maximum": 6,
        "first_day": date(2026, 2, 2),
        "last_day": date(2026, 2, 8),
    }
    assert problem.entries == ("d6",)
    assert check_consecutive_days(days_in_a_row(7), Settings(max_consecutive_days=7)) == []


def test_consecutive_days_count_across_the_month_boundary_and_not_gaps():
    run = days_in_a_row(7, first=date(2026, 1, 28))  # 01-28 … 02-03
    (problem,) = check_consecutive_days(run, Settings(), FEBRUARY)
    assert problem.params["first_day"] == date(2026, 1, 28)
    broken = [e for e in days_in_a_row(8) if e.id != "d3"]
    assert check_consecutive_days(broken, Settings(), FEBRUARY) == []
    # Two entries on one day are still one day.
    double = [*days_in_a_row(6), entry("extra", "甲", date(2026, 2, 7), "18:00–20:00")]
    assert check_consecutive_days(double, Settings(), FEBRUARY) == []


def test_e6_2_monthly_overtime_warns_past_the_configured_cap():
    """e-6 2: the standard month plus the overtime cap may be worked; a minute more warns."""
    rules = Settings(standard_month_minutes=10 * 60, overtime_cap_minutes=2 * 60)
    at_cap = [entry("a", "甲", date(2026, 2, 3), "08:00–20:00", post="gate")]
    assert check_monthly_hours(at_cap, rules, FEBRUARY) == []
    over = [*at_cap, entry("b", "甲", date(2026, 2, 5), "08:00–08:01", post="gate")]
    (problem,) = check_monthly_hours(over, rules, FEBRUARY)
    assert (problem.code, problem.severity, problem.person) == ("monthly_hours", WARN, "甲")
    assert problem.params == {
        "month": "2026-02",
        "minutes": 12 * 60 + 1,
        "overtime_minutes": 2 * 60 + 1,
        "cap_minutes": 2 * 60,
    }
    assert (problem.start, problem.end) == (at(2, 1, 0), at(3, 1, 0))
    assert check_monthly_hours(over, rules, Window.month(2026, 3)) == []


def test_default_monthly_cap_is_the_standard_month_plus_36_hours():
    nights = [entry(f"n{d}", "乙", date(2026, 2, d), "20:00–08:00") for d in range(1, 19)]
    assert check_monthly_hours(nights[:17], Settings(), FEBRUARY) == []  # 204 h ≤ 210 h
    (problem,) = check_monthly_hours(nights, Settings(), FEBRUARY)  # 216 h
    assert problem.params["overtime_minutes"] == (216 - 174) * 60


# R4: level and qualification


@pytest.mark.parametrize(
    ("level", "fits"),
    [("staff", False), ("supervisor", False), ("duty_manager", True), ("manager", False)],
)
def test_r4_duty_manager_post_takes_exactly_a_duty_manager(level, fits):
    who = person("丁", level, posts=("duty_manager",))
    duty = entry("e", "丁", date(2026, 2, 16), "18:00–21:00", post="duty_manager")
    problems = check_post_fit([duty], POSTS, [who])
    assert [p.code for p in problems] == ([] if fits else ["level"])
    if not fits:
        assert problems[0].severity == HARD
        assert problems[0].params == {"level": level, "required": "duty_manager"}


@pytest.mark.parametrize(("level", "fits"), [("staff", False), ("leader", True), ("manager", True)])
def test_other_posts_take_their_level_or_above(level, fits):
    control = Post("control", required_level="leader")
    who = person("丁", level, posts=("control",))
    duty = entry("e", "丁", date(2026, 2, 16), "08:00–20:00", post="control")
    assert bool(check_post_fit([duty], [control], [who])) is not fits


def test_qualification_counts_only_while_valid():
    who = Person("丁", "staff", (Qualification("desk", date(2026, 2, 1), date(2026, 2, 15)),))
    inside = entry("in", "丁", date(2026, 2, 15), "08:00–20:00")
    after = entry("after", "丁", date(2026, 2, 16), "08:00–20:00")
    elsewhere = entry("gate", "丁", date(2026, 2, 10), "08:00–20:00", post="gate")
    problems = check_post_fit([inside, after, elsewhere], POSTS, [who])
    assert [(p.code, p.entries, p.severity) for p in problems] == [
        ("qualification", ("after",), HARD),
        ("qualification", ("gate",), HARD),
    ]
    assert problems[0].params == {"day": date(2026, 2, 16)}
    open_post = Post("lobby", needs_qualification=False)
    lobby = entry("lobby", "丁", date(2026, 2, 16), "08:00–20:00", post="lobby")
    assert check_post_fit([lobby], [open_post], [who]) == []


def test_r5_only_fit_people_cover_a_never_unstaffed_post():
    """R5 counts qualified entries: an unqualified stand-in leaves the gap open."""
    entries = day_and_night(date(2026, 1, 30), date(2026, 3, 1), skip={("甲", date(2026, 2, 9))})
    entries.append(entry("stand-in", "新", date(2026, 2, 9), "08:00–20:00"))
    people = {**PEOPLE, "新": Person("新", "staff")}
    problems = check_coverage(entries, POSTS, people, [], FEBRUARY)
    assert spans(problems) == [(at(2, 9, 8), at(2, 9, 20))]


# Approved leave


def test_entry_during_approved_leave_is_hard():
    shift = entry("night", "乙", date(2026, 2, 16), "20:00–08:00")
    leave = [Leave("乙", at(2, 17, 0), at(2, 18, 0)), Leave("甲", at(2, 16, 0), at(2, 18, 0))]
    (problem,) = check_leave([shift], leave)
    assert (problem.code, problem.severity, problem.person, problem.post) == (
        "leave",
        HARD,
        "乙",
        "desk",
    )
    assert (problem.start, problem.end) == (at(2, 17, 0), at(2, 17, 8))
    # Leave that ends as the shift starts does not touch it.
    assert check_leave([shift], [Leave("乙", at(2, 16, 8), at(2, 16, 20))]) == []


def test_r5_approved_leave_takes_its_hours_out_of_coverage():
    """R5 (e-5 3 without the database): leave of the only person on the 02-16 night leaves
    that stretch of the desk open, with its times."""
    entries = day_and_night(date(2026, 1, 30), date(2026, 3, 1))
    leave = [Leave("乙", at(2, 16, 22), at(2, 17, 2))]
    problems = check_coverage(entries, POSTS, PEOPLE, leave, FEBRUARY)
    assert spans(problems) == [(at(2, 16, 22), at(2, 17, 2))]
    # Someone else on the desk at the same time closes the gap again.
    cover = entry("cover", "丙", date(2026, 2, 16), "21:00–03:00")
    assert check_coverage([*entries, cover], POSTS, PEOPLE, leave, FEBRUARY) == []


# check_roster, scope and recheck


def month_of_roster() -> list[Entry]:
    """February for the desk and the gate: two people day and night on each."""
    entries = day_and_night(date(2026, 1, 24), date(2026, 3, 1))
    day = date(2026, 1, 24)
    while day <= date(2026, 3, 1):
        entries.append(entry(f"gate{day}", "丙", day, "08:00–20:00", post="gate"))
        day += timedelta(days=1)
    return entries


def test_check_roster_runs_every_check_without_an_app():
    assert not has_app_context()
    entries = month_of_roster()
    entries.append(entry("extra", "甲", date(2026, 2, 16), "20:00–22:00", post="gate"))
    leave = [Leave("丙", at(2, 20, 0), at(2, 21, 0))]
    problems = check_roster(entries, POSTS.values(), PEOPLE.values(), leave, Settings(), FEBRUARY)
    codes = {p.code for p in problems}
    assert codes == {"overlap", "rest", "consecutive_days", "monthly_hours", "leave"}
    assert [p.start for p in problems] == sorted(p.start for p in problems)


def test_recheck_of_one_cell_equals_a_full_check():
    entries = month_of_roster()
    people, leave = PEOPLE, [Leave("乙", at(2, 3, 0), at(2, 3, 4))]
    before = check_roster(entries, POSTS, people, leave, Settings(), FEBRUARY)
    # The supervisor moves 甲's 02-10 day from the desk to the gate.
    old = next(e for e in entries if e.id == f"甲{date(2026, 2, 10)}")
    new = entry(old.id, "甲", old.duty_date, "08:00–20:00", post="gate")
    after_entries = [new if e is old else e for e in entries]
    after = recheck(
        before, Scope.of(old, new), after_entries, POSTS, people, leave, Settings(), FEBRUARY
    )
    assert after == check_roster(after_entries, POSTS, people, leave, Settings(), FEBRUARY)
    assert spans(before) == [(at(2, 3, 0), at(2, 3, 4))]  # 乙's leave
    assert spans(after) == [(at(2, 3, 0), at(2, 3, 4)), (at(2, 10, 8), at(2, 10, 20))]


def test_entries_reject_segments_out_of_order():
    segments = ((at(2, 16, 12), at(2, 16, 14)), (at(2, 16, 8), at(2, 16, 10)))
    with pytest.raises(ValueError):
        Entry("e", "甲", "desk", date(2026, 2, 16), segments)
    with pytest.raises(ValueError):
        Entry("e", "甲", "desk", date(2026, 2, 16), ())


# e-5 2: the property test against a minute-by-minute oracle

WINDOW = Window(date(2026, 2, 27), date(2026, 3, 2))  # three days across a month boundary
SPAN_START, SPAN_END = WINDOW.coverage_span()
SPAN_MINUTES = int((SPAN_END - SPAN_START).total_seconds() // 60)
PROPERTY_POSTS = {
    "desk": Post("desk", never_unstaffed=True),
    "control": Post("control", required_level="supervisor", never_unstaffed=True),
    "gate": Post("gate"),
}
TEMPLATES = ["08:00–20:00", "20:00–08:00", "08:00–08:00", "08:00–12:00 + 17:00–21:00"]


@st.composite
def segments(draw):
    if draw(st.booleans()):
        return parse_segments(draw(st.sampled_from(TEMPLATES)))
    start = draw(st.integers(0, 1439))
    end = draw(st.integers(start + 1, start + 1440))
    return ((start, end),)


@st.composite
def rosters(draw):
    people = {}
    for who in ("甲", "乙", "丙", "丁"):
        level = draw(st.sampled_from(LEVELS))
        posts = draw(st.sets(st.sampled_from(sorted(PROPERTY_POSTS)), max_size=3))
        people[who] = Person(who, level, tuple(Qualification(post) for post in sorted(posts)))
    entries = []
    for number in range(draw(st.integers(0, 12))):
        day = WINDOW.first_day + timedelta(days=draw(st.integers(-3, 3)))
        entries.append(
            Entry.of(
                number,
                draw(st.sampled_from(sorted(people))),
                draw(st.sampled_from(sorted(PROPERTY_POSTS))),
                day,
                draw(segments()),
            )
        )
    leave = []
    for _ in range(draw(st.integers(0, 3))):
        start = SPAN_START + timedelta(minutes=draw(st.integers(-600, SPAN_MINUTES)))
        length = timedelta(minutes=draw(st.integers(1, 2000)))
        leave.append(Leave(draw(st.sampled_from(sorted(people))), start, start + length))
    return entries, people, leave


def oracle_gaps(entries, people, leave) -> list[tuple]:
    """Minute by minute over the month window plus a day each side: a minute is held when
    an entry's segment at the post contains it, the person fits the post that day, and the
    person is not on leave."""

    def minute(moment: datetime) -> int:
        return int((moment - SPAN_START).total_seconds() // 60)

    def fits(who: Person, post: Post, day: date) -> bool:
        rank = LEVELS.index
        if post.required_level == "duty_manager":
            level_ok = who.level == "duty_manager"
        else:
            level_ok = rank(who.level) >= rank(post.required_level)
        return level_ok and any(q.post == post.id for q in who.qualifications)

    away = {who: bytearray(SPAN_MINUTES) for who in people}
    for item in leave:
        for m in range(max(0, minute(item.start)), min(SPAN_MINUTES, minute(item.end))):
            away[item.person][m] = 1
    found = []
    for post in PROPERTY_POSTS.values():
        if not post.never_unstaffed:
            continue
        held = bytearray(SPAN_MINUTES)
        for e in entries:
            if e.post != post.id or not fits(people[e.person], post, e.duty_date):
                continue
            for start, end in e.segments:
                for m in range(max(0, minute(start)), min(SPAN_MINUTES, minute(end))):
                    if not away[e.person][m]:
                        held[m] = 1
        m = 0
        while m < SPAN_MINUTES:
            if held[m]:
                m += 1
                continue
            first = m
            while m < SPAN_MINUTES and not held[m]:
                m += 1
            found.append(
                (post.id, SPAN_START + timedelta(minutes=first), SPAN_START + timedelta(minutes=m))
            )
    return sorted(found, key=lambda gap: (gap[0], gap[1]))


@settings(max_examples=200, deadline=None)
@given(rosters())
def test_e5_2_r5_coverage_equals_a_minute_by_minute_oracle(roster):
    """e-5 2, R5: random rosters and leave; the listed gaps are exactly the unheld minutes."""
    entries, people, leave = roster
    problems = check_coverage(entries, PROPERTY_POSTS, people, leave, WINDOW)
    assert all(p.severity == HARD for p in problems)
    listed = sorted(((p.post, p.start, p.end) for p in problems), key=lambda gap: (gap[0], gap[1]))
    assert listed == oracle_gaps(entries, people, leave)


@settings(max_examples=100, deadline=None)
@given(rosters(), st.data())
def test_recheck_after_any_edit_equals_a_full_check(roster, data):
    """The editor's one-cell recheck gives what a full check gives, whatever the edit."""
    entries, people, leave = roster
    rules = Settings(max_consecutive_days=2, standard_month_minutes=600, overtime_cap_minutes=0)
    before = check_roster(entries, PROPERTY_POSTS, people, leave, rules, WINDOW)
    new = Entry.of(
        "new",
        data.draw(st.sampled_from(sorted(people))),
        data.draw(st.sampled_from(sorted(PROPERTY_POSTS))),
        WINDOW.first_day + timedelta(days=data.draw(st.integers(-2, 2))),
        data.draw(segments()),
    )
    if entries and data.draw(st.booleans()):
        old = entries[data.draw(st.integers(0, len(entries) - 1))]
        after_entries, scope = [new if e is old else e for e in entries], Scope.of(old, new)
    else:
        after_entries, scope = [*entries, new], Scope.of(new)
    after = recheck(before, scope, after_entries, PROPERTY_POSTS, people, leave, rules, WINDOW)
    assert after == check_roster(after_entries, PROPERTY_POSTS, people, leave, rules, WINDOW)


# Words for people


def test_every_problem_reads_as_a_sentence_with_names_and_local_times(app):
    entries = month_of_roster()
    entries += [
        entry("extra", "甲", date(2026, 2, 16), "20:00–22:00", post="gate"),
        entry("late", "乙", date(2026, 2, 21), "19:00–23:00", post="gate"),
        entry("dm", "丙", date(2026, 2, 22), "18:00–21:00", post="duty_manager"),
    ]
    leave = [Leave("丙", at(2, 20, 0), at(2, 21, 0))]
    entries = [e for e in entries if e.id != f"甲{date(2026, 2, 12)}"]
    rules = Settings(rest_severity=HARD)
    problems = check_roster(entries, POSTS, PEOPLE, leave, rules, FEBRUARY)
    assert {p.code for p in problems} == {
        "overlap", "rest", "consecutive_days", "monthly_hours", "level", "qualification",
        "leave", "coverage_gap",
    }  # fmt: skip
    names = {"甲": "张伟", "乙": "刘芳", "丙": "李娜"}
    post_names = {"desk": "客户服务中心", "gate": "东门岗", "duty_manager": "值班经理"}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        sentences = {}
        for problem in problems:
            sentence = describe(problem, SHANGHAI, person_names=names, post_names=post_names)
            sentences.setdefault(problem.code, []).append(sentence)
    assert not [s for found in sentences.values() for s in found if "%(" in s]
    assert sentences["coverage_gap"] == [
        "Nobody is on duty at 客户服务中心 from 02-12 08:00 to 02-12 20:00."
    ]
    assert (
        "张伟 ends one shift and starts another at 02-16 20:00; nobody can hand over to themself."
        in sentences["overlap"]
    )
    assert "刘芳 has overlapping shifts from 02-21 20:00 to 02-21 23:00." in sentences["overlap"]
    assert sentences["rest"] == [
        "张伟 rests only 10 hours between shifts, from 02-16 22:00 to 02-17 08:00; the minimum "
        "is 11 hours."
    ]
    assert sentences["level"] == [
        "李娜 (staff) cannot take 值班经理, which takes exactly a duty manager."
    ]
    assert sentences["qualification"] == ["李娜 is not qualified for 值班经理 on 02-22."]
    assert sentences["leave"] == [
        "李娜 is rostered at 东门岗 from 02-20 08:00 to 02-20 20:00, during approved leave."
    ]
    assert (
        "张伟 works 326 hours in 2026-02, 152 hours of overtime; the cap is 36 hours."
        in sentences["monthly_hours"]
    )
    assert (
        "张伟 is on duty 19 days in a row, 01-24 to 02-11; the limit is 6."
        in sentences["consecutive_days"]
    )


def test_r5_gap_times_are_utc_moments():
    (problem,) = check_coverage(
        day_and_night(date(2026, 1, 30), date(2026, 3, 1), skip={("乙", date(2026, 2, 28))}),
        POSTS,
        PEOPLE,
        [],
        FEBRUARY,
    )
    assert problem.start == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert problem.end == local_midnight(date(2026, 3, 1)) + timedelta(hours=8)
