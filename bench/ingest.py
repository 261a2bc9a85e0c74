"""Ingest benchmark: simulated devices post batches of check-ins to POST /api/v1/sync.

Runs the real app under gunicorn (2 workers) on loopback against a freshly migrated
database, SQLite then PostgreSQL; prints ops/s and per-request latency, and the ratio to
inserting as many check-in rows with SQLAlchemy Core in one process, measured in the same
run. Prints figures; asserts no timing (it does check that every op was stored once).

    .venv/bin/python bench/ingest.py [--database-url postgresql+psycopg://…/test]

A PostgreSQL URL is never used as given: the benchmark works in `<name>_ingest`, which it
creates if missing and whose schema it drops and recreates.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import create_engine, func, insert, make_url, select, text

from dutypwa import create_app
from dutypwa.extensions import db
from dutypwa.models import (
    Area,
    CheckIn,
    Checkpoint,
    CheckpointState,
    Device,
    Finding,
    Site,
    User,
    site_members,
)
from dutypwa.sync import MAX_OPS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SITE_CODE = "INGEST"
PASSWORD = "bench-pass-1"
HASH_METHOD = "pbkdf2:sha256:1000"
SECRET_KEY = "bench-ingest-secret"
AREAS = 20
# Every fifth checkpoint is equipment with this checklist; the others are plain visits.
CHECKLIST = ["压力正常", "无漏水", "标识清晰"]
NOT_OK_RATE = 0.05  # of checklist check-ins, one item "not OK" (a finding)
TARGET_OPS = 2000
HISTORY_DAYS = 30
HISTORY_CHUNK = 10_000
SYNC_HEADERS = {"X-Dutypwa-Sync": "1", "Content-Type": "application/json"}
CSRF_TOKEN = re.compile(rb'name="csrf[-_]token" (?:content|value)="([^"]+)"')  # meta or input
STARTED = time.perf_counter()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=8, help="concurrent devices (and staff)")
    parser.add_argument("--ops", type=int, default=50_000, help="timed check-in ops in all")
    parser.add_argument("--checkpoints", type=int, default=500)
    parser.add_argument(
        "--history", type=int, default=100_000, help="check-ins stored before the run"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--time-limit", type=float, default=90.0, help="seconds of timed posting per database"
    )
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DUTYPWA_BENCH_DATABASE_URL"),
        help="a PostgreSQL URL (its database gets an _ingest twin); default: "
        f"DUTYPWA_BENCH_DATABASE_URL, else {DEFAULT_POSTGRESQL} if it answers",
    )
    args = parser.parse_args()
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a PostgreSQL URL (SQLite always runs in a temp dir)")
    if args.devices < 1 or args.ops < args.devices * MAX_OPS:
        parser.error(f"--ops must be at least {MAX_OPS} per device")
    return args


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", flush=True)


def ingest_database_url(url: str) -> str:
    """`<name>_ingest` on the server of `url`, created if missing, its schema emptied."""
    parsed = make_url(url)
    name = parsed.database if parsed.database.endswith("_ingest") else f"{parsed.database}_ingest"
    # Only a catalogue look-up and CREATE DATABASE go through the given database.
    server = create_engine(
        parsed, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with server.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    ingest_url = parsed.set(database=name)
    engine = create_engine(ingest_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return ingest_url.render_as_string(hide_password=False)


def app_environment(url: str) -> dict:
    return {
        **os.environ,
        "FLASK_APP": "dutypwa",
        "DUTYPWA_SQLALCHEMY_DATABASE_URI": url,
        "DUTYPWA_SECRET_KEY": SECRET_KEY,
        "DUTYPWA_PASSWORD_HASH_METHOD": HASH_METHOD,
    }


def migrate(url: str) -> None:
    """The real migrations, as `flask db upgrade` runs them in production."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        cwd=ROOT,
        env=app_environment(url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{done.stdout}\n{done.stderr}")


@dataclass(frozen=True)
class Spot:
    id: int
    token: str
    checklist: tuple[str, ...]


def build_site(engine, *, checkpoint_count: int, staff: int) -> dict:
    """One site with its areas, checkpoints (a fifth with a checklist) and staff."""
    now = datetime.now(UTC)
    person = User()
    person.set_password(PASSWORD, method=HASH_METHOD)
    with engine.begin() as connection:
        site_id = connection.execute(
            insert(Site).values(code=SITE_CODE, name="压测花园", timezone="Asia/Shanghai")
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
                    "kind": "equipment" if n % 5 == 0 else "garden",
                    "description": "",
                    "checklist": CHECKLIST if n % 5 == 0 else [],
                    "active": True,
                    "token": f"ingest-token-{n + 1:06d}",
                    "code": f"{n + 1:05d}",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(checkpoint_count)
            ],
        )
        spots = [
            Spot(row.id, row.token, tuple(row.checklist))
            for row in connection.execute(
                select(Checkpoint.id, Checkpoint.token, Checkpoint.checklist)
                .where(Checkpoint.site_id == site_id)
                .order_by(Checkpoint.code)
            )
        ]
        usernames = [f"ingest-staff-{n}" for n in range(1, staff + 1)]
        connection.execute(
            insert(User),
            [
                {
                    "username": username,
                    "display_name": f"员工{n}",
                    "password_hash": person.password_hash,
                    "role": "staff",
                    "active": True,
                    "created_at": now,
                }
                for n, username in enumerate(usernames, start=1)
            ],
        )
        user_ids = connection.scalars(select(User.id).order_by(User.id)).all()
        connection.execute(
            insert(site_members), [{"user_id": user_id, "site_id": site_id} for user_id in user_ids]
        )
    return {"site_id": site_id, "spots": spots, "usernames": usernames, "user_ids": user_ids}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(url: str, *, workers: int, log: Path):
    """`gunicorn -w N wsgi:app` on a free loopback port; stopped on the way out, always."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    with log.open("w") as output:
        server = subprocess.Popen(
            [*command, "--log-level", "warning", "wsgi:app"],
            cwd=ROOT,
            env=app_environment(url),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(server, port, log)
        yield server, port
    except BaseException:
        print(f"gunicorn's log (last 40 lines):\n{tail(log, 40)}", file=sys.stderr)
        raise
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def tail(path: Path, lines: int) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until_up(server: subprocess.Popen, port: int, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.returncode}):\n{log.read_text()}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/login")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f}s:\n{log.read_text()}")


def cpu_seconds(master_pid: int) -> dict[str, float]:
    """CPU seconds used so far (user + system, from /proc) by the gunicorn workers (the
    master's children), PostgreSQL's processes, this process, and the whole machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {"app": 0.0, "postgres": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rpartition(")")[2].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        if int(fields[1]) == master_pid:  # ppid
            used["app"] += seconds
        elif name == "postgres":
            used["postgres"] += seconds
    used["client"] = os.times().user + os.times().system
    # The first line of /proc/stat: user nice system idle iowait irq softirq steal, in ticks.
    machine = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    used["machine"] = (sum(machine) - machine[3] - machine[4]) / ticks
    return used


def make_batches(spots: list[Spot], *, count: int, seed: str) -> list[list[dict]]:
    """`count` batches of check-in ops as the outbox sends them."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    batches = []
    for _ in range(count):
        ops = []
        for _ in range(MAX_OPS):
            spot = rng.choice(spots)
            fields = {f"item-{n}": "ok" for n in range(len(spot.checklist))}
            if spot.checklist and rng.random() < NOT_OK_RATE:
                broken = rng.randrange(len(spot.checklist))
                fields[f"item-{broken}"] = "not_ok"
                fields[f"note-{broken}"] = "读数偏低,已报修"
            fields["note"] = "" if rng.random() < 0.9 else "一切正常"
            visited = now - timedelta(seconds=rng.uniform(0, 600))
            ops.append(
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "kind": "checkin",
                    "device_time": visited.isoformat(),
                    "payload": {"token": spot.token, "fields": fields},
                }
            )
        batches.append(ops)
    return batches


class SimulatedDevice:
    """A phone: logs in through the login form, then flushes its outbox batch by batch.

    One http.client connection, reopened whenever the server closes it (gunicorn's sync
    workers close after each response); cookies are kept by hand.
    """

    def __init__(self, port: int, username: str, batches: list[list[dict]]):
        self.port = port
        self.username = username
        self.id = str(uuid.uuid4())
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.bodies = [json.dumps(ops).encode() for ops in batches]
        self.batches = batches
        self.pending = sum(len(ops) for ops in batches)
        self.latencies: list[float] = []
        self.sent_ops = 0
        self.sent_ids: list[str] = []
        self.error: str | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        for cookie in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def log_in(self) -> None:
        status, page = self.request("GET", "/login")
        token = CSRF_TOKEN.search(page)
        if status != 200 or token is None:
            raise RuntimeError(f"GET /login: {status}, csrf token found: {token is not None}")
        form = {
            "csrf_token": token.group(1).decode(),
            "username": self.username,
            "password": PASSWORD,
            "remember": "y",
        }
        status, _ = self.request(
            "POST",
            "/login",
            urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 302:
            raise RuntimeError(f"POST /login as {self.username}: {status}, expected 302")

    def sync(self, index: int, *, expect: str = "created") -> float:
        """Send batch `index`; check one `expect` result per op, in order; return seconds."""
        ops = self.batches[index]
        device = {
            "id": self.id,
            "outbox_size": self.pending,
            "oldest_pending": ops[0]["device_time"],
            "now": datetime.now(UTC).isoformat(),
        }
        body = b'{"device": %s, "ops": %s}' % (json.dumps(device).encode(), self.bodies[index])
        headers = {**SYNC_HEADERS, "Origin": f"http://127.0.0.1:{self.port}"}
        started = time.perf_counter()
        status, data = self.request("POST", "/api/v1/sync", body, headers)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"POST /api/v1/sync: {status} {data[:300]!r}")
        results = json.loads(data)["results"]
        answered = [(r["id"], r["status"]) for r in results]
        if answered != [(op["id"], expect) for op in ops]:
            wrong = next((r for r in results if r["status"] != expect), results[:2])
            raise RuntimeError(f"expected {expect} for every op, in order; got {wrong}")
        return elapsed

    def run(self, *, start: threading.Barrier, deadline: list[float]) -> None:
        """Warm up with the first batch, wait for the others, then send the rest."""
        try:
            self.log_in()
            self.sync(0)
            self.pending -= len(self.batches[0])
            start.wait(timeout=120)
            for index in range(1, len(self.batches)):
                if time.monotonic() > deadline[0]:
                    break
                self.latencies.append(self.sync(index))
                self.pending -= len(self.batches[index])
                self.sent_ops += len(self.batches[index])
                self.sent_ids += [op["id"] for op in self.batches[index]]
        except Exception as error:  # reported by the main thread
            self.error = f"{self.username}: {type(error).__name__}: {error}"
            start.abort()
        finally:
            self.connection.close()


@dataclass
class Result:
    database: str
    ops: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # cores busy on average
    core_rows: int = 0
    core_seconds: float = 0.0
    checks: list[str] = field(default_factory=list)

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds

    @property
    def core_rows_per_s(self) -> float:
        return self.core_rows / self.core_seconds


def post_checkins(port: int, site: dict, server_pid: int, args, result: Result) -> list:
    """Every device logs in and sends one warm-up batch; then all post the rest at once,
    timed from the moment the last one is ready."""
    batches = args.ops // MAX_OPS
    devices = [
        SimulatedDevice(
            port,
            site["usernames"][n],
            make_batches(
                site["spots"],
                count=1 + batches // args.devices + (n < batches % args.devices),
                seed=f"device-{n}",
            ),
        )
        for n in range(args.devices)
    ]
    started: dict = {}

    def go() -> None:  # run by the barrier once everyone is ready, before it lets them go
        started.update(cpu=cpu_seconds(server_pid), at=time.perf_counter())
        deadline[0] = time.monotonic() + args.time_limit

    deadline = [float("inf")]
    start = threading.Barrier(args.devices, action=go)
    threads = [
        threading.Thread(
            target=device.run, kwargs={"start": start, "deadline": deadline}, daemon=True
        )
        for device in devices
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.time_limit + 240)
    errors = [device.error for device in devices if device.error]
    if errors or any(thread.is_alive() for thread in threads):
        raise RuntimeError("devices failed:\n" + "\n".join(errors or ["a device hung"]))
    result.seconds = time.perf_counter() - started["at"]
    used = cpu_seconds(server_pid)
    result.cpu = {key: (used[key] - started["cpu"][key]) / result.seconds for key in used}
    result.ops = sum(device.sent_ops for device in devices)
    result.latencies = [latency for device in devices for latency in device.latencies]
    if result.ops < batches * MAX_OPS:
        result.checks.append(
            f"time limit ({args.time_limit:.0f}s) reached after {result.ops:,} ops"
        )
    return devices


def verify(engine, devices: list[SimulatedDevice], history: int, result: Result) -> None:
    """Every op sent stored exactly once, counted in the state table, with a finding per
    not-OK item; one device row per phone."""
    warmed = [op["id"] for device in devices for op in device.batches[0]]
    sent = set(warmed) | {op_id for device in devices for op_id in device.sent_ids}
    findings = sum(
        1
        for device in devices
        for ops in device.batches[: 1 + len(device.latencies)]
        for op in ops
        for answer in op["payload"]["fields"].values()
        if answer == "not_ok"
    )
    with engine.connect() as connection:
        stored = connection.scalars(select(CheckIn.id)).all()
        visits = connection.scalar(select(func.sum(CheckpointState.visit_count)))
        finding_rows = connection.scalar(select(func.count()).select_from(Finding))
        device_rows = connection.scalar(select(func.count()).select_from(Device))
    problems = []
    if len(stored) != history + len(sent) or not sent <= set(stored):
        problems.append(f"{len(stored):,} check-in rows for {len(sent):,} ops sent")
    if visits != history + len(sent):
        problems.append(
            f"checkpoint_state counts {visits:,} visits, expected {history + len(sent):,}"
        )
    if finding_rows != findings:
        problems.append(f"{finding_rows} findings, expected {findings}")
    if device_rows != len(devices):
        problems.append(f"{device_rows} device rows, expected {len(devices)}")
    if problems:
        raise RuntimeError("verification failed: " + "; ".join(problems))
    result.checks.append(
        f"stored once: {len(sent):,} check-ins (incl. {len(warmed):,} warm-up), "
        f"{finding_rows:,} findings, {device_rows} devices; state visits {visits:,} "
        f"(with {history:,} earlier)"
    )


def replay(device: SimulatedDevice, engine, result: Result) -> None:
    """The device resends a batch it already sent: every op answers duplicate."""
    with engine.connect() as connection:
        before = connection.scalar(select(func.count()).select_from(CheckIn))
    device.sync(1, expect="duplicate")
    device.connection.close()
    with engine.connect() as connection:
        after = connection.scalar(select(func.count()).select_from(CheckIn))
    if after != before:
        raise RuntimeError(f"replay stored {after - before} rows")
    result.checks.append(f"replayed batch: {MAX_OPS} x duplicate, nothing stored")


def checkin_rows(site: dict, count: int, *, seed: str, span: timedelta) -> list[dict]:
    """Check-in rows as record_checkin writes them, visited within the last `span`."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows = []
    for _ in range(count):
        spot = rng.choice(site["spots"])
        op_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        visited = now - timedelta(seconds=rng.uniform(0, span.total_seconds()))
        rows.append(
            {
                "id": op_id,
                "site_id": site["site_id"],
                "checkpoint_id": spot.id,
                "user_id": rng.choice(site["user_ids"]),
                "device_time": visited,
                "received_at": now,
                "clock_offset_s": 0.01,
                "visited_at": visited,
                "clock_flagged": False,
                "token": spot.token,
                "results": [{"item": item, "ok": True, "note": ""} for item in spot.checklist],
                "note": "",
                "payload_hash": hashlib.sha256(op_id.encode()).hexdigest(),
                "device_id": None,
            }
        )
    return rows


def load_history(engine, site: dict, count: int) -> None:
    """Earlier check-ins and the state rows they leave, as a site in use has (ingest into
    an empty table is not what production sees); then the ANALYZE autovacuum would run."""
    rows = checkin_rows(site, count, seed="history", span=timedelta(days=HISTORY_DAYS))
    now = datetime.now(UTC)
    states: dict[int, dict] = {}
    for row in rows:
        state = states.setdefault(
            row["checkpoint_id"],
            {
                "checkpoint_id": row["checkpoint_id"],
                "site_id": row["site_id"],
                "last_visit_at": row["visited_at"],
                "visit_count": 0,
                "open_findings": 0,
                "updated_at": now,
            },
        )
        if row["visited_at"] >= state["last_visit_at"]:
            state.update(
                last_checkin_id=row["id"],
                last_visit_at=row["visited_at"],
                last_user_id=row["user_id"],
            )
        state["visit_count"] += 1
    with engine.begin() as connection:
        for start in range(0, len(rows), HISTORY_CHUNK):
            connection.execute(insert(CheckIn.__table__), rows[start : start + HISTORY_CHUNK])
        if states:
            connection.execute(insert(CheckpointState.__table__), list(states.values()))
        if connection.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))


