"""The timing half of bench/coverage.py, run in a process of its own for each code tree
measured (this checkout, or a git worktree of the baseline revision), on a database that
coverage.py has filled:

    python bench/_coverage_timing.py --root DIR --database-url URL --checkpoints N --requests N

It imports DIR's `wsgi` module as gunicorn would (so the app is made, and its heap frozen,
the way that revision's production entry does it), logs in as the benchmark's supervisor
through the test client, warms up, then times GET /s/BENCH/coverage with HX-Request: true.
Prints one JSON object: per request the wall and CPU milliseconds and the garbage
collector's generation-2 (full) collections and their CPU time (gc.callbacks), the
statements of one request and of one 304 answer, and whether any names the check-in table.
"""

import argparse
import gc
import json
import os
import re
import sys
import time
from contextlib import contextmanager

SITE_CODE = "BENCH"
USERNAME = "bench-supervisor"
PASSWORD = "bench-pass-1"
# Enough requests for the app to warm up as a server process does (dutypwa/heap.py).
WARMUP = 15
READS_HISTORY = re.compile(r"\bcheckin\b", re.IGNORECASE)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="the code tree whose wsgi.py is timed")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--checkpoints", type=int, required=True)
    parser.add_argument("--requests", type=int, default=30)
    return parser.parse_args()


class Collections:
    """Generation-2 collections and the CPU time of all collections, per request."""

    def __init__(self):
        self.full = 0
        self.cpu = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.thread_time()
            if info["generation"] == 2:
                self.full += 1
        else:
            self.cpu += time.thread_time() - self._started

    def reset(self) -> None:
        self.full, self.cpu = 0, 0.0


@contextmanager
def statements(engine):
    from sqlalchemy import event

    issued = []

    def before(conn, cursor, statement, *args):
        issued.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield issued
    finally:
        event.remove(engine, "before_cursor_execute", before)


def main() -> None:
    args = parse_args()
    os.environ.update(
        {
            "DUTYPWA_SQLALCHEMY_DATABASE_URI": args.database_url,
            "DUTYPWA_SECRET_KEY": "bench-secret",
            "DUTYPWA_WTF_CSRF_ENABLED": "false",
        }
    )
    os.chdir(args.root)
    sys.path.insert(0, args.root)
    # Imported only now: the tree to time is chosen on the command line.
    import wsgi
    from dutypwa.extensions import db

    app = wsgi.app
    with app.app_context():
        engine = db.engine
    client = app.test_client()
    response = client.post("/login", data={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    url = f"/s/{SITE_CODE}/coverage"

    def get(**headers):
        with client.get(url, headers={"HX-Request": "true", **headers}) as response:
            if response.status_code == 200:
                rows = response.get_data(as_text=True).count('<tr id="cp-')
                assert rows == args.checkpoints, f"{rows} rows, expected {args.checkpoints}"
            return response

    for _ in range(WARMUP):
        assert get().status_code == 200
    collections = Collections()
    gc.callbacks.append(collections)
    timed = []
    for _ in range(args.requests):
        collections.reset()
        wall, cpu = time.perf_counter(), time.thread_time()
        assert get().status_code == 200
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        timed.append(
            {
                "wall_ms": wall * 1000,
                "cpu_ms": cpu * 1000,
                "gc_ms": collections.cpu * 1000,
                "full_collections": collections.full,
            }
        )
    gc.callbacks.remove(collections)

    with statements(engine) as issued:
        etag = get().headers["ETag"]
    not_modified = []
    while len(not_modified) < args.requests:
        started = time.perf_counter()
        response = get(**{"If-None-Match": etag})
        if response.status_code == 200:  # the ETag also turns every minute
            etag = response.headers["ETag"]
            continue
        assert response.status_code == 304, response.status_code
        not_modified.append((time.perf_counter() - started) * 1000)
    with statements(engine) as issued_304:
        response = get(**{"If-None-Match": etag})
    engine.dispose()
    print(
        json.dumps(
            {
                "requests": timed,
                "not_modified_ms": not_modified,
                "statements": len(issued),
                "statements_304": len(issued_304) if response.status_code == 304 else None,
                "reads_history": any(READS_HISTORY.search(s) for s in issued + issued_304),
                "frozen_objects": gc.get_freeze_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
