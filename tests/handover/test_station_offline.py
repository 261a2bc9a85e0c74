"""The station without the network: its saved reference, the PIN proofs its ops carry, and
the handover ops the sync API takes with the station's cookie, nobody logged in (H1, H2,
H3, H5, H8, H9, H12) — including items a phone changed before the tablet's steps arrived."""

import hashlib
import hmac
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dutypwa.dutylog.entries import record_entry, record_entry_step
from dutypwa.extensions import db
from dutypwa.models import DutyEntry, Finding, Handover, HandoverEvent, Photo, PostDuty, User
from tests.conftest import new_op_id
from tests.handover.conftest import SIGNATURE
from tests.handover.conftest import on_duty as hold
from tests.test_photos import phone_jpeg

HEADERS = {"X-Dutypwa-Sync": "1", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def tablet(client, login, supervisor, post):
    """The test client enrolled as the post's station; nobody is logged in on it."""
    login(supervisor)
    assert client.post("/s/CUIHU/stations", data={"post_id": post.id}).status_code == 303
    return client


@pytest.fixture
def night_on_duty(post, night):
    hold(post, night, datetime.now(UTC) + timedelta(hours=1))


# Entries are logged one after another, a microsecond apart even on the frozen clock: the
# log review lists them in the order they were received.
_LOGGED = itertools.count()


def entry(site, post, by, kind, summary):
    at = datetime.now(UTC) + timedelta(microseconds=next(_LOGGED))
    made, _ = record_entry(
        site,
        by=by,
        op_id=new_op_id(),
        device_time=at,
        received_at=at,
        kind=kind,
        summary=summary,
        post=post,
    )
    db.session.commit()
    return made


def key_of(user: User, pin: str) -> bytes:
    """What the tablet derives from the PIN it was given (PBKDF2, the reference's salt)."""
    iterations, salt, _key = user.pin_key.split("$")
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), int(iterations))


def proof(user: User, pin: str, op_id: str) -> str:
    return hmac.new(key_of(user, pin), op_id.encode(), hashlib.sha256).hexdigest()


