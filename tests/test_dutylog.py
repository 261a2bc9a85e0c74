"""The duty log: entries and their steps (through the form and the sync API), emergencies
(D11), work orders and complaint records (D6, D7), the keys register (D12) and the
shift's duty record (D5)."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dutypwa.dutylog import record_entry, record_entry_step
from dutypwa.dutylog.shifts import last_night, shift_window
from dutypwa.errors import DomainError
from dutypwa.escalation import acknowledge, advance
from dutypwa.extensions import db
from dutypwa.models import (
    ENTRY_KINDS,
    DutyEntry,
    DutyEntryEvent,
    Escalation,
    FollowUp,
    KeyLoan,
    utcnow,
)
from dutypwa.patrol import record_checkin
from tests.conftest import IsolatedClient, new_op_id

# Patrol windows, shifts and "today" depend on the date and the time of day: the run's
# frozen clock (DUTYPWA_TEST_TODAY moves it).
pytestmark = pytest.mark.usefixtures("frozen_clock")

SYNC = {"X-Dutypwa-Sync": "1", "Sec-Fetch-Site": "same-origin"}
HTMX = {"HX-Request": "true"}


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def staff(make_user, site):
    return make_user(sites=[site], name="张伟")


@pytest.fixture
def supervisor(make_user, site):
    return make_user(role="supervisor", sites=[site], name="李娜")


@pytest.fixture
def director(make_user, site):
    return make_user(role="director", sites=[site], name="王强")


@pytest.fixture(autouse=True)
def request_context(app):
    """The domain functions speak to a person: their messages need a request's locale."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def as_staff(client, login, staff):
    login(staff)
    return client


@pytest.fixture
def other_client(app):
    """A second browser (another phone) with its own session."""
    app.test_client_class = IsolatedClient
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return other


def log_in(client, user):
    response = client.post("/login", data={"username": user.username, "password": "secret-pass-1"})
    assert response.status_code == 302


def entry_of(site, by, kind="repair", when=None, **fields):
    when = when or utcnow()
    fields.setdefault("summary", "3栋2单元走廊灯不亮")
    entry, _ = record_entry(
        site, by=by, op_id=new_op_id(), device_time=when, received_at=when, kind=kind, **fields
    )
    db.session.commit()
    return entry


def form(**fields):
    return {
        "op_id": new_op_id(),
        "device_time": datetime.now(UTC).isoformat(),
        "kind": "repair",
        "summary": "3栋2单元走廊灯不亮",
        **fields,
    }


def count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def sync(client, *ops):
    body = {"device": {"id": str(uuid.uuid4()), "now": datetime.now(UTC).isoformat()}}
    response = client.post("/api/v1/sync", json={**body, "ops": list(ops)}, headers=SYNC)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["results"]


def entry_op(site_code="CUIHU", op_id=None, **fields):
    return {
        "id": op_id or new_op_id(),
        "kind": "duty_entry",
        "device_time": datetime.now(UTC).isoformat(),
        "payload": {
            "site": site_code,
            "fields": {"kind": "repair", "summary": "水管漏水", **fields},
            "photos": [],
        },
    }


def step_op(entry, base, site_code="CUIHU", **fields):
    return {
        "id": new_op_id(),
        "kind": "duty_step",
        "device_time": datetime.now(UTC).isoformat(),
        "payload": {
            "site": site_code,
            "subject": entry.id,
            "fields": {"base": str(base), **fields},
            "photos": [],
        },
    }


# Entries


def test_entry_form_without_a_service_worker_records_it_once(as_staff, site, staff):
    data = form(reporter_name="陈女士", reporter_unit="3-2-701", handling="已通知维修")
    first = as_staff.post("/s/CUIHU/log", data=data, headers=HTMX)
    assert first.status_code == 201
    html = first.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="entry-done"')
    again = as_staff.post("/s/CUIHU/log", data=data, headers=HTMX)
    assert again.status_code == 200
    assert "Already recorded" in again.get_data(as_text=True)
    entry = db.session.get(DutyEntry, data["op_id"])
    assert (entry.kind, entry.reporter_unit, entry.created_by_id) == ("repair", "3-2-701", staff.id)
    assert entry.status == "open" and entry.handling == "已通知维修"
    clash = as_staff.post("/s/CUIHU/log", data={**data, "summary": "改了"}, headers=HTMX)
    assert clash.status_code == 409
    assert "already recorded with other details" in clash.get_data(as_text=True)
    assert count(DutyEntry) == 1


