"""The nonconformity lifecycle (rules D1, D3): the step rule table exhaustively, each step's
effect, idempotency, two offline devices, the list and detail pages, the step form post,
and the re-check on the next patrol."""

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.findings import record_finding
from dutypwa.models import (
    ROLES,
    STATES,
    STEPS,
    CheckIn,
    Finding,
    FindingEvent,
    Photo,
    utcnow,
)
from dutypwa.nonconformities import record_step, refusal
from tests.conftest import PASSWORD, IsolatedClient, new_op_id

HX = {"HX-Request": "true"}
SYNC = {"X-Dutypwa-Sync": "1", "Sec-Fetch-Site": "same-origin"}

# ---------------------------------------------------------------------------------------
# The rule table, written out by hand (not derived from the code's FROM dict).
# Who may take each step, by the state of the item:
NOBODY = "nobody"
ANYONE = "anyone"  # every role
DOER = "doer"  # every role, but staff only when it is not assigned to someone else
BOSS = "boss"  # supervisor, director, admin
CHECKER = "checker"  # supervisor, director, admin who did not make the correction

WHO_MAY = {
    #              assign   correct  verify_pass verify_fail close_deduct recheck comment
    "open":      (BOSS,   DOER,    NOBODY,     NOBODY,     NOBODY,      ANYONE, ANYONE),
    "assigned":  (BOSS,   DOER,    NOBODY,     NOBODY,     NOBODY,      ANYONE, ANYONE),
    "corrected": (NOBODY, NOBODY,  CHECKER,    CHECKER,    CHECKER,     ANYONE, ANYONE),
    "reopened":  (BOSS,   DOER,    NOBODY,     NOBODY,     CHECKER,     ANYONE, ANYONE),
    "closed":    (NOBODY, NOBODY,  NOBODY,     NOBODY,     NOBODY,      NOBODY, ANYONE),
}  # fmt: skip
COLUMNS = ("assign", "correct", "verify_pass", "verify_fail", "close_deduct", "recheck", "comment")


def may(who: str, role: str, *, assigned_to_other: bool, own_correction: bool) -> bool:
    manager = role in ("supervisor", "director", "admin")
    return {
        NOBODY: False,
        ANYONE: True,
        DOER: manager or not assigned_to_other,
        BOSS: manager,
        CHECKER: manager and not own_correction,
    }[who]


def test_the_table_names_every_state_and_step():
    assert set(WHO_MAY) == set(STATES)
    assert set(COLUMNS) == set(STEPS)


@pytest.fixture(scope="module")
def sentences(_app):
    """The refusals are translated sentences: they need a request's locale."""
    with _app.test_request_context(headers={"Accept-Language": "en"}):
        yield


CASES = [
    (state, step, role, other, own)
    for state in STATES
    for step in STEPS
    for role in ROLES
    for other in (False, True)
    for own in (False, True)
]


@pytest.mark.parametrize(("state", "step", "role", "assigned_to_other", "own_correction"), CASES)
def test_d1_d3_state_machine(sentences, state, step, role, assigned_to_other, own_correction):
    """D1/D3: every state × step × role × (assigned to another, own correction)."""
    who = WHO_MAY[state][COLUMNS.index(step)]
    expected = may(who, role, assigned_to_other=assigned_to_other, own_correction=own_correction)
    reason = refusal(
        state, step, role, assigned_to_other=assigned_to_other, own_correction=own_correction
    )
    assert (reason is None) == expected, reason
    if reason is not None:
        assert isinstance(reason, str) and reason  # a sentence for the person


def test_an_unknown_step_is_refused(sentences):
    assert refusal("open", "delete", "admin")


# ---------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def staff(make_user, site):
    return make_user(role="staff", sites=[site], name="张伟")


@pytest.fixture
def other_staff(make_user, site):
    return make_user(role="staff", sites=[site], name="刘芳")


@pytest.fixture
def supervisor(make_user, site):
    return make_user(role="supervisor", sites=[site], name="李娜")


