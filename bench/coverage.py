"""Benchmark of the supervisor coverage partial (GET /s/<code>/coverage, HX-Request: true).

Builds one site with 2,000 checkpoints, 20 routes and 100,000 then 1,000,000 check-ins
(bulk-inserted, with checkpoint_state kept as record_checkin would keep it), and times the
partial as the app renders it through the test client, in a process of its own that
imports wsgi.py as gunicorn does (bench/_coverage_timing.py). With --baseline REV the same
database is timed with that revision's code too (a git worktree under /tmp), alternating
the two ROUNDS times, so both figures come from the same minutes of the same machine.
Prints figures; asserts no timing.

    .venv/bin/python bench/coverage.py [--database-url postgresql+psycopg://…/test]
    .venv/bin/python bench/coverage.py --baseline HEAD~1 --rounds 3

A PostgreSQL URL is never used as given: the benchmark works in `<name>_bench`, which it
creates if missing and whose schema it drops and recreates.
"""

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from sqlalchemy import bindparam, create_engine, insert, make_url, select, text, update

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
TARGET_P95_MS = 50.0
TARGET_RATIO = 1.2  # p95 / median: the slow tail is not the collector's
ROOT = Path(__file__).resolve().parent.parent
TIMING = Path(__file__).resolve().parent / "_coverage_timing.py"
STARTED = time.perf_counter()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=2000)
    parser.add_argument("--small", type=int, default=100_000, help="check-ins, first size")
    parser.add_argument("--large", type=int, default=1_000_000, help="check-ins, second size")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per size")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also time this git revision (e.g. HEAD~1) on the same data, alternating",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="timing processes per size and tree (default 3 with --baseline, else 1)",
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
    if args.rounds is None:
        args.rounds = 3 if args.baseline else 1
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