def test_new_entry_form_is_outboxed_and_offers_every_kind(as_staff, site, make_post):
    make_post(site, name="客户服务中心")
    html = as_staff.get("/s/CUIHU/log/new").get_data(as_text=True)
    assert 'data-outbox="duty_entry"' in html
    assert 'name="_queued"' in html and 'name="op_id"' in html and "data-device-time" in html
    for kind in ENTRY_KINDS:
        assert f'name="kind" value="{kind}"' in html
    assert "客户服务中心" in html


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": ""}, "Choose what kind of entry it is."),
        ({"kind": "party"}, "Choose what kind of entry it is."),
        ({"summary": "   "}, "Say what happened."),
        ({"status": "closed"}, "Write the result before closing it."),
        ({"status": "maybe"}, "Choose whether it is open or closed."),
        ({"summary": "x" * 2001}, "What happened is too long"),
        ({"reporter_unit": "x" * 61}, "The unit is too long"),
        ({"post_id": "999999"}, "That post is not one of this site"),
        ({"area_id": "abc"}, "That area is not one of this site"),
        ({"op_id": "not-a-uuid"}, "The form is missing its id"),
        ({"device_time": "yesterday"}, "The phone&#39;s time could not be read."),
    ],
)
def test_bad_entries_are_refused_with_the_reason(as_staff, site, fields, message):
    response = as_staff.post("/s/CUIHU/log", data=form(**fields), headers=HTMX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert 'id="entry-form"' in html, "the form comes back with the error"
    assert count(DutyEntry) == 0


def test_another_sites_post_is_refused(as_staff, site, make_site, make_post):
    elsewhere = make_post(make_site())
    response = as_staff.post("/s/CUIHU/log", data=form(post_id=str(elsewhere.id)), headers=HTMX)
    assert response.status_code == 422
    assert count(DutyEntry) == 0


@pytest.mark.parametrize("kind", ENTRY_KINDS)
def test_respond_by_follows_the_kind(app, site, staff, kind):
    when = datetime(2025, 6, 1, 1, 0, tzinfo=UTC)
    entry = entry_of(site, staff, kind=kind, when=when)
    minutes = site.setting("respond_minutes")[kind]
    assert entry.respond_by == when + timedelta(minutes=minutes)


def test_respond_by_uses_the_site_setting_and_the_server_time_for_a_wrong_clock(app, site, staff):
    site.settings = {"respond_minutes": {"repair": 45}}
    db.session.commit()
    seen = datetime(2025, 6, 1, 1, 0, tzinfo=UTC)
    entry, _ = record_entry(
        site, by=staff, op_id=new_op_id(), device_time=seen - timedelta(hours=3),
        received_at=seen, kind="repair", summary="x",
    )  # fmt: skip
    assert entry.clock_flagged
    assert entry.respond_by == seen + timedelta(minutes=45)


def test_a_late_sync_keeps_the_phones_time(app, site, staff):
    """An entry made offline an hour ago is due from when it happened, not when it came."""
    happened = datetime(2025, 6, 1, 1, 0, tzinfo=UTC)
    entry, _ = record_entry(
        site, by=staff, op_id=new_op_id(), device_time=happened,
        received_at=happened + timedelta(hours=1), clock_offset_s=0.5, kind="help", summary="x",
    )  # fmt: skip
    assert not entry.clock_flagged
    assert entry.respond_by == happened + timedelta(minutes=15)


def test_d11_emergency_goes_to_the_supervisor_at_once_with_an_arrival_deadline(
    app, site, staff, supervisor, director
):
    when = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    entry = entry_of(site, staff, kind="emergency", when=when, summary="地下车库B2冒烟")
    assert entry.arrival_due == when + timedelta(minutes=30)
    [escalation] = db.session.scalars(select(Escalation).where(Escalation.entry_id == entry.id))
    assert (escalation.level, escalation.reason, escalation.raised_at) == (2, "emergency", when)
    assert entry.escalation_level == 2
    # Nobody acknowledges: it goes to the director by itself when the 15 minutes run out.
    advance(site, when + timedelta(minutes=16))
    db.session.commit()
    levels = db.session.scalars(
        select(Escalation.level).where(Escalation.entry_id == entry.id).order_by(Escalation.id)
    ).all()
    assert levels == [2, 3]


def test_d11_the_arrival_on_the_scene_is_recorded_once_by_a_manager(
    app, site, staff, supervisor, director
):
    when = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    entry = entry_of(site, staff, kind="emergency", when=when, summary="电梯困人")
    with pytest.raises(DomainError, match="supervisor or director"):
        record_entry_step(entry, by=staff, op_id=new_op_id(), device_time=when, action="arrive")
    arrived = when + timedelta(minutes=22)
    event, created = record_entry_step(
        entry, by=director, op_id=new_op_id(), device_time=arrived, received_at=arrived,
        action="arrive",
    )  # fmt: skip
    assert created and event.outcome == "applied"
    assert (entry.arrived_at, entry.arrived_by_id) == (arrived, director.id)
    assert entry.arrived_at <= entry.arrival_due  # the 30-minute target was met
    with pytest.raises(DomainError, match="already recorded"):
        record_entry_step(
            entry, by=supervisor, op_id=new_op_id(), device_time=arrived, action="arrive"
        )
    assert entry.arrived_by_id == director.id


def test_d11_arrival_is_only_for_emergencies(app, site, supervisor, staff):
    entry = entry_of(site, staff, kind="repair")
    with pytest.raises(DomainError, match="emergencies only"):
        record_entry_step(
            entry, by=supervisor, op_id=new_op_id(), device_time=utcnow(), action="arrive"
        )


def test_d11_the_entry_page_shows_the_escalation_timeline_and_arrival(
    client, login, site, staff, supervisor
):
    entry = entry_of(site, staff, kind="emergency", summary="地下车库B2冒烟")
    login(supervisor)
    html = client.get(f"/s/CUIHU/log/{entry.id}").get_data(as_text=True)
    assert f'id="escalations-{entry.id}"' in html
    assert "Emergency" in html and "acknowledge by" in html
    assert 'id="step-arrive"' in html and "I am on the scene now" in html
    [escalation] = db.session.scalars(select(Escalation).where(Escalation.entry_id == entry.id))
    acknowledge(escalation, by=supervisor, at=utcnow())
    db.session.commit()
    html = client.get(f"/s/CUIHU/log/{entry.id}").get_data(as_text=True)
    assert "Acknowledged" in html and "李娜" in html


# Steps


def post_step(client, entry, headers=HTMX, **fields):
    data = {"op_id": new_op_id(), "device_time": datetime.now(UTC).isoformat(), **fields}
    data.setdefault("base", str(entry.events_count))
    return client.post(f"/s/CUIHU/log/{entry.id}/steps", data=data, headers=headers)


def test_staff_update_and_close_their_sites_entries(as_staff, site, staff, make_user):
    entry = entry_of(site, make_user(sites=[site]))
    update = post_step(
        as_staff, entry, action="update", handling="已联系电工", follow_up="明早换灯"
    )
    assert update.status_code == 201
    assert update.get_data(as_text=True).lstrip().startswith('<section id="step-done"')
    refused = post_step(as_staff, entry, action="close", result="")
    assert refused.status_code == 422
    assert "Write the result before closing it." in refused.get_data(as_text=True)
    assert 'id="step-close"' in refused.get_data(as_text=True)
    closed = post_step(as_staff, entry, action="close", result="灯已更换")
    assert closed.status_code == 201
    db.session.refresh(entry)
    assert (entry.status, entry.handling, entry.result, entry.follow_up) == (
        "closed", "已联系电工", "灯已更换", "明早换灯",
    )  # fmt: skip
    assert entry.closed_at is not None
    assert [e.action for e in entry.events] == ["update", "close"]
    again = post_step(as_staff, entry, action="update", handling="再看看")
    assert again.status_code == 422
    assert "This entry is closed" in again.get_data(as_text=True)


def test_only_a_manager_reopens(client, login, site, staff, supervisor):
    entry = entry_of(site, staff, status="closed", result="已处理")
    login(staff)
    refused = post_step(client, entry, action="reopen", note="居民说还坏")
    assert refused.status_code == 422
    assert "Only a supervisor can reopen" in refused.get_data(as_text=True)
    login(supervisor)
    assert post_step(client, entry, action="reopen", note="").status_code == 422
    assert post_step(client, entry, action="reopen", note="居民说还坏").status_code == 201
    db.session.refresh(entry)
    assert entry.status == "open" and entry.closed_at is None
    assert post_step(client, entry, action="reopen", note="again").status_code == 422


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "delete"}, "That is not a step of a duty-log entry."),
        ({"action": "update"}, "Write how it was handled, the result or what is left."),
        ({"action": "comment", "note": " "}, "Write the reason."),
        ({"action": "comment", "note": "x" * 2001}, "The note is too long"),
        ({"action": "comment", "note": "ok", "op_id": "x"}, "The form is missing its id"),
    ],
)
def test_bad_steps_are_refused(as_staff, site, staff, fields, message):
    entry = entry_of(site, staff)
    response = post_step(as_staff, entry, **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(DutyEntryEvent) == 0


def test_a_plain_step_post_returns_to_the_entry(as_staff, site, staff):
    entry = entry_of(site, staff)
    response = post_step(as_staff, entry, headers={}, action="comment", note="已电话回访")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/s/CUIHU/log/{entry.id}")


def test_the_entry_page_offers_outboxed_step_forms_with_the_base(as_staff, site, staff):
    entry = entry_of(site, staff)
    post_step(as_staff, entry, action="comment", note="已电话回访")
    html = as_staff.get(f"/s/CUIHU/log/{entry.id}").get_data(as_text=True)
    assert html.count('data-outbox="duty_step"') == 3  # update, close, comment
    assert 'name="base" value="1"' in html
    assert "已电话回访" in html
    assert 'id="step-reopen"' not in html and 'id="step-arrive"' not in html


def test_entries_and_steps_through_the_sync_api(as_staff, site, staff):
    op = entry_op(reporter_unit="5-1-302")
    assert [r["status"] for r in sync(as_staff, op)] == ["created"]
    assert [r["status"] for r in sync(as_staff, op)] == ["duplicate"]
    clash = {**op, "payload": {**op["payload"], "fields": {"kind": "repair", "summary": "改"}}}
    [result] = sync(as_staff, clash)
    assert result["status"] == "conflict"
    [bad] = sync(as_staff, entry_op(kind="party"))
    assert (bad["status"], bad["reason"]) == ("rejected", "Choose what kind of entry it is.")
    [photo] = sync(
        as_staff, {**entry_op(), "payload": {**entry_op()["payload"], "photos": [new_op_id()]}}
    )
    assert photo["status"] == "rejected"
    entry = db.session.get(DutyEntry, op["id"])
    [step] = sync(as_staff, step_op(entry, 0, action="update", handling="已派维修"))
    assert step["status"] == "created"
    db.session.refresh(entry)
    assert entry.handling == "已派维修" and entry.events_count == 1
    stray = step_op(entry, 1, action="comment", note="x")
    stray["payload"]["subject"] = new_op_id()
    [missing] = sync(as_staff, stray)
    assert missing["status"] == "rejected"
    assert "no such duty-log entry" in missing["reason"]
    assert count(DutyEntry) == 1


def test_another_sites_entry_op_is_refused(as_staff, site, make_site):
    make_site(code="NANHU")
    [result] = sync(as_staff, entry_op("NANHU"))
    assert result["status"] == "rejected"
    assert "not a member" in result["reason"]
    assert count(DutyEntry) == 0


def test_two_phones_offline_both_steps_are_kept_in_server_order(
    client, other_client, login, site, staff, make_user
):
    """Two phones saw the entry open (base 0). The first to sync closes it; the second's
    update no longer applies: kept as superseded, and the phone is told why."""
    colleague = make_user(sites=[site], name="刘芳")
    entry = entry_of(site, staff)
    login(staff)
    log_in(other_client, colleague)
    [first] = sync(client, step_op(entry, 0, action="close", result="已修好"))
    [second] = sync(other_client, step_op(entry, 0, action="update", handling="等配件"))
    assert first["status"] == "created"
    assert second["status"] == "rejected"
    assert "This entry is closed" in second["reason"] and "张伟" in second["reason"]
    db.session.refresh(entry)
    assert [(e.ordinal, e.action, e.outcome) for e in entry.events] == [
        (1, "close", "applied"),
        (2, "update", "superseded"),
    ]
    assert entry.status == "closed" and entry.handling == ""
    html = client.get(f"/s/CUIHU/log/{entry.id}").get_data(as_text=True)
    assert "superseded" in html and "等配件" in html
    # A step made against the current state is simply refused, not kept.
    [fresh] = sync(other_client, step_op(entry, 2, action="update", handling="等配件"))
    assert fresh["status"] == "rejected"
    assert count(DutyEntryEvent) == 2


def test_two_managers_record_arrival_offline_the_second_is_superseded(
    client, other_client, login, site, staff, supervisor, director
):
    entry = entry_of(site, staff, kind="emergency")
    login(supervisor)
    log_in(other_client, director)
    assert sync(client, step_op(entry, 0, action="arrive"))[0]["status"] == "created"
    [late] = sync(other_client, step_op(entry, 0, action="arrive"))
    assert late["status"] == "rejected" and "already recorded" in late["reason"]
    db.session.refresh(entry)
    assert entry.arrived_by_id == supervisor.id
    assert [e.outcome for e in entry.events] == ["applied", "superseded"]


def test_a_step_op_is_idempotent(as_staff, site, staff):
    entry = entry_of(site, staff)
    op = step_op(entry, 0, action="comment", note="已回访")
    assert sync(as_staff, op)[0]["status"] == "created"
    assert sync(as_staff, op)[0]["status"] == "duplicate"
    op["payload"]["fields"]["note"] = "改"
    assert sync(as_staff, op)[0]["status"] == "conflict"


# The day's list


def test_the_log_lists_a_local_day_newest_first_and_flags_overdue(as_staff, site, staff):
    morning = datetime(2025, 6, 1, 9, 0, tzinfo=site.tz).astimezone(UTC)
    old = entry_of(site, staff, kind="help", when=morning, summary="老人求助")
    entry_of(site, staff, kind="inquiry", when=morning + timedelta(hours=1), summary="快递放哪",
             status="closed", result="已答复")  # fmt: skip
    entry_of(site, staff, kind="inquiry", when=morning - timedelta(hours=10), summary="前一天")
    html = as_staff.get("/s/CUIHU/log?date=2025-06-01").get_data(as_text=True)
    assert html.index("快递放哪") < html.index("老人求助")
    assert "前一天" not in html
    row = html.split(f'id="entry-{old.id}"')
    assert "overdue" in row[0][-80:] and "Response overdue" in row[1].split("</li>")[0]
    filtered = as_staff.get("/s/CUIHU/log?date=2025-06-01&kind=inquiry").get_data(as_text=True)
    assert "快递放哪" in filtered and "老人求助" not in filtered
    still_open = as_staff.get("/s/CUIHU/log?status=open&date=all").get_data(as_text=True)
    assert "老人求助" in still_open and "前一天" in still_open and "快递放哪" not in still_open


def test_the_log_shows_today_by_default(as_staff, site, staff):
    entry_of(site, staff, kind="inquiry", summary="刚才的咨询")
    entry_of(site, staff, kind="inquiry", when=utcnow() - timedelta(days=2), summary="前天的咨询")
    html = as_staff.get("/s/CUIHU/log").get_data(as_text=True)
    assert "刚才的咨询" in html and "前天的咨询" not in html
    assert 'href="/s/CUIHU/log/new"' in html


# D6 and D7: work orders and complaint records


def make_follow_up(client, entry, **data):
    return client.post(f"/s/CUIHU/log/{entry.id}/follow-up", data=data)


def test_d6_work_orders_and_complaint_records_are_numbered_per_site_type_and_day(
    as_staff, site, staff
):
    day = site.now().strftime("%Y%m%d")
    repairs = [entry_of(site, staff, kind="repair") for _ in range(2)]
    complaint = entry_of(site, staff, kind="complaint", summary="楼上噪音")
    numbers = []
    for entry in [*repairs, complaint]:
        response = make_follow_up(as_staff, entry)
        assert response.status_code == 303
        numbers.append(
            db.session.scalar(select(FollowUp.number).where(FollowUp.entry_id == entry.id))
        )
    assert numbers == [f"WX-{day}-01", f"WX-{day}-02", f"TS-{day}-01"]
    work_order = db.session.scalar(select(FollowUp).where(FollowUp.number == numbers[0]))
    assert (work_order.type, work_order.team, work_order.status) == (
        "work_order",
        "maintenance",
        "open",
    )
    # A second tap opens the same one.
    again = make_follow_up(as_staff, repairs[0])
    assert again.headers["Location"].endswith(f"/work-orders/{work_order.id}")
    assert count(FollowUp) == 3
    inquiry = entry_of(site, staff, kind="inquiry")
    refused = make_follow_up(as_staff, inquiry)
    assert refused.status_code == 422
    assert "Only a repair request becomes a work order" in refused.get_data(as_text=True)
    assert make_follow_up(as_staff, entry_of(site, staff), team="florists").status_code == 422


def test_d6_a_work_order_goes_open_in_progress_done_closed(client, login, site, staff, supervisor):
    entry = entry_of(site, staff, kind="repair", reporter_unit="3-2-701")
    login(staff)
    make_follow_up(client, entry, team="maintenance")
    work_order = db.session.scalar(select(FollowUp))
    url = f"/s/CUIHU/work-orders/{work_order.id}"
    page = client.get(url).get_data(as_text=True)
    assert work_order.number in page and "3-2-701" in page and "Repair work order" in page

    def change(**data):
        return client.post(url, data=data, headers=HTMX)

    assert change(action="start").status_code == 200
    no_result = change(action="done")
    assert no_result.status_code == 422
    assert "Write the result before marking it done." in no_result.get_data(as_text=True)
    assert change(action="done", handling="更换灯管", result="已恢复照明").status_code == 200
    denied = change(action="close", feedback="满意")
    assert denied.status_code == 403
    assert "Only a supervisor can close it." in denied.get_data(as_text=True)
    assert change(action="start").status_code == 422
    login(supervisor)
    assert change(action="close").status_code == 422  # the resident's feedback is needed
    closed = change(action="close", feedback="满意")
    assert closed.status_code == 200
    assert closed.get_data(as_text=True).lstrip().startswith('<article id="follow-up"')
    db.session.refresh(work_order)
    assert (work_order.status, work_order.result, work_order.feedback) == (
        "closed",
        "已恢复照明",
        "满意",
    )
    assert work_order.done_at and work_order.closed_at
    assert change(action="note", handling="x").status_code == 422
    listing = client.get("/s/CUIHU/work-orders?status=closed").get_data(as_text=True)
    assert work_order.number in listing
    assert work_order.number not in client.get("/s/CUIHU/work-orders?status=open").get_data(
        as_text=True
    )


def test_d7_the_night_shifts_open_repairs_and_complaints_wait_for_the_morning(
    as_staff, site, staff
):
    night = last_night(site, utcnow())
    at_night = night.start + timedelta(hours=3)
    repair = entry_of(site, staff, kind="repair", when=at_night, summary="夜里水管爆裂")
    complaint = entry_of(site, staff, kind="complaint", when=at_night, summary="夜里噪音投诉")
    entry_of(site, staff, kind="inquiry", when=at_night, summary="夜里咨询")
    entry_of(
        site,
        staff,
        kind="repair",
        when=at_night,
        summary="夜里已修好",
        status="closed",
        result="ok",
    )
    entry_of(site, staff, kind="repair", when=night.start - timedelta(hours=1), summary="白天报修")
    html = as_staff.get("/s/CUIHU/log").get_data(as_text=True)
    section = html.split('id="night-items"')[1].split("</section>")[0]
    assert "夜里水管爆裂" in section and "夜里噪音投诉" in section
    for absent in ("夜里咨询", "夜里已修好", "白天报修"):
        assert absent not in section
    assert "Make the work order" in section and "Make the complaint record" in section
    assert make_follow_up(as_staff, repair).status_code == 303
    html = as_staff.get("/s/CUIHU/log").get_data(as_text=True)
    section = html.split('id="night-items"')[1].split("</section>")[0]
    assert "夜里水管爆裂" not in section and "夜里噪音投诉" in section
    make_follow_up(as_staff, complaint)
    assert 'id="night-items"' not in as_staff.get("/s/CUIHU/log").get_data(as_text=True)


def test_d7_the_night_window_follows_the_site_settings(app, site):
    site.settings = {"night_start": "18:00", "night_end": "08:20"}
    local = datetime(2025, 6, 2, 9, 0, tzinfo=site.tz)
    night = last_night(site, local.astimezone(UTC))
    assert site.local(night.start).strftime("%m-%d %H:%M") == "06-01 18:00"
    assert site.local(night.end).strftime("%m-%d %H:%M") == "06-02 08:20"
    early = datetime(2025, 6, 2, 7, 0, tzinfo=site.tz)  # the night is not over yet
    assert site.local(last_night(site, early.astimezone(UTC)).end).day == 1


# D12: the emergency-keys register


def test_d12_a_key_goes_out_only_with_a_managers_approval(
    as_staff, site, staff, supervisor, make_user, make_site
):
    elsewhere = make_user(role="supervisor", sites=[make_site()])
    data = {"key_name": "水泵房", "taken_by": "维修部 老王", "purpose": "抢修漏水"}
    for approver in ("", str(staff.id), str(elsewhere.id), "abc"):
        refused = as_staff.post(
            "/s/CUIHU/keys", data={**data, "approved_by": approver}, headers=HTMX
        )
        assert refused.status_code == 422
        assert "approval of a supervisor or director" in refused.get_data(as_text=True)
    assert (
        as_staff.post(
            "/s/CUIHU/keys", data={**data, "approved_by": str(supervisor.id), "key_name": " "}
        ).status_code
        == 422
    )
    assert count(KeyLoan) == 0
    page = as_staff.get("/s/CUIHU/keys").get_data(as_text=True)
    assert f'value="{supervisor.id}"' in page and f'value="{staff.id}"' not in page
    created = as_staff.post(
        "/s/CUIHU/keys", data={**data, "approved_by": str(supervisor.id)}, headers=HTMX
    )
    assert created.status_code == 201
    assert "水泵房" in created.get_data(as_text=True) and "李娜" in created.get_data(as_text=True)
    loan = db.session.scalar(select(KeyLoan))
    assert (loan.approved_by_id, loan.recorded_by_id, loan.returned_at) == (
        supervisor.id,
        staff.id,
        None,
    )


def test_d12_a_key_is_returned_once(as_staff, site, staff, supervisor):
    as_staff.post(
        "/s/CUIHU/keys",
        data={"key_name": "配电房", "taken_by": "电工", "approved_by": str(supervisor.id)},
    )
    loan = db.session.scalar(select(KeyLoan))
    first = as_staff.post(f"/s/CUIHU/keys/{loan.id}/return", headers=HTMX)
    assert first.status_code == 200
    db.session.refresh(loan)
    returned = loan.returned_at
    assert returned is not None and loan.returned_recorded_by_id == staff.id
    second = as_staff.post(f"/s/CUIHU/keys/{loan.id}/return", headers=HTMX)
    assert second.status_code == 409
    assert "already returned" in second.get_data(as_text=True)
    db.session.refresh(loan)
    assert loan.returned_at == returned
    assert as_staff.post(f"/s/CUIHU/keys/{loan.id}/return").status_code == 409


# D5: the shift's duty record


def test_d5_the_duty_record_names_people_times_entries_and_what_is_left(
    as_staff, site, staff, make_user, make_checkpoint, make_post
):
    day = datetime(2025, 6, 1).date()
    shift = shift_window(site, day, "day")
    assert site.local(shift.start).strftime("%H:%M") == "08:00"
    assert site.local(shift.end).strftime("%H:%M") == "20:00"
    patroller = make_user(sites=[site], name="陈杰")
    stranger = make_user(sites=[site], name="夜班员")
    front_desk = make_post(site, name="客户服务中心")
    at = shift.start + timedelta(hours=2)
    entry_of(site, staff, kind="repair", when=at, summary="电梯按钮失灵", handling="报维修",
             post=front_desk)  # fmt: skip
    entry_of(site, staff, kind="inquiry", when=at + timedelta(hours=1), summary="停水通知",
             status="closed", result="已答复")  # fmt: skip
    carried = entry_of(site, staff, kind="complaint", when=shift.start - timedelta(days=2),
                       summary="前天的投诉")  # fmt: skip
    entry_of(site, stranger, kind="help", when=shift.end + timedelta(hours=1), summary="夜里求助")
    record_checkin(
        make_checkpoint(site), by=patroller, op_id=new_op_id(), device_time=at, received_at=at,
        clock_offset_s=0.0, results=[],
    )  # fmt: skip
    db.session.commit()
    response = as_staff.get("/s/CUIHU/log/record?date=2025-06-01&shift=day")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    record = html.split('id="duty-record"')[1]
    assert "张伟" in record and "陈杰" in record and "夜班员" not in record
    assert "2025-06-01 08:00" in record and "2025-06-01 20:00" in record
    assert "电梯按钮失灵" in record and "报维修" in record and "停水通知" in record
    assert "已答复" in record and "夜里求助" not in record
    left = record.split("What is left")[1]
    assert "电梯按钮失灵" in left and "前天的投诉" in left and "停水通知" not in left
    assert carried.id in left
    assert "held a post (signed handovers)" in record  # and who logged entries or check-ins
    assert "date=2025-05-31&amp;shift=night" in html and "date=2025-06-01&amp;shift=night" in html
    assert "data-print" in html and "print-record" in html
    by_post = as_staff.get(f"/s/CUIHU/log/record?date=2025-06-01&shift=day&post={front_desk.id}")
    body = by_post.get_data(as_text=True)
    assert (
        "电梯按钮失灵" in body
        and "停水通知" not in body.split("What is left")[0].split('id="duty-record"')[1]
    )
    night = as_staff.get("/s/CUIHU/log/record?date=2025-06-01&shift=night").get_data(as_text=True)
    assert "夜里求助" in night and "2025-06-02 08:00" in night


def test_d5_the_record_defaults_to_the_current_shift(as_staff, site, staff):
    entry_of(site, staff, summary="刚才的报修")
    html = as_staff.get("/s/CUIHU/log/record").get_data(as_text=True)
    assert "刚才的报修" in html


def test_d5_print_styles_hide_the_navigation_on_a4(client):
    css = client.get("/static/app.css").get_data(as_text=True)
    assert "@page { size: A4" in css
    assert ".topbar, .no-print" in css.split("@media print")[1]


# Every view's 4xx


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/s/CUIHU/log?date=yesterday", 400),
        ("/s/CUIHU/log?kind=party", 400),
        ("/s/CUIHU/log?status=maybe", 400),
        ("/s/CUIHU/log/record?shift=evening", 400),
        ("/s/CUIHU/log/record?date=2025-13-01&shift=day", 400),
        ("/s/CUIHU/log/record?post=abc", 400),
        ("/s/CUIHU/log/record?post=999999", 404),
        ("/s/CUIHU/log/no-such-entry", 404),
        ("/s/CUIHU/work-orders?status=lost", 400),
        ("/s/CUIHU/work-orders?type=party", 400),
        ("/s/CUIHU/work-orders/999999", 404),
        ("/s/NOPE/log", 404),
    ],
)
def test_bad_addresses_are_4xx_with_a_message(as_staff, site, url, status):
    response = as_staff.get(url)
    assert response.status_code == status
    assert "<h1>" in response.get_data(as_text=True)