@pytest.fixture
def director(make_user, site):
    return make_user(role="director", sites=[site], name="王强")


@pytest.fixture(autouse=True)
def photo_dir(request, tmp_path):
    if "sentences" in request.fixturenames:
        yield  # the rule table needs no database
        return
    app = request.getfixturevalue("app")
    app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    with app.test_request_context(headers={"Accept-Language": "en"}):  # translated refusals
        yield
    app.config["PHOTO_DIR"] = ""


@pytest.fixture
def as_user(app):
    """A logged-in client per person: as_user(user)."""
    clients = {}

    def make(user):
        if user.id not in clients:
            client = IsolatedClient(app, app.response_class)
            client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
            response = client.post("/login", data={"username": user.username, "password": PASSWORD})
            assert response.status_code == 302
            clients[user.id] = client
        return clients[user.id]

    return make


def raise_finding(site, by, *, checkpoint=None, severity="normal", description="草坪枯黄"):
    finding, _created = record_finding(
        site,
        by=by,
        op_id=new_op_id(),
        device_time=datetime.now(UTC),
        category="garden",
        severity=severity,
        description=description,
        checkpoint=checkpoint,
    )
    db.session.commit()
    return finding


def jpeg() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 120, 10)).save(buffer, "JPEG")
    buffer.seek(0)
    return buffer


def step_url(finding) -> str:
    return f"/s/CUIHU/findings/{finding.id}/steps"


def post_step(client, finding, action, *, op_id=None, base=None, photos=(), **fields):
    data = {
        "op_id": op_id or new_op_id(),
        "action": action,
        "device_time": datetime.now(UTC).isoformat(),
        **fields,
    }
    if base is not None:
        data["base"] = str(base)
    if photos:
        data["photos"] = [(photo, f"p{i}.jpg") for i, photo in enumerate(photos)]
    return client.post(step_url(finding), data=data, headers=HX, content_type="multipart/form-data")


def reload(finding) -> Finding:
    db.session.expire_all()
    return db.session.get(Finding, finding.id)


def events(finding) -> list[FindingEvent]:
    return db.session.scalars(
        select(FindingEvent)
        .where(FindingEvent.finding_id == finding.id)
        .order_by(FindingEvent.ordinal)
    ).all()


def apply(finding, action, by, **kwargs):
    """record_step straight, for tests of the domain function."""
    event, _created = record_step(
        finding, by=by, op_id=new_op_id(), device_time=utcnow(), action=action, **kwargs
    )
    db.session.commit()
    return event


# ---------------------------------------------------------------------------------------
# record_step: what each step does


def test_d1_whole_lifecycle_assign_correct_verify_pass(site, staff, supervisor):
    """D1: a nonconformity is corrected and recorded: assigned, corrected, verified."""
    finding = raise_finding(site, staff)
    assign = apply(finding, "assign", supervisor, assignee_id=staff.id, note="请今天处理")
    assert (finding.status, finding.assignee_id, assign.to_status) == (
        "assigned",
        staff.id,
        "assigned",
    )
    apply(finding, "correct", staff, note="已补种草皮", photo_ids=[new_op_id()])
    assert (finding.status, finding.corrected_by_id) == ("corrected", staff.id)
    apply(finding, "verify_pass", supervisor)
    assert finding.status == "closed" and finding.closed_at is not None
    assert [e.action for e in events(finding)] == ["assign", "correct", "verify_pass"]
    assert [e.ordinal for e in events(finding)] == [1, 2, 3]
    assert finding.events_count == 3


def test_verify_fail_reopens_as_second_correction_with_a_new_due_time(site, staff, supervisor):
    finding = raise_finding(site, staff, severity="urgent")
    first_due = finding.due_at
    apply(finding, "correct", staff, note="清理了")
    apply(finding, "verify_fail", supervisor, note="还有杂物")
    assert (finding.status, finding.round) == ("reopened", 2)
    assert finding.due_at > first_due
    apply(finding, "correct", staff, note="全部清理")
    apply(finding, "verify_pass", supervisor)
    assert finding.status == "closed" and finding.round == 2


