"""The page-health crawl (issue 11 §4): every GET endpoint a role may use, visited in
Chromium with the service worker installed and controlling the page, as staff (1001), the
supervisor (2001), the director (3001), the administrator and an enrolled station tablet,
at the sizes they use — and each checked with tests/e2e/health.py: no 5xx, no script or
console error, no sideways overflow, no torn table, no rule ID in the text, and (at one
size per role) no serious or critical axe-core violation.

Which endpoints a role may use comes from the app's url_map and the authorisation matrix
(tests/test_access.py); the crawl fails when one of them was not visited, unless EXCLUDED
names it with a reason. Pages that only exist as htmx fragments are visited by clicking
what swaps them in, and checked after the swap. The crawl runs on a demo server of its own
(it enrols a tablet, declares an all-hands period and asks for leave), on SQLite only.
"""

import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from dutypwa import create_app
from dutypwa.extensions import db
from dutypwa.models import (
    AllHands,
    Area,
    CheckIn,
    DutyEntry,
    Finding,
    FollowUp,
    Handover,
    HolidayYear,
    Post,
    RepetitionReport,
    RosterMonth,
    RosterRequest,
    Route,
    Site,
    User,
)
from dutypwa.models.base import utcnow
from dutypwa.roster.all_hands import declare
from dutypwa.roster.requests import create_request
from tests.e2e.conftest import CONTROLLED, AppProfile, ServerDB, serve_demo, start_app
from tests.e2e.health import page_problems, watch
from tests.test_access import API, API_AND_STATION, EXPECTED, PUBLIC, STATION

pytestmark = pytest.mark.e2e

SITE = "CUIHU"
STATION_POST = "客户服务中心"  # the demo's signed handover is there (station.done)
PIN = "1234"

SIZES = {
    "phone": {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True},
    "tablet": {"viewport": {"width": 1024, "height": 768}, "is_mobile": False, "has_touch": True},
    "desk": {"viewport": {"width": 1366, "height": 900}, "is_mobile": False, "has_touch": False},
}


@dataclass(frozen=True)
class Pass:
    role: str
    username: str  # who logs in (the station: the supervisor who enrols the tablet)
    size: str
    axe: bool  # axe-core at one size per role, to keep time

    @property
    def name(self) -> str:
        return f"{self.role}-{self.size}"


PASSES = [
    Pass("staff", "1001", "phone", axe=True),
    Pass("supervisor", "2001", "phone", axe=True),
    Pass("supervisor", "2001", "desk", axe=False),
    Pass("director", "3001", "desk", axe=True),
    Pass("admin", "admin", "desk", axe=True),
    Pass("station", "2001", "tablet", axe=True),
]

# GET endpoints a role may use that are not pages a person reads, and why they are left out.
EXCLUDED = {
    "pwa.service_worker": "the service worker's script; it controls every crawled page",
    "pwa.worker_module": "the worker's ES modules (JavaScript), loaded by the worker",
    "pwa.manifest": "JSON; installability is checked in test_browser_smoke / test_pwa",
    "sync.openapi": "JSON API description",
    "sync.reference": "JSON API (the phone's reference data, fetched by the app)",
    "station.reference": "JSON (the station's offline reference, fetched by the worker)",
    "calendar_feed.feed": "an ICS calendar download",
    "calendar_feed.month_file": "an ICS calendar download",
    "photos.photo": "a JPEG, shown inside the pages (the demo has no photos)",
    "photos.thumbnail": "a JPEG, shown inside the pages (the demo has no photos)",
    "qr.checkpoint_qr": "an SVG image of a QR code",
    "checkpoints.export_csv": "a CSV download",
    "reports.targets_csv": "a CSV download",
    "handover_views.post_csv": "a CSV download",
    "handover_views.person_csv": "a CSV download",
    "handover_views.post_xlsx": "an Excel download",
    "handover_views.person_xlsx": "an Excel download",
    "roster_excel.export": "an Excel download",
    "pwa.op_result": "the server's answer to a queued write, polled by the page that queued "
    "it (nothing to show without one); the flows that queue writes check it after the swap",
}

# Endpoints that answer with a redirect by design: the page reached is the one checked.
REDIRECTS = {
    "auth.home": "to the person's patrol or coverage (or the site list of a multi-site admin)",
    "roster.index": "to this month's roster",
}