def test_another_sites_records_are_not_found(as_staff, site, make_site, make_user):
    other = make_site(code="NANHU")
    them = make_user(role="supervisor", sites=[other])
    entry = entry_of(other, them, kind="repair")
    work_order = FollowUp(site_id=other.id, entry=entry, type="work_order", number="WX-1",
                          title="x", created_by_id=them.id)  # fmt: skip
    loan = KeyLoan(site_id=other.id, key_name="k", taken_by="t", approved_by_id=them.id,
                   recorded_by_id=them.id)  # fmt: skip
    db.session.add_all([work_order, loan])
    db.session.commit()
    assert as_staff.get(f"/s/CUIHU/log/{entry.id}").status_code == 404
    assert post_step(as_staff, entry, action="comment", note="x").status_code == 404
    assert make_follow_up(as_staff, entry).status_code == 404
    assert as_staff.get(f"/s/CUIHU/work-orders/{work_order.id}").status_code == 404
    assert (
        as_staff.post(f"/s/CUIHU/work-orders/{work_order.id}", data={"action": "start"}).status_code
        == 404
    )
    assert as_staff.post(f"/s/CUIHU/keys/{loan.id}/return").status_code == 404
    assert as_staff.get("/s/NANHU/log").status_code == 403
    assert count(DutyEntryEvent) == 0 and db.session.get(KeyLoan, loan.id).returned_at is None


