"""Live coverage: last visit per checkpoint, statuses, htmx partial with ETag / 304."""

from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import event

from dutypwa.extensions import db
from dutypwa.patrol import record_checkin
from tests.conftest import new_op_id

# Patrol windows, shifts and "today" depend on the date and the time of day: the run's
# frozen clock (DUTYPWA_TEST_TODAY moves it).
pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def supervisor(make_user, site):
    return make_user(role="supervisor", sites=[site])


@pytest.fixture
def staff(make_user, site):
    return make_user(role="staff", sites=[site], name="张伟")


def visit(checkpoint, user, when=None):
    record_checkin(
        checkpoint,
        by=user,
        op_id=new_op_id(),
        device_time=when or datetime.now(UTC),
        results=[],
        clock_offset_s=0.0,
    )
    db.session.commit()


def test_coverage_shows_last_visit_and_status(
    client, login, supervisor, staff, site, make_checkpoint, make_route
):
    visited = make_checkpoint(site, name="中心花园喷泉")
    never = make_checkpoint(site, name="西区花园围墙")
    make_route(site, [visited, never], start=time(0), end=time(0), interval=120)
    visit(visited, staff)
    login(supervisor)
    page = client.get(f"/s/{site.code}/coverage").get_data(as_text=True)
    visited_row = page[page.index(f'id="cp-{visited.id}"') :].split("</tr>")[0]
    never_row = page[page.index(f'id="cp-{never.id}"') :].split("</tr>")[0]
    assert "张伟" in visited_row and "badge-on_time" in visited_row
    assert "badge-never" in never_row


def test_missed_round_is_overdue(
    client, login, supervisor, staff, site, make_checkpoint, make_route
):
    checkpoint = make_checkpoint(site)
    started = (datetime.now(site.tz) - timedelta(hours=5)).time().replace(minute=0, second=0)
    make_route(site, [checkpoint], start=started, end=started, interval=60)
    visit(checkpoint, staff, when=datetime.now(UTC) - timedelta(hours=4, minutes=30))
    login(supervisor)
    page = client.get(f"/s/{site.code}/coverage").get_data(as_text=True)
    assert "badge-overdue" in page[page.index(f'id="cp-{checkpoint.id}"') :].split("</tr>")[0]


def test_worst_status_over_a_checkpoints_routes(
    client, login, supervisor, staff, site, make_checkpoint, make_route
):
    """A checkpoint on two routes shows the worse of its statuses on them: overdue on the
    hourly route even though its daily route's only round has its visit."""
    both = make_checkpoint(site, name="两条路线")
    daily_only = make_checkpoint(site, name="只在日巡")
    started = (datetime.now(site.tz) - timedelta(hours=5)).time().replace(minute=0, second=0)
    make_route(site, [both], start=started, end=started, interval=60)
    make_route(site, [both, daily_only], start=started, end=started, interval=24 * 60)
    for checkpoint in (both, daily_only):
        visit(checkpoint, staff, when=datetime.now(UTC) - timedelta(hours=4, minutes=30))
    login(supervisor)
    page = client.get(f"/s/{site.code}/coverage").get_data(as_text=True)
    assert "badge-overdue" in page[page.index(f'id="cp-{both.id}"') :].split("</tr>")[0]
    assert "badge-on_time" in page[page.index(f'id="cp-{daily_only.id}"') :].split("</tr>")[0]


def test_rows_escape_what_people_typed(
    client, login, supervisor, make_user, site, make_checkpoint, make_route
):
    """The table's rows are made in Python (dashboard.checkpoint_rows): names of places
    and people are escaped there as the template would."""
    checkpoint = make_checkpoint(site, name='<img src=x onerror="alert(1)">')
    make_route(site, [checkpoint], start=time(0), end=time(0), interval=120)
    visit(checkpoint, make_user(role="staff", sites=[site], name="<b>张</b>"))
    login(supervisor)
    page = client.get(f"/s/{site.code}/coverage", headers={"HX-Request": "true"})
    row = page.get_data(as_text=True).split(f'id="cp-{checkpoint.id}"')[1].split("</tr>")[0]
    assert "<img" not in row
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in row
    assert "&lt;b&gt;张&lt;/b&gt;" in row and "<b>" not in row


def test_htmx_gets_the_partial_and_304_when_unchanged(
    client, login, supervisor, staff, site, make_checkpoint
):
    checkpoint = make_checkpoint(site)
    login(supervisor)
    headers = {"HX-Request": "true"}
    first = client.get(f"/s/{site.code}/coverage", headers=headers)
    assert first.status_code == 200
    body = first.get_data(as_text=True)
    assert body.lstrip().startswith("{#") is False and "<html" not in body
    assert 'id="coverage"' in body
    assert "HX-Request" in first.headers["Vary"]
    etag = first.headers["ETag"]
    assert f'data-etag="{etag.strip(chr(34))}"' in body

    again = client.get(f"/s/{site.code}/coverage", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""

    visit(checkpoint, staff)
    changed = client.get(f"/s/{site.code}/coverage", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert "张伟" in changed.get_data(as_text=True)


@contextmanager
def count_statements():
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def test_coverage_cost_does_not_grow_with_history(
    client, login, supervisor, staff, site, make_checkpoint, make_route
):
    """The page reads the current-state table: same statements for 1 or 60 visits."""
    checkpoints = [make_checkpoint(site) for _ in range(3)]
    make_route(site, checkpoints)
    for checkpoint in checkpoints:
        visit(checkpoint, staff)
    login(supervisor)
    url = f"/s/{site.code}/coverage"

    def measure():
        with count_statements() as statements:
            assert client.get(url, headers={"HX-Request": "true"}).status_code == 200
        return statements

    few = measure()
    for minutes in range(60):
        visit(checkpoints[minutes % 3], staff, datetime.now(UTC) - timedelta(minutes=minutes))
    many = measure()
    assert len(many) == len(few)
    assert not any("FROM checkin" in s for s in many)


def test_other_site_is_not_shown(client, login, supervisor, make_site, make_checkpoint):
    other = make_site(name="南湖苑")
    make_checkpoint(other, name="南湖苑主花园")
    login(supervisor)
    assert client.get(f"/s/{other.code}/coverage").status_code == 403


def test_phones_holding_unsynced_work_are_listed(client, login, supervisor, staff, site):
    import uuid

    from dutypwa.models import Device

    device = Device(
        id=str(uuid.uuid4()),
        user_id=staff.id,
        outbox_size=3,
        oldest_pending_at=datetime.now(UTC) - timedelta(hours=2),
    )
    db.session.add(device)
    db.session.commit()
    login(supervisor)
    first = client.get(f"/s/{site.code}/coverage", headers={"HX-Request": "true"})
    body = first.get_data(as_text=True)
    assert "Phones holding unsynced work" in body and "张伟" in body and "3 records" in body
    device.outbox_size = 0
    db.session.commit()
    after = client.get(
        f"/s/{site.code}/coverage",
        headers={"HX-Request": "true", "If-None-Match": first.headers["ETag"]},
    )
    assert after.status_code == 200  # the sync changed what the page shows
    assert "Phones holding unsynced work" not in after.get_data(as_text=True)
