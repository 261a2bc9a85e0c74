"""Benchmark of the roster editor: a site with 120 people and 12 posts (two of them never
unstaffed), a full month of 12-hour shifts, and a month before it. Times, through the test
client as the browser asks for them, logged in as the supervisor:

- a cell edit (POST /s/<code>/roster/<month>/cell, htmx) with every check and the answer's
  out-of-band coverage row, problems and version — alternately setting and clearing a cell
  of a rest day, so each edit really writes;
- the whole month grid (GET /s/<code>/roster/<month>).

Prints the median and p95 of each; the target is p95 < 100 ms for an edit. Asserts no
timing.

    .venv/bin/python bench/roster.py [--database-url postgresql+psycopg://…/test]

A PostgreSQL URL is never used as given: the benchmark works in `<name>_bench` (as
bench/coverage.py does), dropping and recreating its schema.
"""

import argparse
import gc
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# bench/ is this script's folder, first on sys.path: `coverage` is bench/coverage.py.
from coverage import bench_database_url, progress, reset_schema

from dutypwa import create_app
from dutypwa.extensions import db
from dutypwa.models import HolidayYear, Post, ShiftTemplate, Site, User
from dutypwa.roster import core

SITE_CODE = "BENCH"
PASSWORD = "bench-pass-1"
PEOPLE = 120
POSTS = 12
NEVER_UNSTAFFED = 2
TARGET_P95_MS = 100.0
WARMUP = 3
MONTH = date(2031, 3, 1)
LONG_AGO = datetime(2030, 1, 1, tzinfo=UTC)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60, help="timed requests per URL")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="skip gc.freeze() after start-up (wsgi.py does it in production)",
    )
    return parser.parse_args()


def build(app) -> dict:
    """120 people over 12 posts, 10 a post; each works day, night, rest, rest in turn, so
    every post has someone at every minute and every person a rest day to edit."""
    with app.app_context():
        site = Site(code=SITE_CODE, name="基准项目", timezone="Asia/Shanghai")
        db.session.add(site)
        db.session.add(HolidayYear(year=MONTH.year, status="published"))
        supervisor = User(username="sup", display_name="主管", role="supervisor", sites=[site])
        supervisor.set_password(PASSWORD, method="pbkdf2:sha256:1000")
        db.session.add(supervisor)
        for code, name, segments in (("D", "白班", [[480, 1200]]), ("N", "夜班", [[1200, 1920]])):
            db.session.add(ShiftTemplate(site=site, code=code, name=name, segments=segments))
        posts = [
            Post(site=site, name=f"岗位{n + 1:02d}", never_unstaffed=n < NEVER_UNSTAFFED)
            for n in range(POSTS)
        ]
        db.session.add_all(posts)
        people = []
        for n in range(PEOPLE):
            person = User(username=f"p{n:03d}", display_name=f"员工{n + 1:03d}", sites=[site])
            person.set_password(PASSWORD, method="pbkdf2:sha256:1000")
            people.append(person)
        db.session.add_all(people)
        db.session.commit()
        previous = core.month_of(site, (MONTH - timedelta(days=1)).replace(day=1), create=True)
        month = core.month_of(site, MONTH, create=True)
        cells = []
        for index, person in enumerate(people):
            post = posts[index % POSTS]
            core.add_row(month, post=post, person=person, by=supervisor)
            for offset, day in enumerate([MONTH - timedelta(days=1), *core.month_days(MONTH)]):
                code = ("D", "N", "", "")[(offset + index // POSTS) % 4]
                target = previous if day < MONTH else month
                if code:
                    cells.append((target, post, person, day, code))
                elif day >= MONTH and (offset + index // POSTS) % 4 == 3 and len(cells) % 5 == 0:
                    # The second rest day: a day shift there keeps 12 hours' rest either side.
                    cells.append((None, post, person, day, ""))
        rest_days = [(post.id, person.id, day) for target, post, person, day, _ in cells
                     if target is None]  # fmt: skip
        progress(f"writing {sum(1 for c in cells if c[0] is not None):,} shifts")
        context = core.context_of(site, MONTH)
        for target, post, person, day, code in cells:
            if target is not None:
                core.set_cell(target, by=supervisor, post=post, person=person, day=day,
                              code=code, version=target.version, now=LONG_AGO,
                              context=context)  # fmt: skip
        db.session.commit()
        return {"month": month.month, "rest_days": rest_days[:40]}


def measure(app, built: dict, requests: int) -> dict:
    client = app.test_client()
    client.post("/login", data={"username": "sup", "password": PASSWORD})
    grid_url = f"/s/{SITE_CODE}/roster/{built['month']}"
    cell_url = f"{grid_url}/cell"
    version = {"value": None}

    def current_version():
        with app.app_context():
            site = db.session.query(Site).filter_by(code=SITE_CODE).one()
            return core.month_of(site, MONTH).version

    def edit(index: int):
        post_id, person_id, day = built["rest_days"][(index // 2) % len(built["rest_days"])]
        data = {"post": post_id, "person": person_id, "day": day.isoformat(),
                "code": "D" if index % 2 == 0 else "", "version": version["value"]}  # fmt: skip
        response = client.post(cell_url, data=data, headers={"HX-Request": "true"})
        if response.status_code != 200:
            raise SystemExit(f"cell edit answered {response.status_code}: "
                             f"{response.get_data(as_text=True)[:300]}")  # fmt: skip
        version["value"] += 1
        return response

    def grid(_index: int):
        response = client.get(grid_url)
        assert response.status_code == 200
        return response

    results = {}
    for name, call in (("cell edit (checks + out-of-band rows)", edit), ("month grid", grid)):
        version["value"] = current_version()
        for index in range(WARMUP):
            call(index)
        timings = []
        for index in range(WARMUP, WARMUP + requests):
            started = time.perf_counter()
            call(index)
            timings.append((time.perf_counter() - started) * 1000)
        results[name] = {
            "median": statistics.median(timings),
            "p95": statistics.quantiles(timings, n=20)[-1],
            "max": max(timings),
        }
    return results


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="dutypwa-bench-") as tmp:
        url = bench_database_url(args.database_url, Path(tmp))
        app = create_app({"TESTING": True, "SECRET_KEY": "bench-secret",
                          "WTF_CSRF_ENABLED": False, "SQLALCHEMY_DATABASE_URI": url})  # fmt: skip
        with app.app_context():
            engine = db.engine
        progress(f"database: {engine.url.render_as_string(hide_password=True)}")
        reset_schema(engine)
        started = time.perf_counter()
        built = build(app)
        progress(f"{PEOPLE} people, {POSTS} posts, built in {time.perf_counter() - started:.1f}s")
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        results = measure(app, built, args.requests)
        engine.dispose()
        frozen = "gc.freeze()" if args.gc_freeze else "no gc.freeze()"
        print(f"\nroster editor on {engine.dialect.name}, {args.requests} requests each, "
              f"{frozen} (ms)")  # fmt: skip
        for name, figures in results.items():
            print(f"  {name:42s} median {figures['median']:7.1f}   p95 {figures['p95']:7.1f}"
                  f"   max {figures['max']:7.1f}")  # fmt: skip
        edit_p95 = results["cell edit (checks + out-of-band rows)"]["p95"]
        verdict = "met" if edit_p95 < TARGET_P95_MS else "NOT met"
        print(f"  target: edit p95 < {TARGET_P95_MS:.0f} ms — {verdict} ({edit_p95:.1f} ms)")


if __name__ == "__main__":
    main()
