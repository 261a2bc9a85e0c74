"""Benchmark of the supervisor coverage partial (GET /s/<code>/coverage, HX-Request: true).

Builds one site with 2,000 checkpoints, 20 routes and 100,000 then 1,000,000 check-ins
(bulk-inserted, with checkpoint_state kept as record_checkin would keep it), and times the
partial as the app renders it through the test client. Prints figures; asserts no timing.

    .venv/bin/python bench/coverage.py [--database-url postgresql+psycopg://…/test]

A PostgreSQL URL is never used as given: the benchmark works in `<name>_bench`, which it
creates if missing and whose schema it drops and recreates.
"""

import argparse
import gc
import hashlib
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from sqlalchemy import bindparam, create_engine, event, insert, make_url, select, text, update

from dutypwa import create_app
from dutypwa.extensions import db
from dutypwa.models import (
    Area,
    Base,
    CheckIn,
    Checkpoint,
    CheckpointState,
    Route,
    RouteStop,
    Site,
    User,
    site_members,
)

SITE_CODE = "BENCH"
PASSWORD = "bench-pass-1"
AREAS = 40
ROUTES = 20
STAFF = 12
HISTORY_DAYS = 90
CHUNK = 10_000
WARMUP = 3
TARGET_P95_MS = 50.0
# A statement that names the check-in table reads history; the coverage page must not.
READS_HISTORY = re.compile(r"\bcheckin\b", re.IGNORECASE)
STARTED = time.perf_counter()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=2000)
    parser.add_argument("--small", type=int, default=100_000, help="check-ins, first size")
    parser.add_argument("--large", type=int, default=1_000_000, help="check-ins, second size")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per size")
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="skip the gc.freeze() that wsgi.py does after start-up (measures the dev server)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DUTYPWA_BENCH_DATABASE_URL"),
        help="a PostgreSQL URL (its database gets a _bench twin); default: a temporary "
        "SQLite file, or DUTYPWA_BENCH_DATABASE_URL",
    )
    args = parser.parse_args()
    if args.large <= args.small:
        parser.error("--large must be greater than --small")
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a PostgreSQL URL (SQLite always runs in a temp dir)")
    return args


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", flush=True)


def bench_database_url(url: str | None, tmp: Path) -> str:
    """A dedicated database: a temporary SQLite file, or `<name>_bench` on the server."""
    if not url:
        return f"sqlite:///{tmp / 'bench.sqlite3'}"
    parsed = make_url(url)
    name = parsed.database if parsed.database.endswith("_bench") else f"{parsed.database}_bench"
    # Only a catalogue look-up and CREATE DATABASE go through the given database.
    server = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def reset_schema(engine) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            Base.metadata.drop_all(connection)
    Base.metadata.create_all(engine)


