"""Escalation (D2, D3, D11) with a controllable clock: advance(site, now) is given the time,
and the views read it through dutypwa.escalation.now: the tests move the frozen clock."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from dutypwa import escalation as clock
from dutypwa.dutylog import record_entry
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.findings import record_finding
from dutypwa.models import Escalation
from tests.clock import base_day_at
from tests.conftest import new_op_id

T0 = base_day_at(10)  # 10:00 in Shanghai on the base day (DUTYPWA_TEST_TODAY)
MIN = timedelta(minutes=1)


@pytest.fixture
def request_context(app):
    """The domain's refusals are translated sentences: they need a request's locale."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def people(request_context, make_site, make_user):
    site = make_site()
    roles = ("staff", "supervisor", "director", "admin")
    return site, {role: make_user(role=role, sites=[site]) for role in roles}


@pytest.fixture(autouse=True)
def _at_t0(frozen_clock):
    """The run's frozen clock, at T0 (10:00 on the base day)."""
    frozen_clock.move_to(T0)


def finding_at(site, by, moment, severity="urgent"):
    finding, _ = record_finding(
        site, by=by, op_id=new_op_id(), device_time=moment, received_at=moment,
        category="other", severity=severity, description="broken gate",
    )  # fmt: skip
    db.session.commit()
    return finding


def entry_at(site, by, moment, kind="help"):
    entry, _ = record_entry(
        site, by=by, op_id=new_op_id(), device_time=moment, received_at=moment, kind=kind,
        summary="lift stuck with a resident inside" if kind == "emergency" else "water leak",
    )  # fmt: skip
    db.session.commit()
    return entry


def timeline_of(item, **kind):
    return [
        (e.level, e.reason, e.raised_at, e.acknowledged_at, e.superseded_at)
        for e in clock.timeline(**{kind.get("kind", "finding"): item})
    ]


def test_d3_overdue_item_escalates_at_its_due_time(people):
    site, users = people
    finding = finding_at(site, users["staff"], T0)  # urgent: due in 2 h
    assert finding.due_at == T0 + timedelta(hours=2)
    assert clock.advance(site, T0 + timedelta(hours=2) - MIN) == 0
    raised = clock.advance(site, T0 + timedelta(hours=2, minutes=5))
    assert raised == 1
    [escalation] = clock.timeline(finding=finding)
    assert (escalation.level, escalation.reason) == (2, "overdue")
    # Dated when it became due, not when the clock happened to run.
    assert escalation.raised_at == finding.due_at
    assert escalation.ack_due == finding.due_at + timedelta(minutes=15)
    assert escalation.raised_by_id is None
    assert finding.escalation_level == 2


def test_d3_unacknowledged_goes_up_to_director(people):
    site, users = people
    finding = finding_at(site, users["staff"], T0)
    due = finding.due_at
    clock.advance(site, due + 16 * MIN)
    first, second = clock.timeline(finding=finding)
    assert (first.level, first.reason, first.superseded_at) == (2, "overdue", due + 15 * MIN)
    assert first.acknowledged_at is None
    assert (second.level, second.reason, second.raised_at) == (3, "unacknowledged", due + 15 * MIN)
    assert second.ack_due == due + 45 * MIN  # the director's 30 minutes
    assert finding.escalation_level == 3
    # The top level is not superseded, whatever the time: it stays before the director.
    assert clock.advance(site, due + timedelta(days=3)) == 0
    assert second.pending


def test_d3_timeline_does_not_depend_on_when_the_clock_runs(people, make_site, make_user):
    site, users = people
    other = make_site()
    other_staff = make_user(role="staff", sites=[other])
    every_minute = finding_at(site, users["staff"], T0)
    all_at_once = finding_at(other, other_staff, T0)
    moment = T0
    while moment < T0 + timedelta(hours=4):
        clock.advance(site, moment)
        moment += MIN
    clock.advance(other, T0 + timedelta(hours=4))
    assert timeline_of(every_minute) == timeline_of(all_at_once)
    assert [row[:2] for row in timeline_of(every_minute)] == [(2, "overdue"), (3, "unacknowledged")]