class Tree:
    """A code tree to time: this checkout, or a detached git worktree of a revision."""

    def __init__(self, label: str, root: Path, revision: str):
        self.label = label
        self.root = root
        self.revision = revision

    @classmethod
    def current(cls) -> "Tree":
        head = git("rev-parse", "--short", "HEAD")
        dirty = (
            " + uncommitted changes"
            if git("status", "--porcelain", "--", "dutypwa", "wsgi.py")
            else ""
        )
        return cls("this tree", ROOT, f"{head}{dirty}")

    @classmethod
    def worktree(cls, revision: str) -> "Tree":
        commit = git("rev-parse", "--verify", f"{revision}^{{commit}}")
        root = Path(tempfile.gettempdir()) / f"dutypwa-bench-{commit[:12]}"
        if not (root / "wsgi.py").exists():
            git("worktree", "add", "--detach", str(root), commit)
        # Catalogs are compiled, not committed: the baseline renders the same Chinese.
        subprocess.run(
            [sys.executable, "-m", "babel.messages.frontend", "compile", "-d",
             str(root / "dutypwa" / "translations")],
            check=True, capture_output=True,
        )  # fmt: skip
        return cls("baseline", root, f"{commit[:7]} ({revision})")

    def time(self, url: str, checkpoints: int, requests: int) -> dict:
        done = subprocess.run(
            [sys.executable, str(TIMING), "--root", str(self.root), "--database-url", url,
             "--checkpoints", str(checkpoints), "--requests", str(requests)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"timing {self.label} failed:\n{done.stdout}\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def summarise(runs: list[dict]) -> dict:
    """Medians and p95s over every timed request of these processes."""
    requests = [request for run in runs for request in run["requests"]]

    def figures(key: str) -> tuple[float, float]:
        values = [request[key] for request in requests]
        return statistics.median(values), statistics.quantiles(values, n=20)[-1]

    wall, cpu = figures("wall_ms"), figures("cpu_ms")
    per_run = [
        statistics.quantiles([r["wall_ms"] for r in run["requests"]], n=20)[-1]
        / statistics.median([r["wall_ms"] for r in run["requests"]])
        for run in runs
    ]
    return {
        "requests": len(requests),
        "median": wall[0],
        "p95": wall[1],
        "ratio": wall[1] / wall[0],
        "ratios": per_run,
        "cpu_median": cpu[0],
        "cpu_p95": cpu[1],
        "cpu_ratio": cpu[1] / cpu[0],
        "gc_ms": statistics.mean(r["gc_ms"] for r in requests),
        "full_collections": sum(r["full_collections"] for r in requests),
        "median_304": statistics.median(t for run in runs for t in run["not_modified_ms"]),
        "statements": runs[0]["statements"],
        "statements_304": runs[0]["statements_304"],
        "reads_history": any(run["reads_history"] for run in runs),
    }


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="dutypwa-bench-") as tmp:
        url = bench_database_url(args.database_url, Path(tmp))
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            engine = db.engine
        trees = [Tree.current()]
        if args.baseline:
            trees.append(Tree.worktree(args.baseline))
        for tree in trees:
            progress(f"{tree.label}: {tree.revision} at {tree.root}")
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
            runs = {tree.label: [] for tree in trees}
            for number in range(args.rounds):
                for tree in trees if number % 2 == 0 else trees[::-1]:
                    load = os.getloadavg()[0]
                    runs[tree.label].append(tree.time(url, len(site["checkpoints"]), args.requests))
                    progress(f"  round {number + 1}, {tree.label} (load average {load:.1f})")
            results[size] = {label: summarise(tree_runs) for label, tree_runs in runs.items()}
        engine.dispose()
        report(results, engine.dialect.name, args, trees)


def report(results: dict, dialect: str, args, trees: list[Tree]) -> None:
    columns = (
        ("code", "{label}"),
        ("check-ins", "{size:,}"),
        ("median ms", "{median:.1f}"),
        ("p95 ms", "{p95:.1f}"),
        ("p95/median", "{ratio:.2f}"),
        ("per process", "{ratios}"),
        ("CPU median", "{cpu_median:.1f}"),
        ("CPU p95", "{cpu_p95:.1f}"),
        ("CPU p95/med", "{cpu_ratio:.2f}"),
        ("GC ms/req", "{gc_ms:.2f}"),
        ("full GCs", "{full_collections}/{requests}"),
        ("304 ms", "{median_304:.1f}"),
        ("statements", "{statements}/{statements_304}"),
        ("reads check-ins", "{reads_history}"),
    )
    lines = [[title for title, _ in columns]]
    for size, by_tree in results.items():
        for label, result in by_tree.items():
            values = {
                **result,
                "label": label,
                "size": size,
                "ratios": " ".join(f"{ratio:.2f}" for ratio in result["ratios"]),
                "reads_history": "yes" if result["reads_history"] else "no",
            }
            lines.append([cell.format(**values) for _, cell in columns])
    widths = [max(len(line[n]) for line in lines) for n in range(len(columns))]
    print(
        f"\ncoverage partial (HX-Request), {dialect}, {args.rounds} process(es) × "
        f"{args.requests} timed requests per size and code tree, through each tree's wsgi.py"
    )
    for tree in trees:
        print(f"  {tree.label}: {tree.revision}")
    load = " ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"  load average now: {load} on {os.cpu_count()} CPUs")
    for line in lines:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
    (small_size, small), (large_size, large) = results.items()
    for label in small:
        growth = large[label]["p95"] / small[label]["p95"]
        ratio = large[label]["ratio"]
        print(
            f"{label}: p95 {large_size:,} / {small_size:,} check-ins: {growth:.2f}; "
            f"p95 < {TARGET_P95_MS:.0f} ms at {large_size:,}: "
            f"{'met' if large[label]['p95'] < TARGET_P95_MS else 'NOT met'}; "
            f"p95 ≤ {TARGET_RATIO} × median: {'met' if ratio <= TARGET_RATIO else 'NOT met'}"
        )
    print(
        "(wall ms as a client waits, CPU ms of the serving thread; GC ms/req: CPU time in the\n"
        " collector per request; full GCs: generation-2 collections (gc.callbacks) in the\n"
        " timed requests; statements: of one 200 / one 304 answer)"
    )


if __name__ == "__main__":
    main()
