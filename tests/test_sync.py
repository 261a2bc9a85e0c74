"""The sync API: ops applied once, conflicts and refusals reported per op, guards."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.findings import record_finding
from dutypwa.models import CheckIn, Device, Finding
from tests.conftest import new_op_id

HEADERS = {"X-Dutypwa-Sync": "1", "Sec-Fetch-Site": "same-origin"}
CHECKLIST = ["压力正常", "无漏水"]


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def staff(make_user, site, login):
    user = make_user(sites=[site], name="张伟")
    login(user)
    return user


@pytest.fixture
def checkpoint(site, make_checkpoint):
    return make_checkpoint(site, kind="equipment", checklist=CHECKLIST)


def now_iso(delta=timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def checkin_op(checkpoint, op_id=None, note="", when=None, **fields):
    return {
        "id": op_id or str(uuid.uuid4()),
        "kind": "checkin",
        "device_time": when or now_iso(),
        "payload": {
            "token": checkpoint.token,
            "fields": {"item-0": "ok", "item-1": "ok", "note": note, **fields},
        },
    }


def post(client, ops, device=None, headers=HEADERS, **kwargs):
    body = {"device": device or {"id": DEVICE, "outbox_size": len(ops), "now": now_iso()}}
    body["ops"] = ops
    return client.post("/api/v1/sync", json=body, headers=headers, **kwargs)


DEVICE = str(uuid.uuid4())


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_ops_are_created_then_duplicate(client, staff, checkpoint):
    ops = [checkin_op(checkpoint), checkin_op(checkpoint)]
    first = post(client, ops)
    assert first.status_code == 200
    body = first.get_json()
    assert [r["status"] for r in body["results"]] == ["created", "created"]
    assert [r["id"] for r in body["results"]] == [op["id"] for op in ops]
    assert datetime.fromisoformat(body["server_time"]).tzinfo is not None
    again = post(client, ops)
    assert [r["status"] for r in again.get_json()["results"]] == ["duplicate", "duplicate"]
    assert count(CheckIn) == 2


def test_same_id_other_body_is_a_conflict(client, staff, checkpoint):
    op = checkin_op(checkpoint, note="第一次")
    post(client, [op])
    clash = {
        **op,
        "payload": {**op["payload"], "fields": {**op["payload"]["fields"], "note": "改"}},
    }
    result = post(client, [clash]).get_json()["results"][0]
    assert result["status"] == "conflict"
    assert result["reason"]
    assert db.session.get(CheckIn, op["id"]).note == "第一次"


def test_refused_op_does_not_stop_the_batch(client, staff, checkpoint, make_site, make_checkpoint):
    foreign = make_checkpoint(make_site(name="南湖苑"))
    bad_answers = checkin_op(checkpoint, **{"item-1": "not_ok"})  # a "not OK" needs a note
    ops = [
        checkin_op(checkpoint),
        bad_answers,
        checkin_op(foreign),
        {**checkin_op(checkpoint), "payload": {"token": "nope", "fields": {}}},
        {**checkin_op(checkpoint), "kind": "teleport"},
        checkin_op(checkpoint),
    ]
    results = post(client, ops).get_json()["results"]
    assert [r["status"] for r in results] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
    ]
    assert "Describe what is wrong" in results[1]["reason"]
    assert "南湖苑" in results[2]["reason"]
    assert "not one of our checkpoints" in results[3]["reason"]
    assert count(CheckIn) == 2


def test_two_hours_fast_clock_is_kept_with_its_offset_and_flagged(client, staff, checkpoint):
    fast = timedelta(hours=2)
    op = checkin_op(checkpoint, when=now_iso(fast - timedelta(minutes=10)))
    device = {"id": DEVICE, "outbox_size": 1, "now": now_iso(fast)}
    assert post(client, [op], device=device).get_json()["results"][0]["status"] == "created"
    checkin = db.session.get(CheckIn, op["id"])
    assert checkin.clock_flagged
    assert abs(checkin.clock_offset_s + 7200) < 60
    # The visit happened ten minutes ago by the server's clock.
    assert abs((datetime.now(UTC) - checkin.visited_at).total_seconds() - 600) < 60
    assert checkin.device_id == DEVICE


def test_device_outbox_is_recorded(client, staff, checkpoint):
    oldest = now_iso(timedelta(hours=-3))
    device = {"id": DEVICE, "outbox_size": 7, "oldest_pending": oldest, "now": now_iso()}
    post(client, [], device=device)
    row = db.session.get(Device, DEVICE)
    assert (row.user_id, row.outbox_size) == (staff.id, 7)
    assert row.oldest_pending_at == datetime.fromisoformat(oldest)


def test_finding_op_with_photos(client, staff, site, checkpoint):
    photo_ids = [str(uuid.uuid4()) for _ in range(2)]
    op = {
        "id": str(uuid.uuid4()),
        "kind": "finding",
        "device_time": now_iso(),
        "payload": {
            "site": site.code,
            "checkpoint_token": checkpoint.token,
            "category": "equipment",
            "severity": "urgent",
            "description": "水泵漏水",
            "photos": photo_ids,
        },
    }
    assert post(client, [op]).get_json()["results"][0]["status"] == "created"
    finding = db.session.get(Finding, op["id"])
    assert (finding.checkpoint_id, finding.severity) == (checkpoint.id, "urgent")
    assert [p.photo_id for p in finding.photos] == photo_ids
    too_many = {**op, "id": str(uuid.uuid4())}
    too_many["payload"] = {**op["payload"], "photos": [str(uuid.uuid4()) for _ in range(7)]}
    assert post(client, [too_many]).get_json()["results"][0]["status"] == "rejected"


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"ops": "many"},
        {"device": {}, "ops": [{"id": "x", "kind": "checkin", "device_time": "now",
                                "payload": {}}]},
        {"device": {}, "ops": [{"id": str(uuid.uuid4()), "kind": "checkin", "payload": {}}]},
        {"device": {}, "ops": [{"id": str(uuid.uuid4()), "kind": "checkin",
                                "device_time": "2026-11-26T10:00:00", "payload": {}}]},
    ],
)  # fmt: skip
def test_malformed_batch_is_400_and_stores_nothing(client, staff, checkpoint, body):
    good = checkin_op(checkpoint)
    if isinstance(body, dict) and isinstance(body.get("ops"), list):
        body["ops"].insert(0, good)
    response = client.post("/api/v1/sync", json=body, headers=HEADERS)
    assert response.status_code == 400
    assert response.get_json()["error"]
    assert count(CheckIn) == 0


def test_more_than_100_ops_is_refused(client, staff, checkpoint):
    response = post(client, [checkin_op(checkpoint) for _ in range(101)])
    assert response.status_code == 413
    assert count(CheckIn) == 0


def test_not_logged_in_is_401_json(client, checkpoint):
    response = post(client, [checkin_op(checkpoint)])
    assert response.status_code == 401
    assert "log in" in response.get_json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin"},  # no custom header
        {**HEADERS, "Sec-Fetch-Site": "cross-site"},
        {**HEADERS, "Origin": "https://evil.example"},
    ],
)
def test_foreign_or_plain_requests_are_refused(client, staff, checkpoint, headers):
    response = post(client, [checkin_op(checkpoint)], headers=headers)
    assert response.status_code in (400, 403)
    assert count(CheckIn) == 0


def test_form_encoded_body_is_refused(client, staff):
    response = client.post("/api/v1/sync", data={"ops": "[]"}, headers=HEADERS)
    assert response.status_code == 400


def test_a_failure_mid_batch_stores_nothing_and_a_replay_stores_each_once(
    client, staff, checkpoint, monkeypatch
):
    """The server dying mid-batch: the batch is one transaction, the device resends it."""
    import dutypwa.sync

    ops = [checkin_op(checkpoint) for _ in range(5)]
    real = dutypwa.sync.APPLY["checkin"]
    calls = []

    def dies_on_the_third(op, context):
        calls.append(op.id)
        if len(calls) == 3:
            raise RuntimeError("process killed")
        return real(op, context)

    monkeypatch.setitem(dutypwa.sync.APPLY, "checkin", dies_on_the_third)
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        assert post(client, ops).status_code == 500
    finally:
        client.application.config["PROPAGATE_EXCEPTIONS"] = None
    assert count(CheckIn) == 0
    monkeypatch.setitem(dutypwa.sync.APPLY, "checkin", real)
    statuses = [r["status"] for r in post(client, ops).get_json()["results"]]
    assert statuses == ["created"] * 5
    assert count(CheckIn) == 5


def test_reference_data_lists_my_sites_checkpoints(client, staff, site, checkpoint, make_site):
    make_site(code="OTHER")
    data = client.get("/api/v1/reference", headers=HEADERS).get_json()
    assert [s["code"] for s in data["sites"]] == [site.code]
    point = data["sites"][0]["checkpoints"][0]
    assert (point["token"], point["checklist"]) == (checkpoint.token, CHECKLIST)
    assert {c["key"] for c in data["categories"]} >= {"garden", "equipment", "safety"}
    assert data["user"]["id"] == staff.id
    assert point["rechecks"] == []


def test_reference_data_lists_rechecks_for_the_offline_checkpoint_page(
    client, staff, site, checkpoint
):
    """A problem raised at a checkpoint is re-checked by the next patrol, offline too."""
    finding, _created = record_finding(
        site,
        by=staff,
        op_id=new_op_id(),
        device_time=datetime.now(UTC),
        category="equipment",
        severity="normal",
        description="Pump leaking",
        checkpoint=checkpoint,
    )
    db.session.commit()
    point = client.get("/api/v1/reference", headers=HEADERS).get_json()["sites"][0]["checkpoints"][
        0
    ]
    assert [(r["id"], r["text"]) for r in point["rechecks"]] == [(finding.id, "Pump leaking")]


def test_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert {"/sync", "/photos/{id}", "/reference"} <= set(doc["paths"])


def test_the_same_op_twice_in_one_batch(client, staff, checkpoint):
    op = checkin_op(checkpoint)
    clash = {**op, "payload": {**op["payload"], "fields": {"item-0": "ok", "item-1": "ok",
                                                           "note": "改"}}}  # fmt: skip
    statuses = [r["status"] for r in post(client, [op, op, clash]).get_json()["results"]]
    assert statuses == ["created", "duplicate", "conflict"]
    assert count(CheckIn) == 1


def test_visits_from_two_batches_add_up_in_the_current_state(client, staff, checkpoint):
    from dutypwa.models import CheckpointState

    early = checkin_op(checkpoint, when=now_iso(timedelta(minutes=-30)))
    late = checkin_op(checkpoint, when=now_iso(timedelta(minutes=-5)))
    post(client, [late])
    post(client, [early])  # arrives later but happened earlier: counts, does not move back
    state = db.session.get(CheckpointState, checkpoint.id)
    assert state.visit_count == 2
    assert state.last_checkin_id == late["id"]