def test_close_with_a_deduction_records_the_points(site, staff, supervisor):
    finding = raise_finding(site, staff)
    apply(finding, "correct", staff, note="修好了")
    apply(finding, "close_deduct", supervisor, note="超时整改", deduction=5)
    assert (finding.status, finding.deduction) == ("closed", 5)
    assert events(finding)[-1].deduction == 5


def test_team_assignment_lets_any_staff_correct(site, staff, other_staff, supervisor):
    finding = raise_finding(site, staff)
    apply(finding, "assign", supervisor, assignee_team="maintenance")
    assert (finding.assignee_id, finding.assignee_team) == (None, "maintenance")
    apply(finding, "correct", other_staff, note="维修班已处理")
    assert finding.status == "corrected"


def test_staff_cannot_correct_an_item_assigned_to_someone_else(
    site, staff, other_staff, supervisor
):
    finding = raise_finding(site, staff)
    apply(finding, "assign", supervisor, assignee_id=staff.id)
    with pytest.raises(DomainError) as refused:
        apply(finding, "correct", other_staff, note="x")
    assert refused.value.status == 403 and "someone else" in refused.value.message


def test_d1_cannot_verify_own_correction(site, staff, supervisor, director):
    """D1: the person who corrected it is not the one who verifies it."""
    finding = raise_finding(site, staff)
    apply(finding, "correct", supervisor, note="我自己修好了")
    for action in ("verify_pass", "verify_fail", "close_deduct"):
        with pytest.raises(DomainError) as refused:
            apply(finding, action, supervisor, note="ok", deduction=1)
        assert refused.value.status == 403
        assert "own correction" in refused.value.message
    assert reload(finding).status == "corrected" and finding.events_count == 1
    apply(reload(finding), "verify_pass", director)
    assert reload(finding).status == "closed"


def test_d3_staff_cannot_take_a_supervisors_step(site, staff, other_staff):
    finding = raise_finding(site, staff)
    apply(finding, "correct", staff, note="修好了")
    with pytest.raises(DomainError) as refused:
        apply(finding, "verify_pass", other_staff)
    assert refused.value.status == 403 and "supervisor" in refused.value.message


def test_a_step_from_the_wrong_state_is_422_and_changes_nothing(site, staff, supervisor):
    finding = raise_finding(site, staff)
    with pytest.raises(DomainError) as refused:
        apply(finding, "verify_pass", supervisor)
    assert refused.value.status == 422 and "corrected" in refused.value.message
    assert reload(finding).status == "open" and events(finding) == []


def test_recheck_and_comment_keep_the_state(site, staff, supervisor, make_checkpoint):
    checkpoint = make_checkpoint(site)
    finding = raise_finding(site, staff, checkpoint=checkpoint)
    assert finding.recheck_due
    apply(finding, "recheck", staff, result="not_ok")
    apply(finding, "comment", supervisor, note="明天再看")
    assert finding.status == "open" and not finding.recheck_due
    assert [(e.from_status, e.to_status) for e in events(finding)] == [("open", "open")] * 2


def test_closed_item_takes_comments_only(site, staff, supervisor):
    finding = raise_finding(site, staff)
    apply(finding, "correct", staff, note="好了")
    apply(finding, "verify_pass", supervisor)
    for action in ("assign", "correct", "recheck", "verify_fail"):
        with pytest.raises(DomainError):
            apply(finding, action, supervisor, note="x", assignee_id=staff.id, result="ok")
    apply(finding, "comment", staff, note="已确认")
    assert finding.status == "closed"


def test_same_op_id_is_a_duplicate_and_other_body_a_conflict(site, staff, supervisor):
    finding = raise_finding(site, staff)
    op_id, when = new_op_id(), utcnow()
    first, created = record_step(
        finding, by=supervisor, op_id=op_id, device_time=when, action="assign",
        assignee_id=staff.id,
    )  # fmt: skip
    again, created_again = record_step(
        finding, by=supervisor, op_id=op_id, device_time=when, action="assign",
        assignee_id=staff.id,
    )  # fmt: skip
    assert created and not created_again and again is first
    with pytest.raises(DomainError) as conflict:
        record_step(
            finding, by=supervisor, op_id=op_id, device_time=when, action="assign",
            assignee_team="cleaning",
        )  # fmt: skip
    assert conflict.value.status == 409
    assert finding.events_count == 1


