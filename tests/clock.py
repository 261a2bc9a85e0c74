"""The tests' clock: one base "now" for the whole run, which DUTYPWA_TEST_TODAY moves.

- unset: the real now when the run started;
- `2027-02-28`: that day, at the real time of day in China when the run started;
- `2026-12-31T23:30`: that moment, China time unless the value names an offset.

Tests whose expectations depend on the date freeze "now" at this base (the `frozen_clock`
fixture in tests/conftest.py). The browser tests' server runs in other processes
(tests/e2e/serve.py): they get the base and the real moment it stands for through
E2E_TEST_CLOCK and tick on from there, as the browser tests' own process does, so a
page and the assertion about it read the same clock. Chromium judges cookie expiry by the
real clock: for the browser tests, keep the base no earlier than the real today (a session
lasts 12 hours); the server-side tests take any date.
"""

import os
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

ENV = "DUTYPWA_TEST_TODAY"
# Not DUTYPWA_*: the e2e fixtures give their servers none of the caller's DUTYPWA_ settings.
PROCESS_ENV = "E2E_TEST_CLOCK"
# The sites' time zone in the demo and in the factories; "today" means today here.
CHINA = ZoneInfo("Asia/Shanghai")


def parse_base(value: str | None, real: datetime) -> datetime:
    """The base moment (aware, in China time) for a DUTYPWA_TEST_TODAY value."""
    real = real.astimezone(CHINA)
    if not value or not value.strip():
        return real
    value = value.strip()
    try:
        if len(value) == len("YYYY-MM-DD"):
            return datetime.combine(date.fromisoformat(value), real.timetz())
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise ValueError(
            f"{ENV}={value!r}: give a date (2027-02-28) or a date and time (2026-12-31T23:30)"
        ) from error
    if moment.tzinfo is None:
        return moment.replace(tzinfo=CHINA)
    return moment.astimezone(CHINA)


REAL_START = time.time()
BASE_NOW = parse_base(os.environ.get(ENV), datetime.fromtimestamp(REAL_START, UTC))


def base_day_at(hours: int, minutes: int = 0, *, days: int = 0) -> datetime:
    """hours:minutes in China on the base day (`days` later), as an aware UTC datetime:
    a shift change or a deadline on "today" that follows DUTYPWA_TEST_TODAY."""
    day = date.fromordinal(BASE_NOW.date().toordinal() + days)
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=CHINA).astimezone(UTC)


def process_env() -> dict[str, str]:
    """What a child process needs to tick from the same base (see ticking_now)."""
    return {PROCESS_ENV: f"{BASE_NOW.isoformat()}@{REAL_START!r}"}


def ticking_now() -> datetime:
    """The base moment plus the real time gone by since it was taken: what "now" is in
    every process of a run whose clock ticks (the browser tests and their server)."""
    given = os.environ.get(PROCESS_ENV)
    base, real_start = BASE_NOW, REAL_START
    if given:
        text, _, started = given.rpartition("@")
        base, real_start = datetime.fromisoformat(text), float(started)
    return datetime.fromtimestamp(base.timestamp() + time.time() - real_start, CHINA)
