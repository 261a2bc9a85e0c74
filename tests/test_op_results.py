"""What became of a write queued on the phone (pwa.op_result, docs/offline.md "After the
flush"): 204 until the op has reached the server, then the server's own answer for it — the
partial its form post gets, the item's other parts out of band — for every outboxable kind.
"""

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dutypwa.pwa import OP_RESULTS
from dutypwa.sync import APPLY
from tests.conftest import new_op_id

SYNC = {"X-Dutypwa-Sync": "1", "Sec-Fetch-Site": "same-origin"}
HTMX = {"HX-Request": "true"}
OPS_JS = Path(__file__).resolve().parents[1] / "service-worker" / "ops.js"


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def staff(make_user, site):
    return make_user(sites=[site], name="张伟")


@pytest.fixture
def supervisor(make_user, site):
    return make_user(role="supervisor", sites=[site], name="李娜")


def sync(client, kind: str, payload: dict, op_id: str | None = None) -> str:
    op_id = op_id or new_op_id()
    op = {"id": op_id, "kind": kind, "device_time": datetime.now(UTC).isoformat()}
    body = {"device": {"id": str(uuid.uuid4())}, "ops": [{**op, "payload": payload}]}
    answer = client.post("/api/v1/sync", json=body, headers=SYNC).get_json()
    assert answer["results"][0]["status"] == "created", answer
    return op_id


def result(client, kind: str, op_id: str):
    return client.get(f"/ops/{kind}/{op_id}", headers=HTMX)


def test_every_outboxable_kind_has_the_servers_answer():
    """One mechanism for every op kind the worker queues (ops.js OUTBOX_ROUTES)."""
    queued = set(re.findall(r'kind: "(\w+)"', OPS_JS.read_text()))
    assert queued == set(OP_RESULTS)
    assert set(OP_RESULTS) <= set(APPLY)


def test_a_check_in_is_answered_once_it_arrived(client, login, staff, make_checkpoint, site):
    checkpoint = make_checkpoint(site, checklist=["无漏水"])
    login(staff)
    op_id = new_op_id()
    waiting = result(client, "checkin", op_id)
    assert waiting.status_code == 204 and waiting.get_data() == b""
    assert waiting.headers["Cache-Control"] == "no-store"
    sync(client, "checkin", {"token": checkpoint.token, "fields": {"item-0": "ok"}}, op_id)
    answer = result(client, "checkin", op_id)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert f'id="checkin-done" class="card done" data-checkin-id="{op_id}"' in html
    # The checkpoint's last visit, out of band: one status, the new last visit.
    assert re.search(r'<p id="last-visit" class="muted" hx-swap-oob=true>', html)
    assert "张伟" in html
    assert "<html" not in html


def test_someone_elses_check_in_is_not_shown(
    client, login, staff, make_user, make_checkpoint, site
):
    checkpoint = make_checkpoint(site)
    login(staff)
    op_id = sync(client, "checkin", {"token": checkpoint.token, "fields": {}})
    login(make_user(sites=[site]))
    assert result(client, "checkin", op_id).status_code == 403


def test_unknown_kinds_and_logged_out_people(app, client, login, staff):
    login(staff)
    assert result(client, "handover_step", new_op_id()).status_code == 404
    assert client.get("/ops/checkin/not-a-uuid").status_code == 404
    assert app.test_client().get(f"/ops/checkin/{new_op_id()}").status_code == 302


def test_an_assignment_shows_the_items_new_state(client, login, staff, supervisor, site):
    """D1: the step's answer swaps the item's head (state, assignee) and timeline too."""
    login(staff)
    finding_id = sync(
        client,
        "finding",
        {"site": site.code, "category": "other", "severity": "normal", "description": "井盖松动"},
    )
    assert "井盖松动" in result(client, "finding", finding_id).get_data(as_text=True)
    login(supervisor)
    step = {"action": "assign", "assignee": str(staff.id), "base": "0"}
    op_id = sync(client, "finding_step", {"site": site.code, "subject": finding_id, "fields": step})
    html = result(client, "finding_step", op_id).get_data(as_text=True)
    assert 'id="step-done"' in html
    head = html[html.index('id="finding-head"') :]
    assert "hx-swap-oob=true" in head[:80]
    assert 'class="badge state-assigned"' in head and "张伟" in head
    assert 'id="finding-timeline"' in html


def test_a_repair_entry_links_to_itself_and_gets_its_work_order_number(client, login, staff, site):
    """D6: the entry's card links to the entry; one tap gives the WX number in the card."""
    login(staff)
    fields = {"kind": "repair", "summary": "3栋楼道灯不亮", "status": "open"}
    op_id = sync(client, "duty_entry", {"site": site.code, "fields": fields})
    html = result(client, "duty_entry", op_id).get_data(as_text=True)
    assert f'href="/s/{site.code}/log/{op_id}"' in html
    assert "create-follow-up" in html and "follow-up-number" not in html
    card = client.post(f"/s/{site.code}/log/{op_id}/follow-up", headers=HTMX)
    assert card.status_code == 200
    numbered = card.get_data(as_text=True)
    assert re.search(r'class="follow-up-number" href="[^"]+">WX-\d{8}-01<', numbered)
    assert f'href="/s/{site.code}/log/{op_id}"' in numbered
    again = result(client, "duty_entry", op_id).get_data(as_text=True)
    assert "follow-up-number" in again and "create-follow-up" not in again


def test_a_duty_log_step_shows_the_entrys_new_state(client, login, staff, site):
    """The step's answer swaps the entry (its status, result) and its timeline too."""
    login(staff)
    fields = {"kind": "inquiry", "summary": "询问停车收费", "status": "open"}
    entry_id = sync(client, "duty_entry", {"site": site.code, "fields": fields})
    step = {"action": "close", "result": "已答复业主", "base": "0"}
    op_id = sync(client, "duty_step", {"site": site.code, "subject": entry_id, "fields": step})
    html = result(client, "duty_step", op_id).get_data(as_text=True)
    assert 'id="step-done"' in html
    entry = html[html.index('<article id="entry"') :]
    assert "entry-closed" in entry[:120] and "hx-swap-oob=true" in entry[:200]
    assert "已答复业主" in entry
    assert '<section id="entry-timeline" class="card" hx-swap-oob=true>' in html
