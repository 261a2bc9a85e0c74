"""Shift times (R2): a template's segments are minutes from the duty date's midnight, so
20:00–08:00 is 1200–1920 and a 24 h 通班 is 480–1920 (end ≤ 2880, the Lark "26:00"
convention). A shift belongs to the date it starts on; its real start and end are UTC
moments, and an event is matched to an entry by time, never by calendar date.
"""

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = 1440
# A shift ends by the end of the day after its duty date.
LAST_END = 2 * DAY

Segment = tuple[int, int]

SEPARATOR = re.compile(r"\s*[+,，、;；\n]\s*")
# "08:00-20:00", "20:00–08:00", "8:30 ~ 16:30", "20：00至08：00"; hours up to 48 so that
# a later segment can say "25:00" (the next day's 01:00).
SPAN = re.compile(r"(\d{1,2})[:：](\d{2})\s*[-–—~～至到]\s*(\d{1,2})[:：](\d{2})")


class SegmentError(ValueError):
    """Segment text that cannot be a shift; `message()` says why, in the person's language."""

    def __init__(self, code: str, **params: str):
        super().__init__(code, params)
        self.code = code
        self.params = params

    def message(self) -> str:
        return SEGMENT_ERRORS[self.code]() % self.params


SEGMENT_ERRORS = {
    "empty": lambda: _("Enter the shift's times, for example 08:00–20:00."),
    "format": lambda: _('"%(text)s" is not a time span such as 20:00–08:00.'),
    "first_day": lambda: _("The shift must start on its duty date, before 24:00."),
    "order": lambda: _(
        "%(first)s and %(second)s overlap or are out of order; list the segments in time "
        "order, writing the next day's 01:00 as 25:00."
    ),
    "too_long": lambda: _("%(text)s is longer than 24 hours."),
    "too_late": lambda: _("%(text)s ends after the end of the next day."),
}


def parse_segments(text: str) -> tuple[Segment, ...]:
    """Segment text as minutes: 08:00–12:00 + 17:00–21:00 → ((480, 720), (1020, 1260)).

    An end at or before its start is on the next day (20:00–08:00 → 1200–1920, 08:00–08:00
    → 480–1920). A later segment starts on the day the one before it ended, so
    "20:00–02:00 + 04:00–06:00" is one night; "25:00" says the next day explicitly.
    """
    pieces = [piece for piece in SEPARATOR.split(text.strip()) if piece]
    if not pieces:
        raise SegmentError("empty")
    segments: list[Segment] = []
    for piece in pieces:
        match = SPAN.fullmatch(piece)
        if not match:
            raise SegmentError("format", text=piece)
        start_hour, start_minute, end_hour, end_minute = map(int, match.groups())
        if start_minute > 59 or end_minute > 59:
            raise SegmentError("format", text=piece)
        start = start_hour * 60 + start_minute
        end = end_hour * 60 + end_minute
        if segments and start < DAY:
            start += DAY * (segments[-1][1] // DAY)
        while end <= start:
            end += DAY
        if not segments and start >= DAY:
            raise SegmentError("first_day")
        if segments and start < segments[-1][1]:
            raise SegmentError("order", first=format_segments(segments[-1:]), second=piece.strip())
        if end - start > DAY:
            raise SegmentError("too_long", text=piece.strip())
        if end > LAST_END:
            raise SegmentError("too_late", text=piece.strip())
        segments.append((start, end))
    return tuple(segments)


def format_segments(segments: Sequence[Segment]) -> str:
    """The text `parse_segments` reads back to the same segments: "20:00–08:00"."""
    parts = []
    previous_end = 0
    for start, end in segments:
        # Only a segment that starts on a later day than the one before it ended needs
        # the explicit "25:00" form; otherwise the clock time reads back the same.
        hours_in_day = 24 if start // DAY == previous_end // DAY else 48
        parts.append(f"{_clock(start, hours_in_day)}–{_clock(end, hours_in_day)}")
        previous_end = end
    return " + ".join(parts)


def _clock(minutes: int, hours_in_day: int = 24) -> str:
    hours, minute = divmod(minutes, 60)
    return f"{hours % hours_in_day:02d}:{minute:02d}"


def local_midnight(day: date, tz: tzinfo = SHANGHAI) -> datetime:
    """The start of `day` in `tz`, as a UTC moment."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def segment_times(
    segments: Iterable[Segment], duty_date: date, tz: tzinfo = SHANGHAI
) -> tuple[tuple[datetime, datetime], ...]:
    """The real [start, end) of each segment on `duty_date`, in UTC. Minutes are wall-clock
    minutes of the site's zone (08:00 the next day is 08:00 even across a DST change)."""
    return tuple(
        (_moment(duty_date, start, tz), _moment(duty_date, end, tz)) for start, end in segments
    )


def _moment(duty_date: date, minutes: int, tz: tzinfo) -> datetime:
    days, minute_of_day = divmod(minutes, DAY)
    wall = datetime.combine(duty_date + timedelta(days=days), time(), tzinfo=tz)
    return (wall + timedelta(minutes=minute_of_day)).astimezone(UTC)


class Timed(Protocol):
    """Anything with a real start and end, such as a roster entry."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


T = TypeVar("T", bound=Timed)


def entry_for_event(
    entries: Iterable[T],
    moment: datetime,
    before: timedelta = timedelta(hours=2),
    after: timedelta = timedelta(hours=2),
    *,
    edge: str | None = None,
) -> T | None:
    """The entry an attendance or handover event at `moment` belongs to: one whose
    [start − before, end + after] contains it, the nearest if several do (a check-out at
    07:50 belongs to last night's 20:00–08:00, not to today's 14:00 shift: frappe #3298).

    `edge` says what the event is: "start" (arriving) measures the distance to each entry's
    start, "end" (leaving) to its end, so that between back-to-back shifts a check-out
    goes to the one ending; None measures the distance to the whole entry.
    """
    best, best_distance = None, None
    for entry in entries:
        if not entry.start - before <= moment <= entry.end + after:
            continue
        if edge == "start":
            distance = abs(moment - entry.start)
        elif edge == "end":
            distance = abs(moment - entry.end)
        else:
            distance = max(entry.start - moment, moment - entry.end, timedelta(0))
        if best_distance is None or distance < best_distance:
            best, best_distance = entry, distance
    return best