# Fragment-only endpoints (no page of their own), visited by clicking what swaps them in on
# their host page, in this order: the edit form, then its cancel button's row.
SWAPS = {
    "checkpoints.index": ["checkpoints.edit", "checkpoints.row"],
    "places.index": [
        "places.edit_area",
        "places.area_row",
        "places.edit_post",
        "places.post_row",
        "places.edit_route",
        "places.route_row",
    ],
    "admin.users": ["admin.edit_user", "admin.user_row"],
    "admin.sites": ["admin.edit_site", "admin.site_row"],
}
FRAGMENTS = {endpoint for chain in SWAPS.values() for endpoint in chain}
# Loaded by the pages themselves (hx-trigger="load"), counted when a page has fetched them.
LOADED_BY_PAGES = {"supervisor.badge"}

# Pages to look at afterwards (what the screen shows first), as test-artifacts/health-*.png.
SHOTS = {"patrol.my_patrol", "dashboard.coverage", "supervisor.day", "roster.month",
         "station.home", "station.handover", "all_hands.show"}  # fmt: skip

# The station's pages, in the order a handover walks through them.
STATION_PAGES = [
    "station.home",
    "station.shell",
    "station.people",
    "station.pin",
    "station.start",
    "station.handover",
    "station.done",
]


def may_use(role: str, endpoint: str) -> bool:
    """The authorisation matrix's answer (tests/test_access.py EXPECTED)."""
    allowed = EXPECTED[endpoint]
    if allowed is PUBLIC or allowed in (API, API_AND_STATION):
        return True
    if allowed is STATION or role == "station":
        # A station is a tablet, not a person: to people's pages it is anonymous.
        return allowed is STATION and role == "station"
    return role in allowed


def get_rules(app) -> dict[str, Rule]:
    rules = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static" and "GET" in rule.methods:
            assert rule.endpoint not in rules, f"two GET rules for {rule.endpoint}"
            rules[rule.endpoint] = rule
    return rules


def unmatrixed(app) -> list[str]:
    """GET endpoints the authorisation matrix does not know (test_access fails on them too)."""
    return sorted(set(get_rules(app)) - set(EXPECTED))


def required(app, role: str) -> set[str]:
    endpoints = set(get_rules(app)) - set(unmatrixed(app))
    return {endpoint for endpoint in endpoints if may_use(role, endpoint)} - set(EXCLUDED)


# The crawl's own server, with what the demo lacks: an all-hands period and a request.


@pytest.fixture(scope="module")
def crawl_server(_browser_available, tmp_path_factory, artifacts):
    if os.environ.get("DUTYPWA_TEST_DATABASE_URL"):
        pytest.skip("the page-health crawl runs once, on SQLite (it checks pages, not SQL)")
    with serve_demo(tmp_path_factory, artifacts, name="page-health") as server:
        yield server


@pytest.fixture(scope="module")
def crawl_app(crawl_server):
    """The app (its url_map, its verbs) on the crawl server's database."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": crawl_server.database_url, "SECRET_KEY": "x"})
    with app.app_context(), app.test_request_context():
        site = db.session.scalar(select(Site).where(Site.code == SITE))
        people = {u.username: u for u in db.session.scalars(select(User))}
        now = utcnow()
        # R7: a typhoon tonight, so the all-hands pages and their banner have something.
        declare(site, by=people["2001"], op_id="00000000-0000-4000-8000-00000000a11a",
                kind="typhoon", starts_at=None, until=now + timedelta(hours=6),
                level="橙色预警", instructions="全员在岗待命", now=now)  # fmt: skip
        # R4: 张伟 asks for leave, so the supervisor has a request to decide.
        notice = int(site.setting("roster_request_notice_days"))
        first_day = site.local(now).date() + timedelta(days=notice + 3)
        create_request(site, by=people["1001"], op_id="00000000-0000-4000-8000-0000000001ea",
                       device_time=now, kind="leave", reason="家中有事",
                       first_day=first_day, last_day=first_day)  # fmt: skip
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # this process's connections to the server's database
    return app


@pytest.fixture(scope="module")
def crawl_db(crawl_server):
    server_db = ServerDB(crawl_server.database_url)
    yield server_db
    server_db.engine.dispose()


# What demo_values fills in: the arguments of the crawled endpoints' URLs.
DEMO_ARGUMENTS = {
    "site_code", "token", "checkpoint_id", "checkin_id", "area_id", "post_id", "route_id",
    "finding_id", "entry_id", "follow_up_id", "report_id", "handover_id", "user_id",
    "site_id", "year", "day", "month", "request_id", "all_hands_id",
}  # fmt: skip


def demo_values(server_db: ServerDB, role: str, username: str) -> dict:
    """What the URLs need, from the server's database: one demo object of each kind."""

    def first(model, *conditions, order=None):
        statement = select(model).join(Site).where(Site.code == SITE, *conditions)
        return server_db.scalar(statement.order_by(model.id if order is None else order).limit(1))

    staff = server_db.user("1001")
    checkpoint = server_db.checkpoint("001")
    handover = first(Handover, Handover.status == "signed")
    month = first(RosterMonth, RosterMonth.status == "published", order=RosterMonth.month.desc())
    site = server_db.scalar(select(Site).where(Site.code == SITE))
    person = server_db.user(username) if role == "staff" else staff
    values = {
        "site_code": SITE,
        "token": checkpoint.token,
        "checkpoint_id": checkpoint.id,
        "checkin_id": first(CheckIn, CheckIn.user_id == staff.id).id,
        "area_id": first(Area).id,
        "post_id": first(Post, Post.name == STATION_POST).id,
        "route_id": first(Route).id,
        "finding_id": first(Finding).id,
        "entry_id": first(DutyEntry).id,
        "follow_up_id": first(FollowUp).id,
        "report_id": first(RepetitionReport).id,
        "handover_id": handover.id,
        "user_id": person.id,
        "site_id": site.id,
        "year": server_db.scalar(select(HolidayYear.year).order_by(HolidayYear.year).limit(1)),
        "day": site.local(utcnow()).date().isoformat(),
        "month": month.month,
        "request_id": first(RosterRequest).id,
        "all_hands_id": first(AllHands).id,
    }
    assert set(values) == DEMO_ARGUMENTS
    return values