def test_advance_is_idempotent(people):
    site, users = people
    finding_at(site, users["staff"], T0)
    entry_at(site, users["staff"], T0)
    later = T0 + timedelta(hours=5)
    assert clock.advance(site, later) == 4  # each item: supervisor, then director
    count = len(db.session.scalars(select(Escalation)).all())
    assert clock.advance(site, later) == 0
    assert clock.advance(site, later + MIN) == 0
    assert len(db.session.scalars(select(Escalation)).all()) == count


def test_acknowledging_stops_it(people):
    site, users = people
    finding = finding_at(site, users["staff"], T0)
    clock.advance(site, finding.due_at + MIN)
    [escalation] = clock.timeline(finding=finding)
    clock.acknowledge(escalation, by=users["supervisor"], at=finding.due_at + 5 * MIN)
    assert clock.advance(site, finding.due_at + timedelta(days=1)) == 0
    assert escalation.acknowledged_by_id == users["supervisor"].id
    assert not clock.is_late(escalation)
    assert finding.escalation_level == 2
    with pytest.raises(DomainError) as again:
        clock.acknowledge(escalation, by=users["director"], at=finding.due_at + 6 * MIN)
    assert again.value.status == 409


def test_closed_items_do_not_go_up(people):
    site, users = people
    closed_in_time = finding_at(site, users["staff"], T0)
    closed_in_time.status, closed_in_time.closed_at = "closed", T0 + timedelta(hours=1)
    waited = finding_at(site, users["staff"], T0)
    clock.advance(site, waited.due_at + MIN)  # before the supervisor's time ran out
    waited.status, waited.closed_at = "closed", waited.due_at + 10 * MIN
    db.session.commit()
    clock.advance(site, T0 + timedelta(days=2))
    assert clock.timeline(finding=closed_in_time) == []
    [escalation] = clock.timeline(finding=waited)
    assert escalation.level == 2 and escalation.superseded_at is None
    # Nor does it wait in anyone's inbox.
    inbox = db.session.scalars(clock.inbox_query(site, users["supervisor"])).all()
    assert escalation not in inbox


def test_d3_report_up_goes_level_by_level(people):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="complaint")
    with pytest.raises(DomainError, match="Write the reason"):
        clock.report_up(site, by=users["staff"], at=T0, note="  ", entry=entry)
    to_supervisor = clock.report_up(
        site, by=users["staff"], at=T0 + MIN, note="resident very angry", entry=entry
    )
    assert (to_supervisor.level, to_supervisor.reason) == (2, "manual")
    assert to_supervisor.raised_by_id == users["staff"].id
    assert to_supervisor.note == "resident very angry"
    with pytest.raises(DomainError) as waiting:
        clock.report_up(site, by=users["staff"], at=T0 + 2 * MIN, note="again", entry=entry)
    assert waiting.value.status == 409
    to_director = clock.report_up(
        site, by=users["supervisor"], at=T0 + 3 * MIN, note="needs a decision", entry=entry
    )
    assert to_director.level == 3
    # The supervisor saw it: reporting it up acknowledged it at their level.
    assert to_supervisor.acknowledged_by_id == users["supervisor"].id
    assert to_supervisor.superseded_at is None
    with pytest.raises(DomainError, match="no higher level"):
        clock.report_up(site, by=users["director"], at=T0 + 4 * MIN, note="x", entry=entry)
    entry.status = "closed"
    with pytest.raises(DomainError) as closed:
        clock.report_up(site, by=users["staff"], at=T0 + 5 * MIN, note="x", entry=entry)
    assert closed.value.status == 409