# ---------------------------------------------------------------------------------------
# Two devices offline: both steps kept, in server order; the late one superseded.


def step_op(site, finding, fields, *, photos=()):
    return {
        "id": new_op_id(),
        "kind": "finding_step",
        "device_time": datetime.now(UTC).isoformat(),
        "payload": {
            "site": site.code,
            "subject": finding.id,
            "fields": fields,
            "photos": list(photos),
        },
    }


def sync(client, *ops):
    body = {"device": {"id": new_op_id(), "outbox_size": 0}, "ops": list(ops)}
    response = client.post("/api/v1/sync", json=body, headers=SYNC)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["results"]


def test_two_offline_devices_both_kept_second_superseded(
    as_user, site, staff, supervisor, director
):
    """Two supervisors verify the same correction on phones without network: the first
    to reach the server applies, the second is kept as superseded and told why."""
    finding = raise_finding(site, staff)
    apply(finding, "correct", staff, note="已修复")
    base = str(finding.events_count)
    passed = step_op(site, finding, {"action": "verify_pass", "base": base, "note": "合格"})
    failed = step_op(site, finding, {"action": "verify_fail", "base": base, "note": "不合格"})

    [first] = sync(as_user(supervisor), passed)
    [second] = sync(as_user(director), failed)

    assert first["status"] == "created"
    assert second["status"] == "rejected"
    assert "李娜" in second["reason"]  # who changed it first
    kept = events(finding)
    assert [(e.action, e.outcome) for e in kept] == [
        ("correct", "applied"),
        ("verify_pass", "applied"),
        ("verify_fail", "superseded"),
    ]
    assert kept[-1].id == failed["id"] and kept[-1].reason == second["reason"]
    assert reload(finding).status == "closed" and reload(finding).round == 1
    # The phone sends it again (it never heard the answer): same answer, one event.
    assert sync(as_user(director), failed)[0]["status"] == "rejected"
    assert len(events(finding)) == 3
    # Both are on the page's timeline; the superseded one with its reason.
    page = as_user(supervisor).get(f"/s/{site.code}/findings/{finding.id}")
    body = page.get_data(as_text=True)
    assert body.count('class="event superseded"') == 1 and "Not applied:" in body


def test_a_fresh_refused_step_through_sync_is_rejected_and_not_kept(as_user, site, staff):
    finding = raise_finding(site, staff)
    op = step_op(site, finding, {"action": "assign", "base": "0", "team": "cleaning"})
    [result] = sync(as_user(staff), op)
    assert result["status"] == "rejected" and "supervisor" in result["reason"]
    assert events(finding) == []


def test_sync_step_of_another_sites_item_is_refused(as_user, site, staff, make_site, make_user):
    other = make_site()
    finding = raise_finding(other, make_user(sites=[other]))
    [result] = sync(as_user(staff), step_op(site, finding, {"action": "comment", "note": "x"}))
    assert result["status"] == "rejected"
    [result] = sync(as_user(staff), step_op(other, finding, {"action": "comment", "note": "x"}))
    assert result["status"] == "rejected"
    assert events(finding) == []


def test_sync_correct_with_after_photos(as_user, site, staff):
    finding = raise_finding(site, staff)
    photos = [new_op_id(), new_op_id()]
    op = step_op(site, finding, {"action": "correct", "base": "0", "note": "已修"}, photos=photos)
    assert sync(as_user(staff), op)[0]["status"] == "created"
    assert events(finding)[0].photo_ids == photos


# ---------------------------------------------------------------------------------------
# The step form post (no service worker)