# The crawl


@dataclass
class Crawl:
    app: object
    role: str
    page: object
    axe: bool
    shots: Path  # test-artifacts/health-<pass>-<endpoint>.png of the SHOTS pages
    visited: set = field(default_factory=set)
    problems: list = field(default_factory=list)
    checked: int = 0

    def endpoint_of(self, url: str) -> str | None:
        adapter = self.app.url_map.bind("localhost")
        try:
            return adapter.match(urlsplit(url).path, method="GET")[0]
        except HTTPException:
            return None

    def settle(self) -> None:
        """The page's own htmx requests (hx-trigger="load") answered and swapped."""
        self.page.wait_for_load_state("load")
        self.page.wait_for_function("() => !document.querySelector('.htmx-request')")

    def check(self, what: str) -> None:
        self.settle()
        found = page_problems(self.page, axe=self.axe)
        # The tablet is nobody's login: the enrolling supervisor was logged out on it.
        who = self.page.evaluate("() => document.body.dataset.userId || null")
        if self.role == "station" and who:
            found.append(f"the tablet is logged in as user {who} (the enrolling "
                         "supervisor's session came back)")  # fmt: skip
        self.checked += 1
        self.problems += [f"{self.role} {what}: {problem}" for problem in found]

    def visit(self, endpoint: str, url: str) -> None:
        """Open the page; it counts as visited when it is that endpoint's page (or its
        designed redirect) and answered below 400."""
        try:
            response = self.page.goto(url)
        except PlaywrightError as error:
            self.problems.append(f"{self.role} {url}: {error.message.splitlines()[0]}")
            return
        reached = self.endpoint_of(self.page.url)
        if response is not None and response.status < 400:
            if reached == endpoint or endpoint in REDIRECTS:
                self.visited.add(endpoint)
            else:
                self.problems.append(f"{self.role} {url}: went to {self.page.url} ({reached})")
        self.check(url)
        self.shoot(endpoint)

    def shoot(self, endpoint: str) -> None:
        if endpoint in SHOTS:
            self.page.screenshot(path=f"{self.shots}-{endpoint}.png")

    def swap(self, endpoint: str) -> None:
        """Click the first element on the page whose hx-get is `endpoint`'s, and check the
        page after the swap."""
        targets = self.page.eval_on_selector_all(
            "[hx-get]", "(elements) => elements.map((e) => e.getAttribute('hx-get'))"
        )
        url = next((url for url in targets if self.endpoint_of(url) == endpoint), None)
        if url is None:
            self.problems.append(f"{self.role} {self.page.url}: nothing swaps in {endpoint}")
            return
        with self.page.expect_response(lambda r: urlsplit(r.url).path == url) as answer:
            self.page.locator(f'[hx-get="{url}"]').first.click()
        if answer.value.status < 400:
            self.visited.add(endpoint)
        self.check(f"{urlsplit(self.page.url).path} after the swap of {url}")

    def note_loaded(self, response) -> None:
        if response.request.is_navigation_request() or response.status >= 400:
            return
        endpoint = self.endpoint_of(response.url)
        if endpoint in LOADED_BY_PAGES:
            self.visited.add(endpoint)


