"""Benchmark of the open-items list (GET /s/<code>/findings, with filters) and the
supervisor's day page (GET /s/<code>/day) over 100,000 nonconformities.

Builds one site with 2,000 checkpoints in 40 areas, 30 staff, a supervisor and a director;
100,000 nonconformities over the last 365 days with their steps (assign, correct, verify
…) bulk-inserted with SQLAlchemy Core, their current-state columns as record_step leaves
them, and a year of duty-log entries; then runs the escalation clock once, as the first
page that shows escalations would, and on PostgreSQL VACUUM ANALYZE, as autovacuum would.
Times each URL as the app renders it through the test client, logged in through the login
form. Prints figures; asserts no timing.

    .venv/bin/python bench/nonconformities.py [--database-url postgresql+psycopg://…/test]

A PostgreSQL URL is never used as given: the benchmark works in `<name>_bench`, which it
creates if missing and whose schema it drops and recreates (as bench/coverage.py does).
"""

import argparse
import gc
import hashlib
import os
import random
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# bench/ is this script's folder, first on sys.path: `coverage` is bench/coverage.py.
from coverage import bench_database_url, progress, reset_schema
from sqlalchemy import event, func, insert, make_url, select, text

from dutypwa import create_app
from dutypwa.escalation import advance
from dutypwa.extensions import db
from dutypwa.models import (
    Area,
    Checkpoint,
    DutyEntry,
    Escalation,
    Finding,
    FindingEvent,
    Site,
    User,
    site_members,
)

SITE_CODE = "BENCH"
PASSWORD = "bench-pass-1"
AREAS = 40
STAFF = 30
HISTORY_DAYS = 365
ENTRIES_PER_DAY = 30
CHUNK = 10_000
WARMUP = 3
TARGET_P95_MS = 50.0
TEAMS = ("maintenance", "cleaning", "greening", "security")
DUE_HOURS = {"urgent": 2, "normal": 24, "low": 168}
CATEGORY_WEIGHTS = {
    "garden": 25, "equipment": 20, "hygiene": 18, "lighting": 12, "facilities": 10,
    "safety": 8, "other": 4, "discipline": 3,
}  # fmt: skip
SEVERITY_WEIGHTS = {"normal": 70, "low": 20, "urgent": 10}
# The share of each state by the item's age: most old items are closed, the young open.
STATE_WEIGHTS = [
    (timedelta(days=1), {"open": 50, "assigned": 35, "corrected": 15}),
    (timedelta(days=7), {"open": 10, "assigned": 25, "corrected": 15, "reopened": 5, "closed": 45}),
    (timedelta(days=30), {"open": 3, "assigned": 7, "corrected": 5, "reopened": 2, "closed": 83}),
    (None, {"open": 0.5, "assigned": 1, "corrected": 0.5, "reopened": 0.2, "closed": 97.8}),
]  # fmt: skip
PROBLEMS = [
    "灯不亮", "地面积水", "垃圾未及时清运", "门禁故障", "管道漏水", "草坪枯黄", "护栏松动",
    "消防通道堆放杂物", "井盖破损", "墙面渗水", "绿篱未修剪", "电梯异响", "水泵漏水",
    "配电柜指示灯异常", "值班人员脱岗", "监控画面黑屏", "路面破损", "外墙瓷砖脱落",
]  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--checkpoints", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per URL")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="for each URL over the target, print its slowest statements and their plans",
    )
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="skip the gc.freeze() that wsgi.py does after start-up (measures the dev server)",
    )
    parser.add_argument(
        "--analyze-only",
        dest="vacuum",
        action="store_false",
        help="on PostgreSQL, ANALYZE after loading instead of VACUUM ANALYZE",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DUTYPWA_BENCH_DATABASE_URL"),
        help="a PostgreSQL URL (its database gets a _bench twin); default: a temporary "
        "SQLite file, or DUTYPWA_BENCH_DATABASE_URL",
    )
    args = parser.parse_args()
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a PostgreSQL URL (SQLite always runs in a temp dir)")
    return args