def test_step_form_post_records_and_answers_the_done_fragment(as_user, site, staff, supervisor):
    finding = raise_finding(site, staff)
    boss = as_user(supervisor)
    op_id, when = new_op_id(), datetime.now(UTC).isoformat()
    sent = {"op_id": op_id, "base": 0, "assignee": str(staff.id), "device_time": when}
    response = post_step(boss, finding, "assign", **sent)
    body = response.get_data(as_text=True)
    assert response.status_code == 201
    assert 'id="step-done"' in body and "Step recorded" in body
    # The rest of the page is refreshed out of band: state, photos, timeline.
    assert body.count("hx-swap-oob=true") == 3 and 'id="finding-timeline"' in body
    assert reload(finding).assignee_id == staff.id
    again = post_step(boss, finding, "assign", **sent)
    assert again.status_code == 200 and "Already recorded" in again.get_data(as_text=True)
    assert len(events(finding)) == 1


def test_correct_with_after_photos_shows_before_and_after(as_user, site, staff, supervisor):
    finding = raise_finding(site, staff)
    worker = as_user(staff)
    response = post_step(worker, finding, "correct", note="补种完成", photos=[jpeg(), jpeg()])
    assert response.status_code == 201, response.get_data(as_text=True)
    [event] = events(finding)
    assert len(event.photo_ids) == 2
    assert db.session.scalar(select(func.count()).select_from(Photo)) == 2
    page = as_user(supervisor).get(f"/s/{site.code}/findings/{finding.id}")
    body = page.get_data(as_text=True)
    after = body.split('class="photo-side after"')[1].split("</section>")[0]
    assert all(f"/photos/{photo_id}/thumb.jpg" in after for photo_id in event.photo_ids)
    # The supervisor is offered the verification; the corrector is not.
    assert 'data-step="verify_pass"' in body and 'data-step="verify_fail"' in body
    own = worker.get(f"/s/{site.code}/findings/{finding.id}").get_data(as_text=True)
    assert 'data-step="verify_pass"' not in own


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        ("explode", {}, "not a step"),
        ("assign", {}, "Choose a person or a team"),
        ("assign", {"assignee": "999999"}, "person of this site"),
        ("assign", {"team": "astronauts"}, "one of the site"),
        ("correct", {"note": " "}, "what was done"),
        ("verify_fail", {}, "Write the reason"),
        ("close_deduct", {"note": "迟了", "deduction": "500"}, "1 to 100"),
        ("comment", {"note": "x" * 2001}, "too long"),
    ],
)
def test_bad_step_input_is_422_with_the_form_and_nothing_changes(
    as_user, site, staff, supervisor, action, fields, message
):
    finding = raise_finding(site, staff)
    if action in ("verify_fail", "close_deduct"):
        apply(finding, "correct", staff, note="好了")
    count = finding.events_count
    response = post_step(as_user(supervisor), finding, action, **fields)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in body and 'id="finding-steps"' in body
    assert reload(finding).events_count == count


def test_refused_steps_answer_403_or_422_with_the_reason(as_user, site, staff, supervisor):
    finding = raise_finding(site, staff)
    refused = post_step(as_user(staff), finding, "assign", team="cleaning")
    assert refused.status_code == 403
    assert "Only a supervisor" in refused.get_data(as_text=True)
    wrong_state = post_step(as_user(supervisor), finding, "verify_pass")
    assert wrong_state.status_code == 422 and 'id="finding-steps"' in wrong_state.get_data(
        as_text=True
    )
    no_id = post_step(as_user(supervisor), finding, "comment", op_id="nope", note="x")
    assert no_id.status_code == 422 and "missing its id" in no_id.get_data(as_text=True)
    assert events(finding) == []


def test_a_bad_after_photo_refuses_the_step(as_user, site, staff):
    finding = raise_finding(site, staff)
    response = post_step(
        as_user(staff), finding, "correct", note="修好了", photos=[io.BytesIO(b"not a photo")]
    )
    assert response.status_code == 415
    assert events(finding) == [] and reload(finding).status == "open"


