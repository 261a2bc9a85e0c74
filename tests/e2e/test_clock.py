"""The browser tests' server reads the tests' clock (tests/clock.py, tests/e2e/serve.py):
its own time and the demo it seeded lie at DUTYPWA_TEST_TODAY when that is set, so a page
and the assertion about it agree on "today"."""

import os
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import func, select

from dutypwa.models import CheckIn
from tests.clock import BASE_NOW, ENV

pytestmark = pytest.mark.e2e


def test_canary_the_server_and_its_demo_live_at_the_tests_now(live_server, server_db):
    with urllib.request.urlopen(f"{live_server.url}/login", timeout=30) as response:
        served = parsedate_to_datetime(response.headers["Date"])  # the server's time.time()
    now = datetime.now(UTC)
    assert abs(served - now) < timedelta(minutes=1), (served, now)
    if os.environ.get(ENV):
        # A run is shorter than this; the real clock would be days or months away.
        assert abs(served - BASE_NOW) < timedelta(hours=6), (served, BASE_NOW)
    # seed-demo ran on the same clock: its day of check-ins ends around now.
    last = server_db.scalar(select(func.max(CheckIn.received_at)))
    assert abs(last.replace(tzinfo=UTC) - now) < timedelta(days=1), (last, now)