def when(minutes=0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def arrive_op(person, pin, outgoing, op_id=None, minutes=0):
    op_id = op_id or new_op_id()
    payload = {
        "person": person.id,
        "pin_proof": proof(person, pin, op_id),
        "outgoing": outgoing.id if outgoing else None,
    }
    return {
        "id": op_id,
        "kind": "handover_arrive",
        "device_time": when(minutes),
        "payload": payload,
    }


def step_op(handover_id, person, pin, action, minutes=0, photos=(), **fields):
    op_id = new_op_id()
    payload = {
        "subject": handover_id,
        "person": person.id,
        "pin_proof": proof(person, pin, op_id),
        "fields": {"action": action, **fields},
        "photos": list(photos),
    }
    return {"id": op_id, "kind": "handover_step", "device_time": when(minutes), "payload": payload}


def sync(client, ops):
    response = client.post("/api/v1/sync", json={"device": {}, "ops": ops}, headers=HEADERS)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["results"]


def whole_handover(handover_id, day, night, repair, complaint):
    """The steps the tablet queued offline: the torch is one short (explained), the repair
    is carried over, the complaint completed; both sign, the relief first."""
    return [
        step_op(
            handover_id,
            day,
            "5678",
            "inventory",
            1,
            **{
                "count-0": "1",
                "condition-0": "ok",
                "explanation-0": "掉进水池",
                "count-1": "3",
                "condition-1": "ok",
            },
        ),
        step_op(
            handover_id,
            day,
            "5678",
            "log_review",
            2,
            shown=f"{repair.id},{complaint.id}",
            **{f"entry-{repair.id}": "carried", f"entry-{complaint.id}": "completed"},
        ),
        step_op(handover_id, day, "5678", "area_check", 3),
        step_op(handover_id, night, "1234", "summary", 4, summary="夜班正常，渗水移交白班"),
        step_op(handover_id, day, "5678", "sign_incoming", 5, signature=SIGNATURE),
        step_op(handover_id, night, "1234", "sign_outgoing", 6, signature=SIGNATURE),
    ]


def test_the_reference_has_what_the_offline_station_draws_and_no_pin(
    tablet, site, post, night, day, supervisor, night_on_duty
):
    emergency = entry(site, post, night, "emergency", "地下室进水")
    body = tablet.get("/station/reference.json")
    assert body.status_code == 200 and body.headers["Cache-Control"] == "no-store"
    reference = body.get_json()
    assert reference["post"]["name"] == "客户服务中心"
    assert reference["post"]["inventory"] == [
        {"name": "手电筒", "count": 2},
        {"name": "对讲机", "count": 3},
    ]
    assert reference["duty"]["person"] == {"id": night.id, "name": "刘芳"}
    assert reference["handover"] is None
    assert [(e["id"], e["important"]) for e in reference["entries"]] == [(emergency.id, True)]
    people = {person["id"]: person for person in reference["people"]}
    assert people[supervisor.id]["manager"] and not people[day.id]["manager"]
    verifier = people[day.id]["pin"]
    # The tablet can check 5678 and nothing else; neither the PIN nor its key is sent.
    assert hashlib.sha256(key_of(day, "5678")).hexdigest() == verifier["verifier"]
    assert hashlib.sha256(key_of(day, "0000")).hexdigest() != verifier["verifier"]
    raw = body.get_data(as_text=True)
    assert day.pin_hash not in raw and day.pin_key.split("$")[2] not in raw


def test_the_reference_and_the_offline_page_need_the_station(client, login, day):
    assert client.get("/station/reference.json").status_code == 403
    assert client.get("/station/app").status_code == 403
    login(day)
    assert client.get("/station/reference.json").status_code == 403


def test_h5_a_handover_made_offline_syncs_into_the_same_record_as_online(
    tablet, site, post, night, day, night_on_duty
):
    repair = entry(site, post, night, "repair", "卫生间天花板渗水")
    complaint = entry(site, post, night, "complaint", "楼上夜间装修噪音")
    arrival = arrive_op(day, "5678", night)
    ops = [arrival, *whole_handover(arrival["id"], day, night, repair, complaint)]
    results = sync(tablet, ops)
    assert [r["status"] for r in results] == ["created"] * 7, results

    handover = db.session.get(Handover, arrival["id"])
    assert handover.status == "signed"
    assert (handover.incoming_id, handover.outgoing_id) == (day.id, night.id)
    assert handover.inventory[0]["counted"] == 1 and handover.inventory[0]["discrepancy"]
    # H2: the missing torch became a nonconformity with the explanation.
    finding = db.session.scalar(select(Finding).where(Finding.source == "handover"))
    assert "手电筒" in finding.description and "掉进水池" in finding.description
    # H3, H12: the repair is carried over by name; the complaint is closed.
    assert [item["title"] for item in handover.carried] == ["卫生间天花板渗水"]
    assert db.session.get(DutyEntry, complaint.id).status == "closed"
    assert db.session.get(PostDuty, post.id).person_id == day.id
    assert handover.incoming_signature == SIGNATURE == handover.outgoing_signature

    # The tablet resends everything (a flush cut short): nothing is applied twice.
    assert [r["status"] for r in sync(tablet, ops)] == ["duplicate"] * 7
    assert db.session.scalar(select(func.count()).select_from(HandoverEvent)) == 6
    assert db.session.scalar(select(func.count()).select_from(Finding)) == 1


def test_a_step_without_the_persons_pin_proof_is_refused_and_changes_nothing(
    tablet, post, night, day, night_on_duty
):
    arrival = arrive_op(day, "5678", night)
    assert sync(tablet, [arrival])[0]["status"] == "created"
    wrong_pin = step_op(arrival["id"], day, "0000", "area_check")
    # 刘芳's proof under 张伟's name: a PIN proves one person only.
    borrowed = step_op(arrival["id"], day, "5678", "area_check")
    borrowed["payload"]["person"] = night.id
    missing = step_op(arrival["id"], day, "5678", "area_check")
    del missing["payload"]["pin_proof"]
    for op in (wrong_pin, borrowed, missing):
        result = sync(tablet, [op])[0]
        assert result["status"] == "rejected" and "PIN" in result["reason"], result
    assert db.session.scalar(select(func.count()).select_from(HandoverEvent)) == 0


def test_h8_rules_hold_for_offline_steps_as_online(tablet, post, night, day, night_on_duty):
    arrival = arrive_op(day, "5678", night)
    sync(tablet, [arrival])
    # The outgoing person signs before the relief, or a step out of order: refused.
    early = step_op(arrival["id"], night, "1234", "sign_outgoing", signature=SIGNATURE)
    out_of_order = step_op(arrival["id"], night, "1234", "summary", summary="x")
    results = sync(tablet, [early, out_of_order])
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert db.session.get(Handover, arrival["id"]).status == "open"


def test_a_check_in_for_a_post_that_changed_hands_meanwhile_is_a_conflict(
    tablet, post, night, day, supervisor, night_on_duty
):
    """The tablet saw 刘芳 on duty; by the time its check-in arrives, someone else holds the
    post: the check-in is for a shift that is gone, and says so."""
    stale = arrive_op(day, "5678", night)
    hold(post, supervisor, datetime.now(UTC) + timedelta(hours=3))
    result = sync(tablet, [stale])[0]
    assert result["status"] == "conflict" and result["reason"]
    assert db.session.get(Handover, stale["id"]) is None


def test_h12_items_a_phone_changed_before_the_review_arrived_settle_the_same_way(
    tablet, site, post, night, day, night_on_duty
):
    """The tablet's review (offline) carries the complaint and completes the repair; before
    it reaches the server a phone closed the complaint and logged a new leak at the post.
    The record follows the log as it is now: the complaint is not carried (closed on the
    phone, by whom), the new leak is carried over unreviewed — on every replay alike."""
    repair = entry(site, post, night, "repair", "卫生间天花板渗水")
    complaint = entry(site, post, night, "complaint", "楼上夜间装修噪音")
    arrival = arrive_op(day, "5678", night)
    inventory = step_op(
        arrival["id"],
        day,
        "5678",
        "inventory",
        **{"count-0": "2", "condition-0": "ok", "count-1": "3", "condition-1": "ok"},
    )
    review = step_op(
        arrival["id"],
        day,
        "5678",
        "log_review",
        shown=f"{repair.id},{complaint.id}",
        **{f"entry-{repair.id}": "completed", f"entry-{complaint.id}": "carried"},
    )
    # Meanwhile, on a phone:
    record_entry_step(
        complaint,
        by=night,
        op_id=new_op_id(),
        device_time=datetime.now(UTC),
        action="close",
        result="已与住户沟通",
    )
    leak = entry(site, post, night, "repair", "2号楼水管漏水")
    db.session.commit()

    assert [r["status"] for r in sync(tablet, [arrival, inventory, review])] == ["created"] * 3
    handover = db.session.get(Handover, arrival["id"])
    assert handover.carried == [{"entry": leak.id, "title": "2号楼水管漏水", "unreviewed": True}]
    assert handover.completed == [
        {"entry": repair.id, "title": "卫生间天花板渗水"},
        {"entry": complaint.id, "title": "楼上夜间装修噪音", "meanwhile": "刘芳"},
    ]
    assert db.session.get(DutyEntry, repair.id).status == "closed"
    page = tablet.get(f"/s/CUIHU/handovers/{handover.id}")  # the station is not a reader
    assert page.status_code in (302, 401, 403)


def test_h9_an_emergency_closed_on_a_phone_meanwhile_no_longer_blocks(
    tablet, site, post, night, day, night_on_duty
):
    emergency = entry(site, post, night, "emergency", "地下室进水")
    arrival = arrive_op(day, "5678", night)
    steps = [
        step_op(
            arrival["id"],
            day,
            "5678",
            "inventory",
            **{"count-0": "2", "condition-0": "ok", "count-1": "3", "condition-1": "ok"},
        ),
        step_op(
            arrival["id"],
            day,
            "5678",
            "log_review",
            shown=emergency.id,
            **{f"entry-{emergency.id}": "carried"},
        ),
        step_op(arrival["id"], day, "5678", "area_check"),
        step_op(arrival["id"], night, "1234", "summary", summary="地下室进水已处理"),
    ]
    sign = step_op(arrival["id"], day, "5678", "sign_incoming", signature=SIGNATURE)
    results = sync(tablet, [arrival, *steps, sign])
    assert results[-1]["status"] == "rejected"  # H9: carried, still open: blocked
    record_entry_step(
        emergency,
        by=night,
        op_id=new_op_id(),
        device_time=datetime.now(UTC),
        action="close",
        result="已抽水完毕",
    )
    db.session.commit()
    again = step_op(arrival["id"], day, "5678", "sign_incoming", signature=SIGNATURE)
    assert sync(tablet, [again])[0]["status"] == "created"


def test_a_station_sends_only_handover_ops(tablet, site, night_on_duty):
    other = {
        "id": new_op_id(),
        "kind": "duty_entry",
        "device_time": when(),
        "payload": {"site": "CUIHU", "fields": {"kind": "patrol", "summary": "x"}},
    }
    result = sync(tablet, [other])[0]
    assert result["status"] == "rejected" and result["reason"]
    assert db.session.scalar(select(func.count()).select_from(DutyEntry)) == 0


def test_handover_ops_need_a_station(app, client, login, day):
    login(day)
    op = arrive_op(day, "5678", None)
    result = sync(client, [op])[0]
    assert result["status"] == "rejected"
    anonymous = app.test_client().post(
        "/api/v1/sync", json={"device": {}, "ops": [op]}, headers=HEADERS
    )
    assert anonymous.status_code == 401


def test_h7_the_summary_photos_upload_with_the_station_as_the_person(
    app, tmp_path, tablet, site, night, day, make_site, make_user
):
    app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    photo_id = str(uuid.uuid4())
    body = phone_jpeg(400, 300)
    headers = {**HEADERS, "Content-Type": "image/jpeg", "X-Dutypwa-Site": "CUIHU"}
    assert tablet.put(f"/api/v1/photos/{photo_id}", data=body, headers=headers).status_code == 403
    stranger = make_user("staff", sites=[make_site(code="NANHU")])
    refused = tablet.put(
        f"/api/v1/photos/{photo_id}",
        data=body,
        headers={**headers, "X-Dutypwa-Person": str(stranger.id)},
    )
    assert refused.status_code == 403
    stored = tablet.put(
        f"/api/v1/photos/{photo_id}",
        data=body,
        headers={**headers, "X-Dutypwa-Person": str(night.id)},
    )
    assert stored.status_code == 201
    assert db.session.get(Photo, photo_id).uploaded_by_id == night.id


def test_a_pin_set_before_offline_checks_gets_its_key_at_the_next_online_pin(day):
    day.pin_key = None
    db.session.commit()
    assert not day.check_pin("0000") and day.pin_key is None
    assert day.check_pin("5678") and day.pin_key
    iterations, salt, key = day.pin_key.split("$")
    assert hashlib.pbkdf2_hmac("sha256", b"5678", salt.encode(), int(iterations)).hex() == key
