"""Route windows, rounds and statuses, including windows that cross midnight."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dutypwa.models import Route, Site
from dutypwa.models.patrol import round_status

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026, Shanghai time (2026-11-23 is a Monday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def route(start, end, interval=120, weekdays="1234567") -> Route:
    site = Site(code="X", name="x", timezone="Asia/Shanghai")
    return Route(
        site=site,
        name="r",
        window_start=start,
        window_end=end,
        interval_minutes=interval,
        weekdays=weekdays,
    )


def test_night_window_crosses_midnight_and_belongs_to_its_start_day():
    night = route(time(20), time(6))
    run = night.run_on(date(2026, 11, 23))
    assert (run.start, run.end) == (at(23, 20), at(24, 6))
    assert [slot.start.hour for slot in run.slots] == [20, 22, 0, 2, 4]
    assert night.current_run(at(24, 1)).start == at(23, 20)
    assert night.current_run(at(24, 7)) is None
    assert night.last_run(at(24, 7)).start == at(23, 20)


def test_all_day_window_and_last_slot_cut_at_window_end():
    all_day = route(time(0), time(0), interval=240)
    run = all_day.run_on(date(2026, 11, 23))
    assert run.end - run.start == timedelta(days=1)
    assert len(run.slots) == 6
    odd = route(time(8), time(9, 30), interval=60).run_on(date(2026, 11, 23))
    assert [(s.start.strftime("%H:%M"), s.end.strftime("%H:%M")) for s in odd.slots] == [
        ("08:00", "09:00"),
        ("09:00", "09:30"),
    ]


def test_weekdays_limit_the_days_a_window_starts():
    weekdays_only = route(time(20), time(6), weekdays="12345")
    assert weekdays_only.run_on(date(2026, 11, 28)) is None  # Saturday
    assert weekdays_only.run_on(date(2026, 11, 27)) is not None  # Friday
    # Friday night's window still runs early on Saturday.
    assert weekdays_only.current_run(at(28, 3)).start == at(27, 20)


@pytest.mark.parametrize(
    ("now", "last_visit", "status"),
    [
        (at(24, 1), at(24, 0, 30), "on_time"),  # visited in the current round (00:00–02:00)
        (at(24, 1), at(23, 22, 30), "due"),  # visited last round, this one not yet
        (at(24, 1), at(23, 21), "overdue"),  # last round (22:00–00:00) was missed
        (at(24, 1), None, "overdue"),
        (at(23, 20, 30), None, "due"),  # first round of the night: just due
        (at(24, 9), at(24, 5), "on_time"),  # after the window: last round was walked
        (at(24, 9), at(24, 3), "overdue"),  # after the window: last round missed
    ],
)
def test_round_status(now, last_visit, status):
    night = route(time(20), time(6))
    assert night.status_for(last_visit, now) == status


def test_no_recent_run_is_on_time():
    assert round_status(None, None, at(24, 1)) == "on_time"