def test_a_stale_form_is_kept_as_superseded_and_says_why(
    as_user, site, staff, supervisor, director
):
    finding = raise_finding(site, staff)
    apply(finding, "correct", staff, note="好了")
    base = finding.events_count
    assert post_step(as_user(director), finding, "verify_pass", base=base).status_code == 201
    late = post_step(as_user(supervisor), finding, "verify_fail", base=base, note="不行")
    body = late.get_data(as_text=True)
    assert late.status_code == 201
    assert "not applied" in body and "王强" in body
    assert [e.outcome for e in events(finding)] == ["applied", "applied", "superseded"]


def test_steps_on_another_sites_item_or_an_unknown_one(as_user, site, staff, make_site, make_user):
    other = make_site()
    foreign = raise_finding(other, make_user(sites=[other]))
    client = as_user(staff)
    assert client.post(f"/s/{other.code}/findings/{foreign.id}/steps", data={}).status_code == 403
    assert client.post(f"/s/{site.code}/findings/{foreign.id}/steps", data={}).status_code == 404
    assert client.get(f"/s/{site.code}/findings/{uuid.uuid4()}").status_code == 404


# ---------------------------------------------------------------------------------------
# The detail page and the open-items list


def test_detail_page_shows_state_round_due_assignee_and_timeline(as_user, site, staff, supervisor):
    finding = raise_finding(site, staff, severity="urgent")
    apply(finding, "assign", supervisor, assignee_team="greening")
    apply(finding, "correct", staff, note="补种")
    apply(finding, "verify_fail", supervisor, note="还是黄的")
    page = as_user(staff).get(f"/s/{site.code}/findings/{finding.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Second correction" in body and "Round 2" in body and "Greening" in body
    for label in ("Raised", "Assigned", "Corrected", "Verified: failed"):
        assert label in body
    assert "还是黄的" in body and "张伟" in body and "李娜" in body
    # Staff may correct it again and comment; no supervisor steps for them.
    assert 'data-step="correct"' in body and 'data-step="comment"' in body
    assert 'data-step="assign"' not in body and 'data-step="close_deduct"' not in body
    assert f'name="base" value="{finding.events_count}"' in body
    assert 'data-outbox="finding_step"' in body and 'name="_queued"' in body


def test_overdue_items_are_flagged(as_user, site, staff):
    finding = raise_finding(site, staff)
    finding.due_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    page = as_user(staff).get(f"/s/{site.code}/findings/{finding.id}").get_data(as_text=True)
    assert "badge-overdue" in page
    listing = as_user(staff).get(f"/s/{site.code}/findings").get_data(as_text=True)
    assert "finding-row overdue" in listing


@pytest.fixture
def listing(site, staff, other_staff, supervisor, make_area, make_checkpoint):
    """Five items that differ in one way each from the first."""
    area = make_area(site, name="花园")
    checkpoint = make_checkpoint(site, area=area, name="东门花坛")
    plain = raise_finding(site, staff, description="路灯不亮")
    late = raise_finding(site, staff, description="井盖松动")
    late.due_at = utcnow() - timedelta(hours=3)
    urgent = raise_finding(site, staff, severity="urgent", description="消防门损坏")
    at_checkpoint = raise_finding(site, staff, checkpoint=checkpoint, description="花坛缺苗")
    mine = raise_finding(site, staff, description="垃圾桶满")
    apply(mine, "assign", supervisor, assignee_id=other_staff.id)
    team = raise_finding(site, staff, description="水管漏水")
    apply(team, "assign", supervisor, assignee_team="maintenance")
    closed = raise_finding(site, staff, description="已关闭的问题")
    apply(closed, "correct", staff, note="好")
    apply(closed, "verify_pass", supervisor)
    return {
        "plain": plain, "late": late, "urgent": urgent, "at_checkpoint": at_checkpoint,
        "mine": mine, "team": team, "closed": closed, "area": area,
    }  # fmt: skip


def shown(client, site, **query) -> set[str]:
    response = client.get(f"/s/{site.code}/findings", query_string=query, headers=HX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="finding-list">')  # the partial only
    return {part.split('"')[0] for part in body.split('id="finding-')[1:]} - {"list"}


def test_list_filters(as_user, site, other_staff, listing):
    client = as_user(other_staff)
    ids = {name: f.id for name, f in listing.items() if name != "area"}
    everything_open = set(ids.values()) - {ids["closed"]}
    assert shown(client, site) == everything_open
    assert shown(client, site, status="any") == set(ids.values())
    assert shown(client, site, status="closed") == {ids["closed"]}
    assert shown(client, site, status="assigned") == {ids["mine"], ids["team"]}
    assert shown(client, site, severity="urgent") == {ids["urgent"]}
    assert shown(client, site, overdue="1") == {ids["late"]}
    assert shown(client, site, assignee="mine") == {ids["mine"]}
    assert shown(client, site, assignee="team:maintenance") == {ids["team"]}
    assert shown(client, site, assignee=f"user:{other_staff.id}") == {ids["mine"]}
    assert ids["plain"] in shown(client, site, assignee="none")
    assert shown(client, site, source="checkpoint") == {ids["at_checkpoint"]}
    assert shown(client, site, area=str(listing["area"].id)) == {ids["at_checkpoint"]}
    assert shown(client, site, q="井盖") == {ids["late"]}
    assert shown(client, site, q="100%_") == set()
    assert shown(client, site, category="garden", status="any") == set(ids.values())
    # Unknown values are ignored, not errors.
    assert shown(client, site, status="weird", assignee="user:999999", page="x") == everything_open


def test_list_overdue_first_then_soonest_due(as_user, site, staff, listing):
    body = as_user(staff).get(f"/s/{site.code}/findings", headers=HX).get_data(as_text=True)
    assert body.index(listing["late"].id) < body.index(listing["urgent"].id)
    assert body.index(listing["urgent"].id) < body.index(listing["plain"].id)


def test_list_is_paginated(as_user, site, staff):
    for number in range(53):
        record_finding(
            site, by=staff, op_id=new_op_id(), device_time=datetime.now(UTC),
            category="other", severity="low", description=f"问题{number}",
        )  # fmt: skip
    db.session.commit()
    client = as_user(staff)
    first = client.get(f"/s/{site.code}/findings?q=问题").get_data(as_text=True)
    assert first.count('class="row finding-row') == 50 and "page=2" in first
    second = client.get(f"/s/{site.code}/findings?q=问题&page=2").get_data(as_text=True)
    assert second.count('class="row finding-row') == 3 and "page=1" in second


def test_the_list_is_a_fixed_number_of_queries(as_user, site, staff, supervisor, app):
    """No query per row: assignee, checkpoint and area come with the rows."""
    from sqlalchemy import event

    for _ in range(20):
        finding = raise_finding(site, staff)
        apply(finding, "assign", supervisor, assignee_id=staff.id)
    statements = []

    def count(*args):
        statements.append(args[2])

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = as_user(staff).get(f"/s/{site.code}/findings")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    # One for the page's ids (from the index), one for their rows with names.
    assert len([s for s in statements if "FROM finding" in s]) == 2
    assert len(statements) < 13  # not one per row (20 rows); the page's own few, R7's banner


def test_other_sites_lists_are_403(as_user, staff, make_site):
    other = make_site()
    assert as_user(staff).get(f"/s/{other.code}/findings").status_code == 403


# ---------------------------------------------------------------------------------------
# The re-check on the next patrol


@pytest.fixture
def pump(site, make_checkpoint):
    return make_checkpoint(site, name="生活水泵", kind="equipment", checklist=["无漏水"])


def checkin_form(op_id=None, **fields):
    return {
        "op_id": op_id or new_op_id(),
        "device_time": datetime.now(UTC).isoformat(),
        "item-0": "ok",
        **fields,
    }


def test_checkpoint_page_asks_to_recheck_open_items(as_user, site, staff, supervisor, pump):
    finding = raise_finding(site, staff, checkpoint=pump, description="水泵漏水")
    closed = raise_finding(site, staff, checkpoint=pump, description="已修好的旧问题")
    apply(closed, "correct", staff, note="好")
    apply(closed, "verify_pass", supervisor)
    page = as_user(staff).get(f"/c/{pump.token}").get_data(as_text=True)
    assert f'name="recheck:{finding.id}"' in page and "水泵漏水" in page
    assert closed.id not in page


def test_recheck_through_a_checkin_feeds_the_verification(as_user, site, staff, supervisor, pump):
    """The next patrol's "still a problem" is a recheck step, shown when verifying."""
    finding = raise_finding(site, staff, checkpoint=pump, description="水泵漏水")
    apply(finding, "correct", staff, note="换了垫圈")
    assert reload(finding).recheck_due
    op_id = new_op_id()
    sent = checkin_form(op_id, **{f"recheck:{finding.id}": "not_ok"})
    response = as_user(staff).post(f"/c/{pump.token}", data=sent, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 201 and "still a problem" in body
    [event] = [e for e in events(finding) if e.action == "recheck"]
    assert event.id == str(uuid.uuid5(uuid.UUID(op_id), f"recheck/{finding.id}"))
    assert (event.checkin_id, event.result, event.by_id) == (op_id, "not_ok", staff.id)
    assert not reload(finding).recheck_due and reload(finding).status == "corrected"
    page = as_user(supervisor).get(f"/s/{site.code}/findings/{finding.id}").get_data(as_text=True)
    assert page.count("Re-check on patrol: still a problem") == 3  # each verify form
    # A replayed check-in records nothing twice.
    again = as_user(staff).post(f"/c/{pump.token}", data=sent)
    assert again.status_code == 200 and len(events(finding)) == 2


def test_recheck_answers_are_optional_and_bad_ones_refused(as_user, site, staff, pump):
    finding = raise_finding(site, staff, checkpoint=pump)
    client = as_user(staff)
    assert client.post(f"/c/{pump.token}", data=checkin_form()).status_code == 201
    assert events(finding) == []
    bad = client.post(f"/c/{pump.token}", data=checkin_form(**{f"recheck:{finding.id}": "maybe"}))
    assert bad.status_code == 422 and "re-check" in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 1


def test_recheck_of_a_closed_or_unknown_item_is_left_out_and_said(
    as_user, site, staff, supervisor, pump, make_checkpoint
):
    closed = raise_finding(site, staff, checkpoint=pump)
    apply(closed, "correct", staff, note="好")
    apply(closed, "verify_pass", supervisor)
    elsewhere = raise_finding(site, staff, checkpoint=make_checkpoint(site))
    answers = {
        f"recheck:{closed.id}": "ok",
        f"recheck:{uuid.uuid4()}": "not_ok",
        f"recheck:{elsewhere.id}": "ok",
        "recheck:not-a-uuid": "ok",
    }
    response = as_user(staff).post(f"/c/{pump.token}", data=checkin_form(**answers), headers=HX)
    assert response.status_code == 201
    assert "4 re-checks were not recorded" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(FindingEvent)) == 2  # the closing


def test_recheck_through_the_sync_api(as_user, site, staff, pump):
    finding = raise_finding(site, staff, checkpoint=pump)
    op = {
        "id": new_op_id(),
        "kind": "checkin",
        "device_time": datetime.now(UTC).isoformat(),
        "payload": {"token": pump.token, "fields": {"item-0": "ok", f"recheck:{finding.id}": "ok"}},
    }
    assert sync(as_user(staff), op)[0]["status"] == "created"
    [event] = events(finding)
    assert (event.action, event.result, event.checkin_id) == ("recheck", "ok", op["id"])
    assert sync(as_user(staff), op)[0]["status"] == "duplicate"
    changed = {**op, "payload": {**op["payload"], "fields": {"item-0": "ok"}}}
    assert sync(as_user(staff), changed)[0]["status"] == "conflict"
    assert len(events(finding)) == 1