def test_d11_emergency_goes_to_supervisor_at_once_and_to_the_director_when_ignored(people):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    [first] = clock.timeline(entry=entry)
    assert (first.level, first.reason, first.raised_at) == (2, "emergency", T0)
    assert entry.arrival_due == T0 + timedelta(minutes=30)
    clock.advance(site, T0 + 40 * MIN)
    _, second = clock.timeline(entry=entry)
    assert (second.level, second.reason, second.raised_at) == (3, "unacknowledged", T0 + 15 * MIN)
    director_inbox = db.session.scalars(clock.inbox_query(site, users["director"])).all()
    assert director_inbox == [second]
    assert db.session.scalars(clock.inbox_query(site, users["supervisor"])).all() == []


def test_d11_nobody_on_the_scene_in_time_goes_to_the_director(people):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    [first] = clock.timeline(entry=entry)
    clock.acknowledge(first, by=users["supervisor"], at=T0 + 2 * MIN)
    clock.advance(site, T0 + 29 * MIN)
    assert len(clock.timeline(entry=entry)) == 1
    clock.advance(site, T0 + 31 * MIN)
    _, second = clock.timeline(entry=entry)
    assert (second.level, second.reason, second.raised_at) == (3, "no_arrival", T0 + 30 * MIN)


def test_d11_arrival_in_time_stops_the_arrival_clock(people):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    clock.acknowledge(clock.timeline(entry=entry)[0], by=users["supervisor"], at=T0 + MIN)
    entry.arrived_at = T0 + 20 * MIN
    db.session.commit()
    clock.advance(site, T0 + timedelta(hours=1))
    assert [e.reason for e in clock.timeline(entry=entry)] == ["emergency"]


def test_a_late_sync_is_not_escalated_before_the_server_had_it(people):
    site, users = people
    finding, _ = record_finding(
        site, by=users["staff"], op_id=new_op_id(), device_time=T0,
        received_at=T0 + timedelta(hours=3), clock_offset_s=0.0,
        category="other", severity="urgent", description="found offline",
    )  # fmt: skip
    clock.advance(site, T0 + timedelta(hours=3, minutes=1))
    [escalation] = clock.timeline(finding=finding)
    assert escalation.raised_at == T0 + timedelta(hours=3)


def test_late_acknowledgement_counts_but_is_late(people):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    clock.advance(site, T0 + 16 * MIN)
    top = clock.timeline(entry=entry)[-1]
    clock.acknowledge(top, by=users["director"], at=top.ack_due + 10 * MIN)
    assert top.acknowledged_at is not None and clock.is_late(top)


# The endpoints


@pytest.fixture
def at(frozen_clock):
    """Set the clock the views read: at(moment)."""
    return frozen_clock.move_to


HTMX = {"HX-Request": "true"}


