"""Escalation in a real Chromium at phone size (360 × 740), the issue's "done when" line:
an emergency logged by duty staff and ignored escalates to the director by itself (D3,
D11); the director finds it in the inbox with the reason and acknowledges it; the
supervisor's nav badge shows what waits for them.

The emergencies are written into the live server's database with the domain's own
record_entry(), dated in the past: the server's clock (run at the start of each page that
shows escalations) does the rest, as it would have at the time.
"""

import secrets
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa import create_app
from dutypwa.dutylog import record_entry
from dutypwa.extensions import db
from dutypwa.models import DutyEntry, Escalation, Site, User, utcnow
from tests.e2e.conftest import CONTROLLED, AppProfile

pytestmark = pytest.mark.e2e

SITE = "CUIHU"
PHONE_740 = {"width": 360, "height": 740}


@pytest.fixture
def log_emergency(live_server):
    """Write an emergency logged by staff 1001 `minutes_ago`; returns its id."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": live_server.database_url, "SECRET_KEY": "e2e"})

    def log(summary: str, minutes_ago: int) -> str:
        op_id = str(uuid.uuid4())
        with app.test_request_context():
            site = db.session.scalar(select(Site).where(Site.code == SITE))
            staff = db.session.scalar(select(User).where(User.username == "1001"))
            when = utcnow() - timedelta(minutes=minutes_ago)
            record_entry(
                site, by=staff, op_id=op_id, device_time=when, received_at=when,
                clock_offset_s=0.0, kind="emergency", summary=summary,
            )  # fmt: skip
            db.session.commit()
        return op_id

    yield log
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def phone_740(browser, live_server, tmp_path):
    """A 360×740 phone with the app as people have it: its own on-disk profile, the
    service worker controlling the page once someone has logged in."""
    profiles = []

    def make():
        profile = AppProfile(
            browser.browser_type, tmp_path / f"profile-{len(profiles)}", live_server.url
        )
        profiles.append(profile)
        page = profile.open(viewport=PHONE_740)
        return page

    yield make
    for profile in profiles:
        profile.close()


def test_ignored_emergency_escalates_to_the_director_by_itself(
    phone_740, login_as, server_db, log_emergency, shot
):
    ignored = f"B2车库起火冒烟 {secrets.token_hex(2)}"
    fresh = f"3栋电梯困人 {secrets.token_hex(2)}"
    ignored_id = log_emergency(ignored, minutes_ago=40)  # supervisor's 15 min long gone
    log_emergency(fresh, minutes_ago=3)  # still within the supervisor's 15 min

    director = phone_740()
    login_as(director, "3001")
    director.wait_for_function(CONTROLLED)
    director.goto(f"/s/{SITE}/inbox")
    row = director.locator(".inbox-row", has_text=ignored)
    expect(row).to_have_attribute("data-reason", "unacknowledged")
    expect(row).to_have_attribute("data-level", "3")
    # The fresh one is still the supervisor's, not yet the director's.
    expect(director.locator(".inbox-row", has_text=fresh)).to_have_count(0)
    shot(director, "escalation-1-director-inbox")

    timeline = server_db.scalars(
        select(Escalation).where(Escalation.entry_id == ignored_id).order_by(Escalation.id)
    )
    assert [(e.level, e.reason) for e in timeline] == [(2, "emergency"), (3, "unacknowledged")]
    entry = server_db.scalar(select(DutyEntry).where(DutyEntry.id == ignored_id))
    # Went up when the supervisor's 15 minutes ran out, not when a page was opened.
    assert (
        timeline[0].superseded_at
        == timeline[1].raised_at
        == entry.received_at + timedelta(minutes=15)
    )

    with director.expect_response(lambda r: r.request.method == "POST") as answered:
        row.locator("button").tap()
    assert answered.value.status == 200, answered.value.text()
    expect(row).to_have_class("row inbox-row acknowledged")
    shot(row, "escalation-2-acknowledged-row")
    top = server_db.scalar(select(Escalation).where(Escalation.id == timeline[1].id))
    assert top.acknowledged_by_id == server_db.user("3001").id
    assert top.acknowledged_at is not None

    supervisor = phone_740()
    login_as(supervisor, "2001")
    supervisor.wait_for_function(CONTROLLED)
    supervisor.goto(f"/s/{SITE}/day")
    badge = supervisor.locator("#inbox-badge[data-etag]")
    expect(badge).to_be_visible()
    escalations = int(badge.locator('[data-count="escalations"]').inner_text())
    overdue = int(badge.locator('[data-count="overdue"]').inner_text())
    assert escalations >= 1  # the fresh emergency waits for the supervisor
    assert overdue >= 1  # the ignored one's response time has passed
    badge.scroll_into_view_if_needed()
    shot(supervisor.locator(".topbar"), "escalation-3-supervisor-badge")
    shot(supervisor, "escalation-4-supervisor-day")
    supervisor.goto(f"/s/{SITE}/inbox")
    expect(supervisor.locator(".inbox-row", has_text=fresh)).to_have_attribute(
        "data-reason", "emergency"
    )
    shot(supervisor, "escalation-5-supervisor-inbox")