def test_the_nav_links_to_the_duty_log(as_staff, site):
    html = as_staff.get("/s/CUIHU/log").get_data(as_text=True)
    link = re.search(r'<a href="/s/CUIHU/log"[^>]*>(.*?)</a>', html, re.S)
    assert link and '<span class="nav-label">Duty log</span>' in link.group(1)


def test_d6_a_work_order_carries_the_entrys_place_and_handling(
    as_staff, site, staff, make_post, make_area
):
    """Issue 11 bug 5: the work order made from a repair entry kept neither its 地点 nor its
    处理情况, so the team had to ask the duty desk again."""
    entry = entry_of(
        site,
        staff,
        post=make_post(site, name="客户服务中心"),
        area=make_area(site, name="5栋"),
        location="1单元302卫生间",
        handling="已通知维修工上门查看",
    )
    assert make_follow_up(as_staff, entry).status_code == 303
    work_order = db.session.scalar(select(FollowUp).where(FollowUp.entry_id == entry.id))
    assert work_order.location == "客户服务中心 · 5栋 · 1单元302卫生间"
    assert work_order.handling == "已通知维修工上门查看"
    page = as_staff.get(f"/s/CUIHU/work-orders/{work_order.id}").get_data(as_text=True)
    assert "客户服务中心 · 5栋 · 1单元302卫生间" in page and "已通知维修工上门查看" in page