def build_site(engine, checkpoint_count: int) -> dict:
    """The site, its areas, checkpoints, routes and people; returns what the loader needs."""
    now = datetime.now(UTC)
    # Everyone gets the supervisor's password hash; only the supervisor logs in.
    supervisor = User()
    supervisor.set_password(PASSWORD, method="pbkdf2:sha256:1000")
    with engine.begin() as connection:
        site_id = connection.execute(
            insert(Site).values(code=SITE_CODE, name="基准花园", timezone="Asia/Shanghai")
        ).inserted_primary_key[0]
        connection.execute(
            insert(Area),
            [{"site_id": site_id, "name": f"区域{n:02d}", "position": n} for n in range(AREAS)],
        )
        area_ids = connection.scalars(
            select(Area.id).where(Area.site_id == site_id).order_by(Area.position)
        ).all()
        connection.execute(
            insert(Checkpoint),
            [
                {
                    "site_id": site_id,
                    "area_id": area_ids[n * AREAS // checkpoint_count],
                    "name": f"巡查点{n + 1}",
                    "kind": "garden",
                    "description": "",
                    "checklist": [],
                    "active": True,
                    "token": f"bench-token-{n + 1:06d}",
                    "code": f"{n + 1:05d}",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(checkpoint_count)
            ],
        )
        checkpoints = connection.execute(
            select(Checkpoint.id, Checkpoint.token)
            .where(Checkpoint.site_id == site_id)
            .order_by(Checkpoint.code)
        ).all()

        # Even routes walk their share all day every 2 h; odd ones walk their share and the
        # previous one at night (20:00-06:00, hourly), so some checkpoints are on two routes.
        share = -(-len(checkpoints) // ROUTES)
        stops = []
        for number in range(ROUTES):
            night = number % 2 == 1
            route_id = connection.execute(
                insert(Route).values(
                    site_id=site_id,
                    name=f"路线{number + 1:02d}",
                    weekdays="1234567",
                    window_start=clock_time(20) if night else clock_time(0),
                    window_end=clock_time(6) if night else clock_time(0),
                    interval_minutes=60 if night else 120,
                    active=True,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
            covered = checkpoints[number * share : (number + 1) * share]
            if night:
                covered = checkpoints[(number - 1) * share : number * share] + covered
            stops += [
                {"route_id": route_id, "checkpoint_id": checkpoint.id, "position": position}
                for position, checkpoint in enumerate(covered)
            ]
        connection.execute(insert(RouteStop), stops)

        people = [("bench-supervisor", "主管", "supervisor")]
        people += [(f"bench-staff-{n}", f"员工{n}", "staff") for n in range(1, STAFF + 1)]
        connection.execute(
            insert(User),
            [
                {
                    "username": username,
                    "display_name": name,
                    "password_hash": supervisor.password_hash,
                    "role": role,
                    "active": True,
                    "created_at": now,
                }
                for username, name, role in people
            ],
        )
        users = connection.execute(select(User.id, User.role)).all()
        connection.execute(
            insert(site_members), [{"user_id": user.id, "site_id": site_id} for user in users]
        )
    return {
        "site_id": site_id,
        "checkpoints": checkpoints,
        "staff_ids": [user.id for user in users if user.role == "staff"],
        "stops": len(stops),
    }


class History:
    """Check-ins spread over the last 90 days, bulk-inserted with Core, and the
    checkpoint_state rows that record_checkin would have left behind them."""

    def __init__(self, site_id: int, checkpoints: list, staff_ids: list[int]):
        self.site_id = site_id
        self.checkpoints = checkpoints
        self.staff_ids = staff_ids
        self.random = random.Random(20260101)
        self.states: dict[int, dict] = {}
        self.total = 0

    def add(self, engine, count: int) -> None:
        now = datetime.now(UTC)
        span = HISTORY_DAYS * 86400
        with engine.begin() as connection:
            for start in range(0, count, CHUNK):
                rows = [
                    self.new_checkin(now - timedelta(seconds=self.random.random() * span), now)
                    for _ in range(min(CHUNK, count - start))
                ]
                connection.execute(insert(CheckIn), rows)
                done = start + len(rows)
                if done % 100_000 == 0 or done == count:
                    progress(f"  {self.total + done:>9,} check-ins inserted")
            self.total += count
            self.write_states(connection, now)
            if connection.dialect.name == "postgresql":
                connection.execute(text("ANALYZE"))  # what autovacuum would soon do

    def new_checkin(self, visited_at: datetime, now: datetime) -> dict:
        checkpoint = self.random.choice(self.checkpoints)
        user_id = self.random.choice(self.staff_ids)
        op_id = str(uuid.UUID(int=self.random.getrandbits(128), version=4))
        # record_checkin: a late (older) check-in counts but never moves the state back.
        state = self.states.get(checkpoint.id)
        if state is None:
            state = self.states[checkpoint.id] = {
                "checkpoint_id": checkpoint.id,
                "site_id": self.site_id,
                "last_checkin_id": op_id,
                "last_visit_at": visited_at,
                "last_user_id": user_id,
                "visit_count": 0,
                "open_findings": 0,
            }
        elif visited_at >= state["last_visit_at"]:
            state.update(last_checkin_id=op_id, last_visit_at=visited_at, last_user_id=user_id)
        state["visit_count"] += 1
        return {
            "id": op_id,
            "site_id": self.site_id,
            "checkpoint_id": checkpoint.id,
            "user_id": user_id,
            "device_time": visited_at,
            "received_at": min(visited_at + timedelta(seconds=2), now),
            "clock_offset_s": 0.0,
            "visited_at": visited_at,
            "clock_flagged": False,
            "token": checkpoint.token,
            "results": [],
            "note": "",
            "payload_hash": hashlib.sha256(op_id.encode()).hexdigest(),
        }

    def write_states(self, connection, now: datetime) -> None:
        table = CheckpointState.__table__
        existing = set(
            connection.scalars(select(table.c.checkpoint_id).where(table.c.site_id == self.site_id))
        )
        fresh = [{**s, "updated_at": now} for s in self.states.values()]
        new = [row for row in fresh if row["checkpoint_id"] not in existing]
        if new:
            connection.execute(insert(table), new)
        changed = [
            {**row, "b_id": row["checkpoint_id"]}
            for row in fresh
            if row["checkpoint_id"] in existing
        ]
        if changed:
            connection.execute(
                update(table)
                .where(table.c.checkpoint_id == bindparam("b_id"))
                .values(
                    last_checkin_id=bindparam("last_checkin_id"),
                    last_visit_at=bindparam("last_visit_at"),
                    last_user_id=bindparam("last_user_id"),
                    visit_count=bindparam("visit_count"),
                    updated_at=bindparam("updated_at"),
                ),
                changed,
            )


@contextmanager
def statements(engine):
    issued = []

    def before(conn, cursor, statement, *args):
        issued.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield issued
    finally:
        event.remove(engine, "before_cursor_execute", before)


def measure(app, engine, *, checkpoints: int, requests: int) -> dict:
    """Time the partial (200) and the 304 answer; count statements; sanity-check the body."""
    client = app.test_client()
    response = client.post("/login", data={"username": "bench-supervisor", "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    url = f"/s/{SITE_CODE}/coverage"
    headers = {"HX-Request": "true"}

    def get(**extra):
        started = time.perf_counter()
        response = client.get(url, headers={**headers, **extra})
        return response, (time.perf_counter() - started) * 1000

    def full(response):
        assert response.status_code == 200, response.status_code
        rows = response.get_data(as_text=True).count('<tr id="cp-')
        assert rows == checkpoints, f"{rows} rows, expected {checkpoints}"
        return response

    for _ in range(WARMUP):
        full(get()[0])
    timings = []
    full_collections = gc.get_stats()[2]["collections"]
    for _ in range(requests):
        response, elapsed = get()
        full(response)
        timings.append(elapsed)
    full_collections = gc.get_stats()[2]["collections"] - full_collections
    with statements(engine) as issued:
        etag = full(get()[0]).headers["ETag"]

    not_modified = []
    while len(not_modified) < requests:
        response, elapsed = get(**{"If-None-Match": etag})
        if response.status_code == 200:  # the ETag also turns every minute
            etag = full(response).headers["ETag"]
            continue
        assert response.status_code == 304, response.status_code
        not_modified.append(elapsed)
    with statements(engine) as issued_304:
        response = get(**{"If-None-Match": etag})[0]
    return {
        "median": statistics.median(timings),
        "p95": statistics.quantiles(timings, n=20)[-1],
        "median_304": statistics.median(not_modified),
        "statements": len(issued),
        "statements_304": len(issued_304) if response.status_code == 304 else None,
        "reads_history": any(READS_HISTORY.search(s) for s in issued + issued_304),
        "full_collections": full_collections,
    }


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="dutypwa-bench-") as tmp:
        url = bench_database_url(args.database_url, Path(tmp))
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench-secret",
                "WTF_CSRF_ENABLED": False,
                "SQLALCHEMY_DATABASE_URI": url,
            }
        )
        # The app context is left before timing: each request must open its own session.
        with app.app_context():
            engine = db.engine
        progress(f"database: {engine.url.render_as_string(hide_password=True)}")
        reset_schema(engine)
        site = build_site(engine, args.checkpoints)
        progress(
            f"site {SITE_CODE}: {len(site['checkpoints']):,} checkpoints in {AREAS} areas, "
            f"{ROUTES} routes ({site['stops']:,} stops), {STAFF} staff and a supervisor"
        )
        history = History(site["site_id"], site["checkpoints"], site["staff_ids"])
        results = {}
        for size in (args.small, args.large):
            started = time.perf_counter()
            history.add(engine, size - history.total)
            progress(f"{size:,} check-ins ready ({time.perf_counter() - started:.1f}s); timing")
            if args.gc_freeze:
                gc.collect()
                gc.freeze()
            results[size] = measure(
                app, engine, checkpoints=len(site["checkpoints"]), requests=args.requests
            )
        engine.dispose()
        report(results, engine.dialect.name, args.requests, frozen=args.gc_freeze)


def report(results: dict, dialect: str, requests: int, *, frozen: bool) -> None:
    columns = (
        ("check-ins", "{size:,}"),
        ("median ms", "{median:.1f}"),
        ("p95 ms", "{p95:.1f}"),
        ("304 median ms", "{median_304:.1f}"),
        ("statements", "{statements}"),
        ("304 statements", "{statements_304}"),
        ("full GCs", "{full_collections}"),
        ("reads check-ins", "{reads_history}"),
    )
    lines = [[title for title, _ in columns]]
    for size, result in results.items():
        reads = "yes" if result["reads_history"] else "no"
        values = {**result, "size": size, "reads_history": reads}
        lines.append([cell.format(**values) for _, cell in columns])
    widths = [max(len(line[n]) for line in lines) for n in range(len(columns))]
    heap = ", heap frozen" if frozen else ""
    print(f"\ncoverage partial (HX-Request), {dialect}{heap}, {requests} timed requests per size")
    for line in lines:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
    (small_size, small), (large_size, large) = results.items()
    print(f"p95 ratio {large_size:,} / {small_size:,}: {large['p95'] / small['p95']:.2f}")
    met = "met" if large["p95"] < TARGET_P95_MS else "NOT met"
    print(f"target p95 < {TARGET_P95_MS:.0f} ms at {large_size:,} check-ins: {met}")
    print("(full GCs: CPython generation-2 collections during the timed requests)")


if __name__ == "__main__":
    main()