def crawl_pages(crawl: Crawl, rules: dict, values: dict, endpoints: set) -> None:
    for endpoint in sorted(endpoints - FRAGMENTS - LOADED_BY_PAGES):
        rule = rules[endpoint]
        if unknown := set(rule.arguments) - set(values):
            crawl.problems.append(f"teach the crawl (demo_values) {unknown} for {endpoint}")
            continue
        url = rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)[1]
        crawl.visit(endpoint, url)
        for fragment in SWAPS.get(endpoint, []):
            if fragment in endpoints:
                crawl.swap(fragment)


def crawl_station(crawl: Crawl, values: dict, relief: User) -> None:
    """A handover's pages on the enrolled tablet: home, the offline station, 陈杰 chooses
    his name, enters his PIN, checks in as the relief; then the last handover's end page.
    A step a person cannot take (a key covered, a refusal) is a problem, and the walk goes
    on to the next page."""
    page = crawl.page
    crawl.visit("station.home", "/station")
    crawl.visit("station.shell", "/station/app")
    crawl.visit("station.people", "/station/people?then=arrive")
    crawl.visit("station.pin", f"/station/people/{relief.id}/pin?then=arrive")
    try:
        pad = page.locator("#pin-form")
        for digit in PIN:
            pad.locator(f"[data-digit='{digit}']").click(timeout=5_000)
        tapped(crawl, "the PIN pad's 确定", pad.locator("button[type=submit]"))
        page.wait_for_url("**/station/start")
        crawl.visited.add("station.start")
        crawl.check("/station/start after the PIN")
        tapped(crawl, "立即签到", page.locator("#start-form button[type=submit]"))
        page.wait_for_url("**/station/handovers/*", timeout=15_000)
        crawl.visited.add("station.handover")
        crawl.check(f"{urlsplit(page.url).path} after checking in")
        crawl.shoot("station.handover")
    except PlaywrightError as error:
        crawl.problems.append(f"station {urlsplit(page.url).path}: {error.message.splitlines()[0]}")
        crawl.check(f"{urlsplit(page.url).path} where the handover stopped")
        page.screenshot(path=f"{crawl.shots}-stopped.png")
    crawl.visit("station.done", f"/station/handovers/{values['handover_id']}/done")


def tapped(crawl: Crawl, what: str, button) -> None:
    """Tap as a finger would: whatever covers the button would get the tap instead (a
    problem; the walk goes on with a click sent to the button itself)."""
    button.scroll_into_view_if_needed(timeout=5_000)
    covering = button.evaluate("""(element) => {
      const box = element.getBoundingClientRect();
      const top = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
      return top && top !== element && !element.contains(top)
        ? (top.closest('[data-banner]')?.dataset.banner || top.tagName.toLowerCase()) : null;
    }""")
    if covering:
        crawl.problems.append(f"station {urlsplit(crawl.page.url).path}: {what} is covered "
                              f"by {covering}")  # fmt: skip
        crawl.page.screenshot(path=f"{crawl.shots}-covered.png")
    if covering:
        button.dispatch_event("click")
    else:
        button.click(timeout=5_000)


def enrol_station(page) -> None:
    """The supervisor enrols this tablet as the post's station and is logged out on it."""
    page.goto(f"/s/{SITE}/stations")
    enrol = page.locator("#enrol-form")
    enrol.locator("select[name=post_id]").select_option(label=STATION_POST)
    enrol.locator("input[name=name]").fill("巡检平板")
    enrol.locator("button[type=submit]").click()
    page.wait_for_url("**/station")
    page.wait_for_function(CONTROLLED)


TOTALS: dict[str, tuple[int, int]] = {}


