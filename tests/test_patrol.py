"""Check-in at a QR checkpoint: recorded once, with device and server time; bad input refused."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.models import CheckIn, CheckpointState, Finding, VoidedToken
from dutypwa.nonconformities import record_step
from tests.conftest import new_op_id

# Patrol windows, shifts and "today" depend on the date and the time of day: the run's
# frozen clock (DUTYPWA_TEST_TODAY moves it).
pytestmark = pytest.mark.usefixtures("frozen_clock")

CHECKLIST = ["压力表读数正常", "无漏水渗水"]


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def staff(make_user, site):
    return make_user(role="staff", sites=[site], name="张伟")


def checkins() -> int:
    return db.session.scalar(select(func.count()).select_from(CheckIn))


def test_checkpoint_page_shows_checkpoint_and_form(client, login, staff, site, make_checkpoint):
    checkpoint = make_checkpoint(site, name="生活水泵", kind="equipment", checklist=CHECKLIST)
    login(staff)
    page = client.get(f"/c/{checkpoint.token}").get_data(as_text=True)
    assert "生活水泵" in page
    assert 'name="op_id"' in page
    assert all(item in page for item in CHECKLIST)


def test_logged_out_scan_goes_to_login_and_back(client, staff, site, make_checkpoint):
    checkpoint = make_checkpoint(site)
    response = client.get(f"/c/{checkpoint.token}")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")
    login = client.post(
        response.location,
        data={"username": staff.username, "password": "secret-pass-1"},
    )
    assert login.status_code == 302
    assert login.location == f"/c/{checkpoint.token}"


def test_checkin_records_device_and_server_time(client, login, staff, site, make_checkpoint):
    checkpoint = make_checkpoint(site)
    login(staff)
    op_id = new_op_id()
    device_time = datetime.now(UTC) - timedelta(seconds=30)
    response = client.post(
        f"/c/{checkpoint.token}",
        data={"op_id": op_id, "device_time": device_time.isoformat(), "note": "一切正常"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 201
    body = response.get_data(as_text=True)
    assert 'id="checkin-done"' in body and "<html" not in body
    checkin = db.session.get(CheckIn, op_id)
    assert checkin.user_id == staff.id
    assert checkin.device_time == device_time
    assert abs(checkin.clock_offset_s - 30) < 5
    assert not checkin.clock_flagged
    assert checkin.received_at >= checkin.device_time
    assert checkin.note == "一切正常"


def test_double_tap_is_recorded_once(client, login, staff, site, make_checkpoint):
    checkpoint = make_checkpoint(site)
    login(staff)
    form = {"op_id": new_op_id(), "device_time": datetime.now(UTC).isoformat()}
    first = client.post(f"/c/{checkpoint.token}", data=form)
    second = client.post(f"/c/{checkpoint.token}", data=form)
    assert (first.status_code, second.status_code) == (201, 200)
    assert "Already checked in" in second.get_data(as_text=True)
    assert checkins() == 1
    assert db.session.get(CheckpointState, checkpoint.id).visit_count == 1


def test_same_id_with_other_details_is_a_conflict(client, login, staff, site, make_checkpoint):
    checkpoint = make_checkpoint(site)
    login(staff)
    op_id = new_op_id()
    client.post(f"/c/{checkpoint.token}", data={"op_id": op_id, "note": "a"})
    response = client.post(f"/c/{checkpoint.token}", data={"op_id": op_id, "note": "b"})
    assert response.status_code == 409
    assert db.session.get(CheckIn, op_id).note == "a"


def test_checklist_results_and_findings(client, login, staff, site, make_checkpoint, make_user):
    """D1: a "not ok" checklist item is recorded as a finding to correct."""
    checkpoint = make_checkpoint(site, kind="equipment", checklist=CHECKLIST)
    login(staff)
    op_id = new_op_id()
    response = client.post(
        f"/c/{checkpoint.token}",
        data={"op_id": op_id, "item-0": "ok", "item-1": "not_ok", "note-1": "阀门渗水"},
    )
    assert response.status_code == 201
    checkin = db.session.get(CheckIn, op_id)
    assert checkin.results == [
        {"item": CHECKLIST[0], "ok": True, "note": ""},
        {"item": CHECKLIST[1], "ok": False, "note": "阀门渗水"},
    ]
    finding = db.session.scalars(select(Finding)).one()
    assert (finding.item, finding.description, finding.status) == (CHECKLIST[1], "阀门渗水", "open")
    assert finding.category == "equipment" and finding.created_by_id == staff.id
    assert db.session.get(CheckpointState, checkpoint.id).open_findings == 1

    # Corrected and verified: the coverage state no longer counts it as open.
    supervisor = make_user("supervisor", sites=[site], username="sup")
    when = datetime.now(UTC)
    record_step(finding, by=staff, op_id=new_op_id(), device_time=when, action="correct", note="x")
    record_step(finding, by=supervisor, op_id=new_op_id(), device_time=when, action="verify_pass")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(CheckpointState, checkpoint.id).open_findings == 0


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"item-0": "ok"}, "Mark every item"),
        ({"item-0": "ok", "item-1": "maybe"}, "Mark every item"),
        ({"item-0": "ok", "item-1": "not_ok"}, "Describe what is wrong"),
        ({"item-0": "ok", "item-1": "ok", "device_time": "yesterday"}, "time could not be read"),
        ({"item-0": "ok", "item-1": "ok", "device_time": "2026-11-26T10:00:00"}, "no time zone"),
        ({"item-0": "ok", "item-1": "ok", "note": "x" * 1001}, "too long"),
        ({"item-0": "ok", "item-1": "ok", "op_id": "not-a-uuid"}, "check-in id"),
    ],
)
def test_bad_input_is_refused_and_nothing_recorded(
    client, login, staff, site, make_checkpoint, form, message
):
    checkpoint = make_checkpoint(site, kind="equipment", checklist=CHECKLIST)
    login(staff)
    data = {"op_id": new_op_id(), **form}
    response = client.post(f"/c/{checkpoint.token}", data=data, headers={"HX-Request": "true"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body
    assert 'id="checkin-form"' in body  # the form comes back, answers kept
    assert checkins() == 0
    assert db.session.scalar(select(func.count()).select_from(Finding)) == 0


def test_unknown_token_is_404_page(client, login, staff):
    login(staff)
    response = client.get("/c/no-such-token")
    assert response.status_code == 404
    assert "not one of our checkpoints" in response.get_data(as_text=True)


def test_reissued_token_is_410_and_records_nothing(client, login, staff, site, make_checkpoint):
    checkpoint = make_checkpoint(site)
    old = checkpoint.token
    db.session.add(checkpoint.reissue_token(by_user_id=None))
    db.session.commit()
    assert checkpoint.token != old
    assert db.session.get(VoidedToken, old).checkpoint_id == checkpoint.id
    login(staff)
    for response in (
        client.get(f"/c/{old}"),
        client.post(f"/c/{old}", data={"op_id": new_op_id()}),
    ):
        assert response.status_code == 410
        assert "label was replaced" in response.get_data(as_text=True)
    assert checkins() == 0
    assert client.get(f"/c/{checkpoint.token}").status_code == 200


def test_inactive_checkpoint_is_410(client, login, staff, site, make_checkpoint):
    checkpoint = make_checkpoint(site, active=False)
    login(staff)
    response = client.post(f"/c/{checkpoint.token}", data={"op_id": new_op_id()})
    assert response.status_code == 410
    assert checkins() == 0


def test_other_sites_checkpoint_is_403(client, login, staff, make_site, make_checkpoint):
    other = make_checkpoint(make_site(name="南湖苑"))
    login(staff)
    for response in (
        client.get(f"/c/{other.token}"),
        client.post(f"/c/{other.token}", data={"op_id": new_op_id()}),
    ):
        assert response.status_code == 403
        assert "南湖苑" in response.get_data(as_text=True)
    assert checkins() == 0


def test_skewed_clock_is_flagged_not_rejected(client, login, staff, site, make_checkpoint):
    checkpoint = make_checkpoint(site)
    login(staff)
    op_id = new_op_id()
    skewed = datetime.now(UTC) - timedelta(minutes=20)
    response = client.post(
        f"/c/{checkpoint.token}", data={"op_id": op_id, "device_time": skewed.isoformat()}
    )
    assert response.status_code == 201
    assert "flagged for review" in response.get_data(as_text=True)
    checkin = db.session.get(CheckIn, op_id)
    assert checkin.clock_flagged


def test_late_checkin_does_not_move_last_visit_back(app, staff, site, make_checkpoint):
    from dutypwa.patrol import record_checkin

    checkpoint = make_checkpoint(site)
    now = datetime.now(UTC)
    record_checkin(checkpoint, by=staff, op_id=new_op_id(), device_time=now, results=[])
    late, _ = record_checkin(
        checkpoint,
        by=staff,
        op_id=new_op_id(),
        device_time=now - timedelta(hours=3),
        results=[],
        clock_offset_s=0.0,
    )
    db.session.commit()
    state = db.session.get(CheckpointState, checkpoint.id)
    assert state.visit_count == 2
    assert state.last_visit_at > late.visited_at


def test_my_patrol_shows_due_done_and_missed(
    client, login, staff, site, make_checkpoint, make_route
):
    done_cp = make_checkpoint(site, name="已巡查点")
    due_cp = make_checkpoint(site, name="待巡查点")
    # An all-day window that started three hours ago: three earlier hourly rounds exist.
    started = (datetime.now(site.tz) - timedelta(hours=3)).time().replace(minute=0, second=0)
    make_route(site, [done_cp, due_cp], start=started, end=started, interval=60)
    login(staff)
    client.post(f"/c/{done_cp.token}", data={"op_id": new_op_id()})
    page = client.get(f"/s/{site.code}/patrol").get_data(as_text=True)
    current = page[page.index('class="slot current"') :]
    current = current[: current.index("</details>")]
    assert "已巡查点" in current and "badge-done" in current
    assert "待巡查点" in current and "badge-due" in current
    assert "badge-missed" in page  # the earlier rounds were not walked
    assert "已巡查点" in page[page.index("My check-ins") :]


def test_checkin_answer_updates_the_last_visit_out_of_band(
    client, login, staff, site, make_checkpoint
):
    checkpoint = make_checkpoint(site)
    login(staff)
    response = client.post(
        f"/c/{checkpoint.token}", data={"op_id": new_op_id()}, headers={"HX-Request": "true"}
    )
    body = response.get_data(as_text=True)
    assert 'id="last-visit"' in body and "hx-swap-oob" in body
    assert "张伟" in body.split('id="last-visit"')[1]


def test_an_all_day_route_says_all_day_not_midnight_to_midnight(
    client, login, staff, site, make_checkpoint, make_route, frozen_clock
):
    """Issue 11 bug 8: an all-day route's line read "12-07 00:00 – 00:00"."""
    frozen_clock.move_to(frozen_clock.at(10))
    checkpoint = make_checkpoint(site)
    make_route(site, [checkpoint], start=time(0), end=time(0), interval=240)
    make_route(site, [checkpoint], start=time(8), end=time(20), interval=180)
    login(staff)
    page = client.get(f"/s/{site.code}/patrol").get_data(as_text=True)
    text = re.sub(r"<[^>]+>", "", page)
    day = frozen_clock.today.strftime("%m-%d")
    assert f"{day} all day" in text
    assert "00:00 – 00:00" not in text
    assert f"{day} 08:00 – 20:00" in text
