"""Shift times (R2, design e-2): segment text as minutes from the duty date's midnight,
overnight and split shifts, real UTC times in Asia/Shanghai, and events mapped to entries
by time, not by calendar date (the frappe #3298 case)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dutypwa.roster.checks import Entry
from dutypwa.roster.times import (
    SHANGHAI,
    SegmentError,
    entry_for_event,
    format_segments,
    parse_segments,
    segment_times,
)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def shanghai(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("08:00–20:00", ((480, 1200),)),
        ("20:00–08:00", ((1200, 1920),)),
        ("20:00-08:00", ((1200, 1920),)),
        ("20：00至08：00", ((1200, 1920),)),
        ("08:00–08:00", ((480, 1920),)),  # a 24 h 通班
        ("18:00–08:20", ((1080, 1940),)),
        ("16:30–23:30", ((990, 1410),)),
        ("16:00–24:00", ((960, 1440),)),
        ("08:00–12:00 + 17:00–21:00", ((480, 720), (1020, 1260))),
        ("09:00–11:30, 14:00–17:00", ((540, 690), (840, 1020))),
        # A later segment starts on the day the one before it ended.
        ("20:00–02:00 + 04:00–06:00", ((1200, 1560), (1680, 1800))),
        ("20:00–23:00 + 25:00–29:00", ((1200, 1380), (1500, 1740))),
    ],
)
def test_r2_segment_text_becomes_minutes_from_the_duty_dates_midnight(text, segments):
    assert parse_segments(text) == segments


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        (" + ", "empty"),
        ("morning", "format"),
        ("8-20", "format"),
        ("08:60–09:00", "format"),
        ("08:00–12:00 + 10:00–14:00", "order"),  # overlapping
        ("17:00–21:00 + 08:00–12:00", "order"),  # out of order
        ("20:00–23:00 + 01:00–05:00", "order"),  # the next day's 01:00 is 25:00
        ("24:00–08:00", "first_day"),
        ("08:00–40:00", "too_long"),
        ("20:00–08:00 + 23:00–01:00", "too_late"),
    ],
)
def test_r2_invalid_segment_text_is_refused_with_a_reason(app, text, code):
    with pytest.raises(SegmentError) as refused:
        parse_segments(text)
    assert refused.value.code == code
    with app.test_request_context(headers={"Accept-Language": "en"}):
        message = refused.value.message()
    assert message and "%(" not in message
    for value in refused.value.params.values():
        assert value in message


def test_e2_1_night_shift_is_1200_to_1920_and_ends_the_next_morning():
    """e-2 1: 20:00–08:00 on 2026-02-16 in Shanghai (+8) is 12:00Z to 00:00Z the next day."""
    (segment,) = parse_segments("20:00–08:00")
    assert segment == (1200, 1920)
    assert segment_times([segment], date(2026, 2, 16)) == ((utc(2, 16, 12), utc(2, 17, 0)),)


def test_segment_times_follow_the_sites_zone():
    london = ZoneInfo("Europe/London")
    # 29 March 2026 is the spring-forward night in London: the wall clock's 08:00 the next
    # morning is 11 real hours after 20:00, and the stored end is that wall time.
    (night,) = segment_times(parse_segments("20:00–08:00"), date(2026, 3, 28), london)
    assert night == (utc(3, 28, 20), utc(3, 29, 7))
    assert night[1] - night[0] == timedelta(hours=11)


def test_split_shift_keeps_both_segments_with_their_real_times():
    segments = segment_times(parse_segments("08:00–12:00 + 17:00–21:00"), date(2026, 2, 16))
    assert segments == ((utc(2, 16, 0), utc(2, 16, 4)), (utc(2, 16, 9), utc(2, 16, 13)))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_formatted_segments_read_back_the_same(data):
    segments, previous_end = [], 0
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(previous_end, 1439 if not segments else 2879))
        end = data.draw(st.integers(start + 1, min(start + 1440, 2880)))
        segments.append((start, end))
        previous_end = end
        if end >= 2880:
            break
    assert parse_segments(format_segments(segments)) == tuple(segments)


def night_and_afternoon():
    """The frappe #3298 scenario: a night 20:00 02-16 → 08:00 02-17, then 14:00–20:00 02-17."""
    night = Entry.of("night", "p", "desk", date(2026, 2, 16), parse_segments("20:00–08:00"))
    afternoon = Entry.of("afternoon", "p", "desk", date(2026, 2, 17), parse_segments("14:00–20:00"))
    return night, afternoon


def test_e2_2_check_out_next_morning_maps_to_the_night_entry():
    """e-2 2: a check-out at 07:50 on 02-17 belongs to the 02-16 night, not to the entry
    of the 17th, and a check-in at 13:30 belongs to the afternoon."""
    night, afternoon = night_and_afternoon()
    assert entry_for_event([afternoon, night], shanghai(2, 17, 7, 50)) is night
    assert entry_for_event([night, afternoon], shanghai(2, 17, 13, 30)) is afternoon
    # A late check-out inside the 2-hour window still goes to the night.
    assert entry_for_event([night, afternoon], shanghai(2, 17, 9, 30)) is night


def test_event_outside_every_window_maps_to_nothing():
    night, afternoon = night_and_afternoon()
    assert entry_for_event([night, afternoon], shanghai(2, 17, 10, 30)) is None
    assert entry_for_event([night, afternoon], shanghai(2, 17, 11, 0), before=timedelta(0)) is None
    assert entry_for_event([], shanghai(2, 17, 11, 0)) is None


def test_event_between_back_to_back_shifts_maps_by_its_edge():
    """A 20:00–08:00 night, then 08:00–20:00 the same person: a check-out at 08:05 ends the
    night, a check-in at 07:55 starts the day."""
    night = Entry.of("night", "p", "desk", date(2026, 2, 16), parse_segments("20:00–08:00"))
    day = Entry.of("day", "p", "desk", date(2026, 2, 17), parse_segments("08:00–20:00"))
    assert entry_for_event([night, day], shanghai(2, 17, 8, 5), edge="end") is night
    assert entry_for_event([night, day], shanghai(2, 17, 7, 55), edge="start") is day
    # Without an edge the entry the moment falls in wins.
    assert entry_for_event([night, day], shanghai(2, 17, 8, 5)) is day