def core_baseline(engine, site: dict, count: int, result: Result) -> None:
    """The same number of rows inserted with Core executemany, one transaction per
    batch of 100 as the app commits, in this one process."""
    rows = checkin_rows(site, count, seed="core", span=timedelta(minutes=10))
    table = CheckIn.__table__
    started = time.perf_counter()
    for start in range(0, len(rows), MAX_OPS):
        with engine.begin() as connection:
            connection.execute(insert(table), rows[start : start + MAX_OPS])
    result.core_seconds = time.perf_counter() - started
    result.core_rows = len(rows)


def bench(url: str, label: str, args, tmp: Path) -> Result:
    result = Result(label)
    migrate(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        engine = db.engine
    try:
        site = build_site(engine, checkpoint_count=args.checkpoints, staff=args.devices)
        load_history(engine, site, args.history)
        progress(
            f"{label}: migrated; site {SITE_CODE} with {len(site['spots'])} checkpoints, "
            f"{args.devices} staff and {args.history:,} earlier check-ins; "
            f"starting gunicorn -w {args.workers}"
        )
        with gunicorn(url, workers=args.workers, log=tmp / f"gunicorn-{label}.log") as (
            server,
            port,
        ):
            progress(f"{label}: {args.devices} devices post {args.ops:,} ops in batches")
            devices = post_checkins(port, site, server.pid, args, result)
            progress(f"{label}: {result.ops:,} ops in {result.seconds:.1f}s; verifying")
            verify(engine, devices, args.history, result)
            replay(devices[0], engine, result)
        progress(f"{label}: gunicorn stopped; Core baseline, {result.ops:,} rows")
        core_baseline(engine, site, result.ops, result)
    finally:
        engine.dispose()
    return result


def main() -> None:
    args = parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="dutypwa-ingest-") as tmp:
        if args.only != "postgresql":
            url = f"sqlite:///{Path(tmp) / 'ingest.sqlite3'}"
            results.append(bench(url, "SQLite", args, Path(tmp)))
        if args.only != "sqlite":
            given = args.database_url
            try:
                url = ingest_database_url(given or DEFAULT_POSTGRESQL)
            except Exception as error:
                if given or args.only:
                    raise
                progress(f"PostgreSQL skipped ({DEFAULT_POSTGRESQL} did not answer: {error})")
            else:
                results.append(bench(url, "PostgreSQL", args, Path(tmp)))
    report(results, args)