def test_acknowledge_endpoint_answers_the_timeline(people, client, login, at):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    escalation_id = clock.timeline(entry=entry)[0].id
    at(T0 + 5 * MIN)
    login(users["supervisor"])
    url = f"/s/{site.code}/escalations/{escalation_id}/ack"
    response = client.post(url, headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'id="escalations-{entry.id}"' in html and "Acknowledged" in html
    escalation = db.session.get(Escalation, escalation_id)
    assert escalation.acknowledged_at == T0 + 5 * MIN
    assert escalation.acknowledged_by_id == users["supervisor"].id
    again = client.post(url, headers=HTMX)
    assert again.status_code == 409 and "already acknowledged" in again.get_data(as_text=True)


def test_ack_by_the_wrong_level_is_403(people, client, login, at):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    at(T0 + 16 * MIN)
    clock.advance(site, T0 + 16 * MIN)
    db.session.commit()
    top = clock.timeline(entry=entry)[-1]
    assert top.level == 3
    login(users["supervisor"])
    response = client.post(f"/s/{site.code}/escalations/{top.id}/ack", headers=HTMX)
    assert response.status_code == 403
    assert "Only the Director level" in response.get_data(as_text=True)
    assert db.session.get(Escalation, top.id).acknowledged_at is None


def test_ack_of_an_escalation_that_went_up_meanwhile_is_409(people, client, login, at):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    first_id = clock.timeline(entry=entry)[0].id
    at(T0 + 20 * MIN)  # the supervisor's 15 minutes are over: the clock runs first
    login(users["supervisor"])
    response = client.post(f"/s/{site.code}/escalations/{first_id}/ack", headers=HTMX)
    assert response.status_code == 409
    assert "gone up a level" in response.get_data(as_text=True)


def test_ack_from_the_inbox_answers_the_row(people, client, login, at):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    first_id = clock.timeline(entry=entry)[0].id
    at(T0 + MIN)
    login(users["admin"])
    response = client.post(
        f"/s/{site.code}/escalations/{first_id}/ack", data={"show": "inbox"}, headers=HTMX
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'id="inbox-escalation-{first_id}"' in html and "Acknowledged" in html


def test_report_up_endpoints(people, client, login, at):
    site, users = people
    finding = finding_at(site, users["staff"], T0, severity="low")
    entry = entry_at(site, users["staff"], T0, kind="complaint")
    at(T0 + MIN)
    login(users["staff"])
    url = f"/s/{site.code}/findings/{finding.id}/report-up"
    refused = client.post(url, data={"reason": ""}, headers=HTMX)
    assert refused.status_code == 422 and "Write the reason" in refused.get_data(as_text=True)
    assert clock.timeline(finding=finding) == []
    response = client.post(url, data={"reason": "the gate is dangerous"}, headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "the gate is dangerous" in html and "Reported up" in html
    [escalation] = clock.timeline(finding=finding)
    assert (escalation.level, escalation.raised_by_id) == (2, users["staff"].id)
    response = client.post(
        f"/s/{site.code}/log/{entry.id}/report-up", data={"reason": "3rd time"}, headers=HTMX
    )
    assert response.status_code == 200
    assert clock.timeline(entry=entry)[0].level == 2
    # Without htmx (no script yet): the same answer as a whole page.
    page = client.post(f"/s/{site.code}/log/{entry.id}/report-up", data={"reason": "again"})
    assert page.status_code == 409 and "<html" in page.get_data(as_text=True)
    assert f'id="escalations-{entry.id}"' in page.get_data(as_text=True)


def test_report_up_of_another_sites_item_is_refused(people, client, login, make_site, make_user):
    site, users = people
    other = make_site()
    finding = finding_at(other, make_user(sites=[other]), T0)
    login(users["staff"])
    response = client.post(
        f"/s/{site.code}/findings/{finding.id}/report-up", data={"reason": "x"}, headers=HTMX
    )
    assert response.status_code == 404


def test_timeline_partial_shows_the_acknowledge_button_to_its_level_only(people, client, login, at):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    at(T0 + MIN)
    login(users["staff"])
    html = client.post(
        f"/s/{site.code}/log/{entry.id}/report-up", data={"reason": ""}, headers=HTMX
    ).get_data(as_text=True)
    assert "/ack" not in html  # staff acknowledge nothing
    client.post("/logout")
    login(users["supervisor"])
    html = client.post(
        f"/s/{site.code}/log/{entry.id}/report-up", data={"reason": ""}, headers=HTMX
    ).get_data(as_text=True)
    assert "/ack" in html and "Report up to the Director" in html


def test_cli_runs_the_clock_for_every_site(people, runner):
    site, users = people
    finding = finding_at(site, users["staff"], T0)
    at = (finding.due_at + MIN).isoformat()
    result = runner.invoke(args=["escalations", "--at", at])
    assert result.exit_code == 0, result.output
    assert "1 escalations raised" in result.output
    assert runner.invoke(args=["escalations", "--at", at]).output.startswith("0 ")
    assert runner.invoke(args=["escalations", "--at", "yesterday"]).exit_code != 0
