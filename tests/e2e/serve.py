"""`flask --app dutypwa <command>` on the tests' clock, for the browser tests' server:

    python -m tests.e2e.serve db upgrade | seed-demo | run --port 5123 …

The clock starts at the run's base moment plus the real time since it was taken
(DUTYPWA_TEST_CLOCK, from tests/clock.py) and ticks on, so the demo data lies around the
tests' "today", and the pages and the tests' assertions read the same time. Test-only:
the app itself has no clock hook.
"""

import sys

import time_machine
from flask.cli import main

from tests.clock import ticking_now

if __name__ == "__main__":
    with time_machine.travel(ticking_now(), tick=True):
        sys.argv = ["flask", "--app", "dutypwa", *sys.argv[1:]]
        main()
