"""The tests' clock (tests/clock.py): DUTYPWA_TEST_TODAY really moves "now" for the tests
that depend on the date, and no such test sets a date of its own instead.

The canary reads the setting independently of the fixture, so a run at another date that
left the clock where it was fails here rather than passing on today's date.
"""

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from time_machine import escape_hatch

from dutypwa.models import utcnow
from dutypwa.roster.holidays import china_today
from tests.clock import BASE_NOW, CHINA, ENV, parse_base

TESTS = Path(__file__).resolve().parent


def test_canary_the_frozen_clock_stands_at_dutypwa_test_today(frozen_clock):
    given = os.environ.get(ENV, "").strip()
    if given:
        assert date.today().isoformat() == given[:10]
        assert china_today().isoformat() == given[:10]  # the app's own "today"
        if len(given) in (16, 19):  # a moment in China time: 2026-12-31T23:30[:00]
            assert datetime.now(CHINA).strftime("%Y-%m-%dT%H:%M") == given[:16]
    else:
        real = datetime.fromtimestamp(escape_hatch.time.time(), UTC)
        assert abs(real - frozen_clock.now) < timedelta(hours=12)
    assert utcnow() == datetime.now(UTC) == BASE_NOW
    assert date.today() == frozen_clock.today == BASE_NOW.date()


def test_the_frozen_clock_stands_still_and_moves_only_when_told(frozen_clock):
    before = utcnow()
    assert utcnow() == before
    frozen_clock.shift(timedelta(minutes=5))
    assert utcnow() == before + timedelta(minutes=5)
    frozen_clock.move_to(frozen_clock.at(23, 30))
    assert datetime.now(CHINA).strftime("%H:%M") == "23:30"
    assert date.today() == BASE_NOW.date()  # still the Chinese date, not UTC's


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-02-28", "2027-02-28T09:41:07+08:00"),
        ("2026-12-31T23:30", "2026-12-31T23:30:00+08:00"),
        ("2027-10-01T00:05:00+00:00", "2027-10-01T08:05:00+08:00"),
        ("", "2026-12-07T09:41:07+08:00"),
    ],
)
def test_the_setting_is_a_date_or_a_moment(value, expected):
    real = datetime(2026, 12, 7, 1, 41, 7, tzinfo=UTC)  # 09:41:07 in China
    assert parse_base(value, real).isoformat() == expected


def test_a_bad_setting_says_what_it_expects():
    with pytest.raises(ValueError, match="2026-12-31T23:30"):
        parse_base("31.12.2026", datetime.now(UTC))


# A test that travels to a date of its own, or patches the app's clock with one, ignores
# DUTYPWA_TEST_TODAY. Where the fixed date is the point (a roster in 2031, a rule checked
# on one known day), the line says so with `# own date: <why>`.
OWN_CLOCK = re.compile(
    r"time_machine\.travel\(|freeze_time\(|\.move_to\(\s*(datetime|date)\("
    r"|setattr\([^)\n]*[\"'.](utcnow|china_today|now|today)[\"']"
)

CLOCK_FILES = {"clock.py", "conftest.py", "e2e/conftest.py", "e2e/serve.py", "test_clock.py"}


def test_no_test_sets_its_own_date_without_saying_why():
    unexplained = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.relative_to(TESTS).as_posix() in CLOCK_FILES:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OWN_CLOCK.search(line) and "# own date:" not in line:
                unexplained.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert not unexplained, (
        "these tests set their own clock; use the frozen_clock fixture (it follows "
        f"{ENV}) or say why the date is fixed with `# own date: <why>`:\n" + "\n".join(unexplained)
    )