def build_site(engine, checkpoint_count: int) -> dict:
    """The site, its areas, checkpoints and people; returns what the loader needs."""
    now = datetime.now(UTC)
    supervisor = User()  # everyone gets the supervisor's password hash
    supervisor.set_password(PASSWORD, method="pbkdf2:sha256:1000")
    with engine.begin() as connection:
        site_id = connection.execute(
            insert(Site).values(
                code=SITE_CODE, name="基准花园", timezone="Asia/Shanghai", settings={}
            )
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
            select(Checkpoint.id, Checkpoint.area_id).where(Checkpoint.site_id == site_id)
        ).all()
        people = [
            ("bench-supervisor", "主管", "supervisor"),
            ("bench-director", "主任", "director"),
        ]
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
        users = connection.execute(select(User.id, User.role, User.username)).all()
        connection.execute(
            insert(site_members), [{"user_id": user.id, "site_id": site_id} for user in users]
        )
    by_name = {user.username: user.id for user in users}
    return {
        "site_id": site_id,
        "area_ids": area_ids,
        "checkpoints": checkpoints,
        "staff_ids": [user.id for user in users if user.role == "staff"],
        "supervisor_id": by_name["bench-supervisor"],
        "area_for_search": area_ids[AREAS // 2],
    }


def pick(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Loader:
    """Nonconformities and their steps as record_finding and record_step leave them."""

    def __init__(self, site: dict, now: datetime):
        self.site = site
        self.now = now
        self.rng = random.Random(20261126)
        self.findings: list[dict] = []
        self.events: list[dict] = []
        self.states: dict[str, int] = {}
        self.total_events = 0

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def finding(self) -> dict:
        rng, site = self.rng, self.site
        received = self.now - timedelta(seconds=rng.random() * HISTORY_DAYS * 86400)
        age = self.now - received
        weights = next(w for limit, w in STATE_WEIGHTS if limit is None or age < limit)
        status = pick(rng, weights)
        severity = pick(rng, SEVERITY_WEIGHTS)
        place = rng.random()
        checkpoint_id = area_id = None
        location = ""
        if place < 0.7:
            checkpoint_id, area_id = rng.choice(site["checkpoints"])
        elif place < 0.9:
            area_id = rng.choice(site["area_ids"])
        else:
            location = f"{rng.randint(1, 12)}号楼{rng.randint(1, 30)}层"
        problem = rng.choice(PROBLEMS)
        row = {
            "id": self.uuid(),
            "site_id": site["site_id"],
            "checkpoint_id": checkpoint_id,
            "area_id": area_id,
            "checkin_id": None,
            "location": location,
            "category": pick(rng, CATEGORY_WEIGHTS),
            "severity": severity,
            "item": "",
            "description": f"{problem}，编号{rng.randint(1, 99999):05d}",
            "status": "open",
            "source": rng.choice(("checkpoint", "patrol")) if checkpoint_id else "anywhere",
            "due_at": received + timedelta(hours=DUE_HOURS[severity]),
            "assignee_id": None,
            "assignee_team": "",
            "round": 1,
            "corrected_by_id": None,
            "recheck_due": checkpoint_id is not None,
            "escalation_level": 0,
            "deduction": 0,
            "closed_at": None,
            "events_count": 0,
            "created_by_id": rng.choice(site["staff_ids"]),
            "device_time": received,
            "received_at": received,
            "clock_offset_s": 0.0,
            "clock_flagged": False,
            "payload_hash": hashlib.sha256(problem.encode()).hexdigest(),
            "device_id": None,
            "created_at": received,
        }
        self.steps(row, status, age)
        self.states[row["status"]] = self.states.get(row["status"], 0) + 1
        return row

    def steps(self, row: dict, status: str, age: timedelta) -> None:
        """The step history that leads to `status`, spread over the item's age."""
        rng = self.rng
        plan = []
        if status != "open" and rng.random() < 0.75:
            plan.append("assign")
        if status in ("corrected", "reopened", "closed"):
            plan.append("correct")
        if status == "reopened":
            plan.append("verify_fail")
        if status == "closed":
            ending = rng.random()
            if ending < 0.05:
                plan += ["verify_fail", "correct", "verify_pass"]
            elif ending < 0.10:
                plan.append("close_deduct")
            else:
                plan.append("verify_pass")
        if status == "assigned" and "assign" not in plan:
            plan.append("assign")
        if rng.random() < 0.05:
            plan.append("comment")
        span = min(age.total_seconds(), 14 * 86400)
        moments = sorted(rng.random() * span for _ in plan)
        supervisor = self.site["supervisor_id"]
        for ordinal, (action, offset) in enumerate(zip(plan, moments, strict=True), start=1):
            at = row["received_at"] + timedelta(seconds=offset)
            event = {
                "id": self.uuid(),
                "finding_id": row["id"],
                "ordinal": ordinal,
                "action": action,
                "outcome": "applied",
                "reason": "",
                "from_status": row["status"],
                "to_status": row["status"],
                "by_id": supervisor,
                "note": "",
                "assignee_id": None,
                "assignee_team": "",
                "result": "",
                "deduction": 0,
                "photo_ids": [],
                "checkin_id": None,
                "device_time": at,
                "received_at": at,
                "clock_offset_s": 0.0,
                "clock_flagged": False,
                "payload_hash": "",
                "device_id": None,
            }
            if action == "assign":
                if rng.random() < 0.6:
                    # A few go to the supervisor, so that "assigned to me" finds some.
                    person = supervisor if rng.random() < 0.03 else None
                    row["assignee_id"] = person or rng.choice(self.site["staff_ids"])
                else:
                    row["assignee_team"] = rng.choice(TEAMS)
                event["assignee_id"], event["assignee_team"] = (
                    row["assignee_id"],
                    row["assignee_team"],
                )
                row["status"] = "assigned"
            elif action == "correct":
                corrector = row["assignee_id"] or rng.choice(self.site["staff_ids"])
                event["by_id"] = row["corrected_by_id"] = corrector
                event["note"] = "已处理"
                event["photo_ids"] = [self.uuid()]
                row["status"] = "corrected"
            elif action == "verify_fail":
                event["note"] = "复查不合格"
                row["round"] += 1
                row["due_at"] = at + timedelta(hours=DUE_HOURS[row["severity"]])
                row["status"] = "reopened"
            elif action in ("verify_pass", "close_deduct"):
                if action == "close_deduct":
                    event["note"] = "扣分关闭"
                    event["deduction"] = row["deduction"] = rng.randint(1, 10)
                row["status"], row["closed_at"], row["recheck_due"] = "closed", at, False
            elif action == "comment":
                event["note"] = "已跟进"
            event["to_status"] = row["status"]
            self.events.append(event)
            row["events_count"] = ordinal

    def load(self, engine, count: int) -> None:
        with engine.begin() as connection:
            for start in range(0, count, CHUNK):
                self.findings = [self.finding() for _ in range(min(CHUNK, count - start))]
                connection.execute(insert(Finding), self.findings)
                if self.events:
                    connection.execute(insert(FindingEvent), self.events)
                done = start + len(self.findings)
                self.total_events += len(self.events)
                self.events = []
                if done % 20_000 == 0 or done == count:
                    progress(f"  {done:>7,} nonconformities, {self.total_events:,} steps")


def load_entries(engine, site: dict, now: datetime) -> int:
    """A year of the duty log: ENTRIES_PER_DAY a day, the last day's partly still open."""
    rng = random.Random(7)
    kinds = ("inquiry", "help", "complaint", "repair", "incident", "patrol_note")
    minutes = {"inquiry": 30, "help": 15, "complaint": 60, "repair": 120, "incident": 30,
               "patrol_note": 1440}  # fmt: skip
    rows = []
    for _ in range(HISTORY_DAYS * ENTRIES_PER_DAY):
        received = now - timedelta(seconds=rng.random() * HISTORY_DAYS * 86400)
        kind = rng.choice(kinds)
        still_open = (now - received) < timedelta(days=1) and rng.random() < 0.4
        rows.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "site_id": site["site_id"],
                "kind": kind,
                "summary": "业主来电",
                "status": "open" if still_open else "closed",
                "respond_by": received + timedelta(minutes=minutes[kind]),
                "closed_at": None if still_open else received + timedelta(minutes=20),
                "escalation_level": 0,
                "events_count": 0,
                "created_by_id": rng.choice(site["staff_ids"]),
                "device_time": received,
                "received_at": received,
                "clock_offset_s": 0.0,
                "clock_flagged": False,
                "payload_hash": "",
            }
        )
    with engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(DutyEntry), rows[start : start + CHUNK])
    return len(rows)