@pytest.mark.parametrize("run", PASSES, ids=lambda run: run.name)
def test_page_health(
    run, crawl_app, crawl_server, crawl_db, browser, login_as, artifacts, tmp_path, capsys
):
    """Every page this role may use, at this size, healthy; none left unvisited."""
    started = time.monotonic()
    rules = get_rules(crawl_app)
    endpoints = required(crawl_app, run.role)
    values = demo_values(crawl_db, run.role, run.username)
    profile = AppProfile(browser.browser_type, tmp_path / "profile", crawl_server.url)
    try:
        page = start_app(profile, login_as, run.username, **SIZES[run.size])
        crawl = Crawl(crawl_app, run.role, page, run.axe, artifacts / f"health-{run.name}")
        watch(page)
        page.on("response", crawl.note_loaded)
        if run.role == "station":
            enrol_station(page)
            crawl.visit("auth.login", "/login")
            crawl.visit("pwa.offline", "/offline")
            crawl_station(crawl, values, crawl_db.user("1003"))
        else:
            crawl_pages(crawl, rules, values, endpoints)
    finally:
        profile.close()

    missing = sorted(endpoints - crawl.visited)
    visited = len(endpoints & crawl.visited)
    seconds = time.monotonic() - started
    TOTALS[run.name] = (visited, crawl.checked)
    with capsys.disabled():
        print(
            f"\npage health {run.name}: {visited} endpoints, {crawl.checked} "
            f"page states checked{' with axe-core' if run.axe else ''}, {seconds:.0f} s; "
            f"{len(TOTALS)} passes so far: {sum(n for n, _ in TOTALS.values())} "
            f"endpoints × roles × sizes"
        )
    failures = crawl.problems
    if missing:
        failures.append(f"endpoints this role may use were not visited: {missing}")
    if unmatrixed(crawl_app):
        failures.append(f"GET endpoints not in the authorisation matrix: {unmatrixed(crawl_app)}")
    assert not failures, f"{run.name}: {len(failures)} problems:\n" + "\n".join(failures)


@pytest.mark.parametrize("run", PASSES, ids=lambda run: run.name)
def test_the_crawl_has_a_way_to_every_page(run):
    """Without a browser, at once: each endpoint the role may use is built from demo
    values, swapped in on a host page the role opens, fetched by the pages, or walked
    through on the station — so a new route the crawl does not know fails here first."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    rules, endpoints = get_rules(app), required(app, run.role)
    hosts = {fragment: host for host, chain in SWAPS.items() for fragment in chain}
    if run.role == "station":
        assert endpoints - {"auth.login", "pwa.offline"} == set(STATION_PAGES)
        return
    for endpoint in endpoints:
        if endpoint in FRAGMENTS:
            assert hosts[endpoint] in endpoints, f"{endpoint}: its host page is not {run.role}'s"
        elif endpoint not in LOADED_BY_PAGES:
            unknown = set(rules[endpoint].arguments) - DEMO_ARGUMENTS
            assert not unknown, f"teach demo_values {unknown} for {endpoint}"
    assert not unmatrixed(app), f"not in the authorisation matrix: {unmatrixed(app)}"


# The checks themselves: a page made to fail each one.

SICK_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>病页</title>
</head><body><main>
<h1>检查</h1>
<div style="width: 2000px">太宽</div>
<p style="color: #bbb; background: #fff">看不清的字</p>
<p>此项依据 R5 规则</p>
<table><thead><tr><th>日</th><th>人</th><th>班</th></tr></thead>
<tbody><tr><td rowspan="2">1</td><td colspan="2">张伟 白班</td></tr>
<tr><td>刘芳</td><td>夜</td></tr>
<tr><td>2</td><td>陈杰</td></tr></tbody></table>
<div class="roster-scroll" style="overflow-x:auto; width:99px"><p style="width: 900px">x</p></div>
<div class="other" style="overflow-x:auto; width:99px"><p style="width: 900px">y</p></div>
<script src="/boom.js"></script><script src="/fails.js"></script>
</main></body></html>"""


def test_the_checks_catch_what_they_guard(browser):
    """Each check fails the page it should: a 5xx, a script error, a console error, a page
    wider than the window, a sideways scroller not named, a torn table row (rowspans and
    colspans counted), a rule ID in the text, an axe-core contrast failure."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.route("http://health.test/", lambda route: route.fulfill(body=SICK_PAGE,
               content_type="text/html"))  # fmt: skip
    page.route("http://health.test/boom.js", lambda route: route.fulfill(status=502, body=""))
    script = "console.error('bad'); undefinedFunction();"
    page.route("http://health.test/fails.js", lambda route: route.fulfill(body=script,
               content_type="text/javascript"))  # fmt: skip
    watch(page)
    page.goto("http://health.test/")
    problems = page_problems(page, axe=True)
    context.close()
    expected = [
        "502 for GET /boom.js",
        "pageerror: undefinedFunction is not defined",
        "console error: bad",
        "px wide in a 360 px window: div (right edge 2008)",
        "div.other scrolls sideways (900 px in 99 px)",
        'table (table 1): row 4 (no id, "2\t陈杰") has 2 columns, its header 3',
        "the rule ID R5 is shown to people",
        "axe serious color-contrast",
    ]
    text = "\n".join(problems)
    for words in expected:
        assert any(words in problem for problem in problems), f"{words}\n{text}"
    assert len([p for p in problems if "columns, its header" in p]) == 1, text
    assert "roster-scroll scrolls" not in text and "right edge 908" not in text, text