def report(results: list[Result], args) -> None:
    columns = (
        ("database", "{database}"),
        ("ops", "{ops:,}"),
        ("seconds", "{seconds:.1f}"),
        ("ops/s", "{ops_per_s:,.0f}"),
        ("median ms", "{median:.1f}"),
        ("p95 ms", "{p95:.1f}"),
        ("app CPU", "{app:.2f}"),
        ("PG CPU", "{postgres:.2f}"),
        ("client CPU", "{client:.2f}"),
        ("other CPU", "{other:.2f}"),
        ("Core rows/s", "{core_rows_per_s:,.0f}"),
        ("app / Core", "{ratio:.2f}"),
    )
    lines = [[title for title, _ in columns]]
    for result in results:
        latencies_ms = [latency * 1000 for latency in result.latencies]
        values = {
            "database": result.database,
            "ops": result.ops,
            "seconds": result.seconds,
            "ops_per_s": result.ops_per_s,
            "median": statistics.median(latencies_ms),
            "p95": statistics.quantiles(latencies_ms, n=20)[-1],
            **result.cpu,
            # /proc counts clock ticks: on a quiet machine the rest can come out at -0.01.
            "other": max(
                0.0,
                result.cpu["machine"]
                - sum(result.cpu[key] for key in ("app", "postgres", "client")),
            ),
            "core_rows_per_s": result.core_rows_per_s,
            "ratio": result.ops_per_s / result.core_rows_per_s,
        }
        lines.append([cell.format(**values) for _, cell in columns])
    widths = [max(len(line[n]) for line in lines) for n in range(len(columns))]
    print(
        f"\ncheck-in ingest via POST /api/v1/sync: gunicorn -w {args.workers}, "
        f"{args.devices} devices, {MAX_OPS} ops per request, {os.cpu_count()} CPUs"
    )
    for line in lines:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
    for result in results:
        for check in result.checks:
            print(f"{result.database}: {check}")
    print(
        "(latency: one request of 100 ops, queueing included. CPU: cores busy on average "
        "while posting: the gunicorn workers, PostgreSQL's processes, these simulated "
        "devices, and everything else on the machine. Core: executemany into the checkin "
        "table, one transaction per 100 rows, one process, no app)"
    )
    for result in results:
        met = "met" if result.ops_per_s >= TARGET_OPS else "NOT met"
        print(f"target >= {TARGET_OPS:,} ops/s batched, {result.database}: {met}")


if __name__ == "__main__":
    main()