def run_clock(app, site_id: int, vacuum: bool = True) -> tuple[int, float]:
    """The escalation clock, once: overdue items go to the supervisor and, unacknowledged,
    on to the director, as the first day page or badge poll would do. Then, on PostgreSQL,
    what autovacuum would soon do: VACUUM ANALYZE. Since PostgreSQL 13 autovacuum vacuums
    tables that only had inserts too, which sets the visibility map that index-only scans
    (the day page's counts) rely on; the development server runs with autovacuum off, so
    the benchmark does it (--analyze-only: ANALYZE alone, as before 2026-11-26)."""
    started = time.perf_counter()
    with app.app_context():
        advance(db.session.get(Site, site_id), datetime.now(UTC))
        db.session.commit()
        total = db.session.scalar(select(func.count()).select_from(Escalation))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as connection:  # VACUUM runs outside a transaction
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.execute(text("VACUUM ANALYZE" if vacuum else "ANALYZE"))
    return total, time.perf_counter() - started


@contextmanager
def statements(engine):
    """Every statement of the block with its parameters and its time, in order."""
    issued = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        elapsed = (time.perf_counter() - conn.info.pop("bench_started")) * 1000
        issued.append((elapsed, statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield issued
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def urls(site: dict, yesterday: str) -> list[tuple[str, str]]:
    """(who, URL): the supervisor's views of the list and the day, and a staff member's
    own items."""
    base = f"/s/{SITE_CODE}"
    return [
        ("supervisor", f"{base}/findings"),
        ("supervisor", f"{base}/findings?status=open"),
        ("supervisor", f"{base}/findings?category=lighting&overdue=1"),
        ("supervisor", f"{base}/findings?assignee=mine"),
        ("supervisor", f"{base}/findings?assignee=team:maintenance&severity=urgent"),
        ("supervisor", f"{base}/findings?status=corrected&category=garden"),
        ("supervisor", f"{base}/findings?area={site['area_for_search']}&status=any"),
        ("supervisor", f"{base}/findings?q=漏水"),
        ("supervisor", f"{base}/findings?status=closed"),
        ("supervisor", f"{base}/findings?status=closed&page=20"),
        ("supervisor", f"{base}/findings?status=any&q=漏水"),
        ("supervisor", f"{base}/findings?status=closed&category=discipline&severity=urgent"),
        ("staff", f"{base}/findings?assignee=mine"),
        ("supervisor", f"{base}/day"),
        ("supervisor", f"{base}/day?day={yesterday}"),
    ]


def measure(app, engine, targets, requests: int, explain: bool) -> list[dict]:
    clients = {}
    for who, username in (("supervisor", "bench-supervisor"), ("staff", "bench-staff-1")):
        client = app.test_client()
        response = client.post("/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, response.status_code
        clients[who] = client
    results = []
    for who, url in targets:
        client = clients[who]

        def get(client=client, url=url):
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (url, response.status_code)
            return elapsed, (time.process_time() - cpu) * 1000

        for _ in range(WARMUP):
            get()
        timings, cpu = zip(*(get() for _ in range(requests)), strict=True)
        with statements(engine) as issued:
            get()
        result = {
            "who": who,
            "url": url,
            "median": statistics.median(timings),
            "p95": statistics.quantiles(timings, n=20)[-1],
            "cpu": statistics.median(cpu),
            "statements": len(issued),
            "sql_ms": sum(elapsed for elapsed, _, _ in issued),
            "issued": issued,
        }
        results.append(result)
        progress(f"  {result['p95']:7.1f} ms p95  {who:10} {url}")
    if explain:
        for result in results:
            if result["p95"] >= TARGET_P95_MS:
                explain_slowest(engine, result)
    return results


def explain_slowest(engine, result: dict, top: int = 3) -> None:
    """The slowest statements of one request of a URL over the target, with their plans."""
    print(f"\n{result['url']} ({result['who']}): {result['statements']} statements, "
          f"{result['sql_ms']:.1f} ms in the database; slowest:")  # fmt: skip
    slowest = sorted(result["issued"], key=lambda item: item[0], reverse=True)[:top]
    for elapsed, statement, parameters in slowest:
        print(f"\n-- {elapsed:.1f} ms\n{statement}\n-- parameters: {parameters}")
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(prefix + statement, parameters)
            for row in cursor.fetchall():
                print("   ", " | ".join(str(cell) for cell in row))
        finally:
            raw.close()


def report(results: list[dict], dialect: str, requests: int, *, frozen: bool, size: int) -> None:
    heap = ", heap frozen" if frozen else ""
    print(f"\n{size:,} nonconformities, {dialect}{heap}, {requests} timed requests per URL")
    lines = [["who", "URL", "median ms", "p95 ms", "CPU ms", "statements", "SQL ms", "target"]]
    for result in results:
        met = "met" if result["p95"] < TARGET_P95_MS else "NOT met"
        lines.append(
            [
                result["who"],
                result["url"],
                f"{result['median']:.1f}",
                f"{result['p95']:.1f}",
                f"{result['cpu']:.1f}",
                str(result["statements"]),
                f"{result['sql_ms']:.1f}",
                met,
            ]
        )
    widths = [max(len(line[n]) for line in lines) for n in range(len(lines[0]))]
    for line in lines:
        cells = [cell.ljust(width) if n < 2 else cell.rjust(width)
                 for n, (cell, width) in enumerate(zip(line, widths, strict=True))]  # fmt: skip
        print("  ".join(cells))
    missed = [r for r in results if r["p95"] >= TARGET_P95_MS]
    verdict = "met for every URL" if not missed else f"NOT met for {len(missed)} URL(s)"
    print(f"target p95 < {TARGET_P95_MS:.0f} ms: {verdict}")
    print("(CPU ms: median CPU time of this process per request, the app and SQLite, which")
    print(" other work on a shared machine does not inflate; SQL ms: time in the driver's")
    print(" execute calls during one further request, rows fetched afterwards not included)")


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
            f"{STAFF} staff, a supervisor and a director"
        )
        now = datetime.now(UTC)
        loader = Loader(site, now)
        started = time.perf_counter()
        loader.load(engine, args.findings)
        entries = load_entries(engine, site, now)
        states = ", ".join(f"{name} {count:,}" for name, count in sorted(loader.states.items()))
        progress(
            f"{args.findings:,} nonconformities ({states}), {loader.total_events:,} steps, "
            f"{entries:,} duty-log entries ({time.perf_counter() - started:.1f}s)"
        )
        escalations, took = run_clock(app, site["site_id"], args.vacuum)
        progress(f"escalation clock: {escalations:,} escalations ({took:.1f}s); timing")
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        yesterday = (now.astimezone(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date()
        results = measure(
            app, engine, urls(site, yesterday.isoformat()), args.requests, args.explain
        )
        engine.dispose()
        report(
            results,
            engine.dialect.name,
            args.requests,
            frozen=args.gc_freeze,
            size=args.findings,
        )


if __name__ == "__main__":
    main()
