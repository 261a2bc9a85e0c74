"""The shift handover at a station tablet WITHOUT the network, in a real Chromium at tablet
size (1024 × 768, touch) with the service worker (issue 5): a supervisor enrols the tablet
as the station of 客户服务中心; the network goes; 张伟 relieves 刘芳 on the offline station
(static/station-app.js) with PINs checked on the tablet — the missing torch explained, one
repair carried over by name, both signatures — while every step waits in the outbox. Back
online, the worker sends the steps with the station's credential, and the server's record,
its printable page and the coverage page say what the tablet did. Also: relief overdue
(H10) online and offline, an item a phone closed meanwhile (settled the same way whatever
the order of arrival), and the PIN lockout on the tablet.

Each test gets a server of its own on a fresh demo database: a handover changes the post
for good, and every test here starts from the demo's night shift (刘芳 at the post).
"""

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from dutypwa.models import DutyEntry, DutyEntryEvent, Handover, Post, PostDuty, Site
from tests.e2e.conftest import (
    CONTROLLED,
    FLASK,
    ROOT,
    LiveServer,
    ServerDB,
    _flask,
    _free_port,
    _reset_postgres,
    wait_for_script,
    wait_until,
)
from tests.e2e.test_handover import (
    LIU,
    POST,
    REPAIR,
    SITE,
    SUMMARY,
    TABLET,
    TORCH,
    TORCH_EXPLANATION,
    TRIES_LEFT,
    ZHANG,
    assert_one_a4_page,
    assert_torch_handover,
    enter_pin,
    path_of,
    sign,
)

pytestmark = pytest.mark.e2e

COMPLAINT = "楼上住户夜间装修噪音"
STEPS = ["arrive", "inventory", "log_review", "area_check", "summary",
         "sign_incoming", "sign_outgoing"]  # fmt: skip
# The station's sentences, in English or in the Chinese the tablet asks for.
OVERDUE = re.compile(r"(Relief overdue|接班超时).*张伟")
LOCKED_10_MIN = re.compile(r"(?<!\d)10(?!\d)\s*(minutes|分钟)")
CLOSED_ON_A_PHONE = re.compile(r"phone|手机")
WAIT_MS = 30_000  # the machine is shared: be patient


# A fresh server per test (shadows the session's `live_server`, so `desktop`, `phone` and
# `login_as` talk to it too).


def _station_database_url(tmp_path) -> str:
    """SQLite in the test's directory, or `<DUTYPWA_TEST_DATABASE_URL>_e2e_station` on
    PostgreSQL: not the session server's `_e2e` database, which may be running meanwhile."""
    given = os.environ.get("DUTYPWA_TEST_DATABASE_URL")
    if not given:
        return f"sqlite:///{tmp_path / 'station.sqlite3'}"
    url = make_url(given)
    if url.get_backend_name() != "postgresql":
        pytest.fail(f"DUTYPWA_TEST_DATABASE_URL must be PostgreSQL, not {url.get_backend_name()}")
    station_url = url.set(database=f"{url.database}_e2e_station")
    _reset_postgres(url, station_url)
    return station_url.render_as_string(hide_password=False)


@pytest.fixture
def live_server(_browser_available, tmp_path, artifacts):
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    database_url = _station_database_url(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUTYPWA_", "FLASK_"))}
    env.update(
        {
            "DUTYPWA_SQLALCHEMY_DATABASE_URI": database_url,
            "DUTYPWA_SECRET_KEY": f"e2e-{os.urandom(18).hex()}",
            "DUTYPWA_PUBLIC_BASE_URL": base_url,
            "DUTYPWA_PHOTO_DIR": str(tmp_path / "photos"),
            "DUTYPWA_COVERAGE_REFRESH_SECONDS": "2",
            "DUTYPWA_WTF_CSRF_ENABLED": "true",
            "DUTYPWA_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast demo logins
            "PYTHONUNBUFFERED": "1",
        }
    )
    _flask(env, "db", "upgrade")
    _flask(env, "seed-demo")
    log_path = artifacts / "e2e-station-server.log"
    command = [*FLASK, "run", "--host", "127.0.0.1",
               "--port", str(port), "--no-reload", "--no-debugger"]  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(base_url, database_url, process, log_path, tmp_path / "photos")
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def server_db(live_server):
    db = ServerDB(live_server.database_url)
    yield db
    db.engine.dispose()


@pytest.fixture
def tablet(browser, live_server):
    """A 1024 × 768 touch tablet in Chinese, with the service worker (the offline station)."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        service_workers="allow",
        viewport=TABLET,
        has_touch=True,
    )
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


# Browser-side look-ups, with the app's own modules (served at /sw/…, cached by the worker)

STATION_SAVED = """async (stationId) => {
  const { openDatabase, getMeta } = await import('/sw/db.js');
  const db = await openDatabase();
  const station = await getMeta(db, 'station');
  const reference = await getMeta(db, 'station_reference');
  db.close();
  const shell = await (await caches.open('dutypwa-station')).match('/station/app',
                                                                  { ignoreVary: true });
  return Boolean(shell) && station?.id === stationId && reference?.station?.id === stationId;
}"""
STATION_OUTBOX = """async (stationId) => {
  const { openDatabase } = await import('/sw/db.js');
  const { stationRecordsOf } = await import('/sw/outbox.js');
  const db = await openDatabase();
  const records = await stationRecordsOf(db, stationId);
  db.close();
  return records.map((r) => ({ id: r.id, kind: r.kind, state: r.state, station: r.station,
                               last_error: r.last_error, payload: r.payload }));
}"""
SAVED_OVERDUE = """async (personId) => {
  const { openDatabase, getMeta } = await import('/sw/db.js');
  const db = await openDatabase();
  const duty = (await getMeta(db, 'station_reference'))?.duty;
  db.close();
  return duty?.person?.id === personId && duty.overdue === true;
}"""


def no_shots(*_args) -> None:
    """For the tests that repeat the flow of the first: its screenshots stay the first's."""


def action_of(record: dict) -> str:
    if record["kind"] == "handover_arrive":
        return "arrive"
    return record["payload"]["fields"]["action"]


# The tablet


def enrol_tablet(page, login_as, shot) -> int:
    """The supervisor enrols this tablet as the post's station; wait until the worker
    controls the station page and the offline station and its reference are saved."""
    login_as(page, "2001")
    page.goto(f"/s/{SITE}/stations")
    enrol = page.locator("#enrol-form")
    enrol.locator("select[name=post_id]").select_option(label=POST)
    enrol.locator("input[name=name]").fill("客服中心平板")
    enrol.locator("button[type=submit]").tap()
    page.wait_for_url("**/station")
    station_id = int(page.locator(".station[data-station-id]").get_attribute("data-station-id"))
    page.wait_for_function(CONTROLLED)
    # A station page under the worker's control asks it to save the offline station.
    page.reload()
    wait_for_script(page, STATION_SAVED, station_id, timeout=20, what="the saved station")
    shot(page, "e2e-offline-01-station-online")
    return station_id


def go_offline(page) -> None:
    """The network goes; the station home now comes from the tablet."""
    page.context.set_offline(True)
    response = page.goto("/station")
    assert response.from_service_worker
    expect(page.locator("[data-station-app] .station-home")).to_be_visible()
    expect(page.locator("[data-station-app] [data-slot=offline]")).to_be_visible()


def station_outbox(page, station_id: int) -> list[dict]:
    return page.evaluate(STATION_OUTBOX, station_id)


def pin_screen(page, name: str, pin: str) -> None:
    form = page.locator("form[data-form=pin]")
    expect(form.locator("[data-slot=title]")).to_contain_text(name)
    enter_pin(form, pin)
    form.locator("button[type=submit]").tap()


def step_form(page, action: str):
    form = page.locator(f"#step-form.step-{action}")
    expect(form).to_be_visible()
    return form


def send_step(page, action: str) -> None:
    step_form(page, action).locator("button[type=submit].station-action").tap()


def check_in_offline(page, shot, *, wrong_pin_first: bool = False) -> None:
    """H1: 张伟 checks in as 刘芳's relief on the offline station."""
    page.locator("[data-go=people-arrive]").tap()
    people = page.locator(".station-people")
    expect(people.locator("button[data-person]", has_text="张伟")).to_be_visible()
    expect(people).not_to_contain_text("刘芳")  # not her own relief
    people.locator("button[data-person]", has_text="张伟").tap()
    if wrong_pin_first:
        form = page.locator("form[data-form=pin]")
        pin_screen(page, "张伟", "1111")
        error = form.locator("[data-slot=error]")
        expect(error).to_be_visible()
        expect(error).to_have_text(TRIES_LEFT)
        expect(error).to_have_text(re.compile(r"(?<!\d)4(?!\d)"))
        expect(form.locator("[data-pin-input]")).to_have_value("")
        shot(page, "e2e-offline-03-wrong-pin-tries-left")
    pin_screen(page, "张伟", "1234")
    start = page.locator("form[data-form=arrive]")
    expect(start.locator("[data-slot=who]")).to_contain_text("张伟")
    expect(start.locator("[data-slot=who]")).to_contain_text("刘芳")
    start.locator("button[type=submit]").tap()


def count(page, shot, *, torch_missing: bool) -> None:
    """H2: everything there, or one torch of two missing with 刘芳's explanation."""
    form = step_form(page, "inventory")
    items = form.locator("[data-inventory-item]")
    expect(items).to_have_count(5)
    torch = None
    for index in range(items.count()):
        item = items.nth(index)
        item.locator("[data-step=all]").tap()
        if item.locator("[data-slot=name]").inner_text() == TORCH:
            torch = item
    assert torch is not None
    if torch_missing:
        torch.locator("[data-step='-1']").tap()
        expect(torch.locator("input[type=number]")).to_have_value("1")
        expect(torch).to_have_class(re.compile(r"\bdiscrepancy\b"))
        explanation = torch.locator("[data-explanation] textarea")
        expect(explanation).to_be_visible()
        explanation.fill(TORCH_EXPLANATION)
        shot(page, "e2e-offline-04-count-torch-missing")
    send_step(page, "inventory")


def review(page, shot, choices: dict[str, str]) -> None:
    """H3, H12: each open item of the duty log carried over or completed, by its title."""
    form = step_form(page, "log_review")
    rows = form.locator(".station-review > li")
    expect(rows).to_have_count(len(choices))
    for title, choice in choices.items():
        rows.filter(has_text=title).locator(f"input[value={choice}]").check()
    shot(page, "e2e-offline-05-log-review")
    send_step(page, "log_review")


def finish(page, shot, *, carried: list[str]) -> None:
    """The area (nothing abnormal), 刘芳's summary with her PIN, both signatures, the
    relief first (H5, H8)."""
    send_step(page, "area_check")
    pin_screen(page, "刘芳", "1234")  # the summary is the outgoing person's (H6)
    step_form(page, "summary").locator("textarea[name=summary]").fill(SUMMARY)
    send_step(page, "summary")

    incoming = step_form(page, "sign_incoming")
    carried_note = incoming.locator("[data-slot=carried]")
    for title in carried:
        expect(carried_note).to_contain_text(title)
    sign(page, ZHANG)
    shot(page, "e2e-offline-06-relief-signs")
    enter_pin(incoming, "1234")
    incoming.locator(".pin-pad button[type=submit]").tap()

    outgoing = step_form(page, "sign_outgoing")
    sign(page, LIU)
    enter_pin(outgoing, "1234")
    outgoing.locator(".pin-pad button[type=submit]").tap()
    done = page.locator(".station-done")
    expect(done.locator("[data-slot=title]")).to_contain_text("张伟")
    for title in carried:
        expect(done.locator("[data-slot=carried]")).to_contain_text(title)


def reconnect_and_send(page, station_id: int) -> None:
    """The network is back: the worker sends the queued steps with the station's cookie;
    wait until the tablet's outbox is empty (a refused step fails the test at once)."""
    page.context.set_offline(False)
    page.evaluate("navigator.serviceWorker.controller.postMessage({ type: 'flush' })")

    def emptied():
        records = station_outbox(page, station_id)
        refused = [r for r in records if r["state"] == "rejected"]
        assert not refused, f"the server refused: {refused}"
        return not records

    wait_until(emptied, timeout=WAIT_MS / 1000, what="the tablet's outbox to empty", page=page)


# The server


def the_post(server_db) -> Post:
    return server_db.scalar(select(Post).join(Site).where(Site.code == SITE, Post.name == POST))


def duty_of(server_db, post: Post) -> PostDuty:
    return server_db.scalar(select(PostDuty).where(PostDuty.post_id == post.id))


def entry_titled(server_db, post: Post, summary: str) -> DutyEntry:
    return server_db.scalar(
        select(DutyEntry).where(DutyEntry.post_id == post.id, DutyEntry.summary == summary)
    )


def handovers_at(server_db, post: Post) -> int:
    return server_db.scalar(
        select(func.count()).select_from(Handover).where(Handover.post_id == post.id)
    )


# The tests


def test_h2_h3_h5_h8_h12_offline_handover_syncs_and_the_record_matches(
    tablet, desktop, login_as, server_db, shot, artifacts
):
    """H2, H3, H5, H8, H12 without the network: the count with the missing torch explained,
    the repair carried over by name, the complaint completed, both signatures (the relief
    first); nothing reaches the server until the network is back, then all of it does,
    and the record, its A4 print and the coverage page say what the tablet did."""
    page = tablet
    post = the_post(server_db)
    zhang, liu = server_db.user("1001"), server_db.user("1002")
    assert duty_of(server_db, post).person_id == liu.id  # the demo's night shift
    before = handovers_at(server_db, post)
    repair = entry_titled(server_db, post, REPAIR)
    complaint = entry_titled(server_db, post, COMPLAINT)
    assert repair.status == complaint.status == "open"

    station_id = enrol_tablet(page, login_as, shot)
    go_offline(page)
    expect(page.locator(".station-home .station-duty")).to_contain_text("刘芳")
    expect(page.locator(".station-home .station-items")).to_contain_text(REPAIR)
    shot(page, "e2e-offline-02-station-home-offline")

    check_in_offline(page, shot, wrong_pin_first=True)
    count(page, shot, torch_missing=True)
    review(page, shot, {REPAIR: "carried", COMPLAINT: "completed"})
    finish(page, shot, carried=[REPAIR])
    shot(page, "e2e-offline-07-done-offline")

    # Still offline: all seven steps wait on the tablet; the server knows nothing yet.
    records = station_outbox(page, station_id)
    assert [action_of(r) for r in records] == STEPS
    assert {(r["state"], r["station"]) for r in records} == {("pending", station_id)}
    people = {action_of(r): r["payload"]["person"] for r in records}
    assert people == {"arrive": zhang.id, "inventory": zhang.id, "log_review": zhang.id,
                      "area_check": zhang.id, "summary": liu.id, "sign_incoming": zhang.id,
                      "sign_outgoing": liu.id}  # fmt: skip
    for record in records:
        assert re.fullmatch(r"[0-9a-f]{64}", record["payload"]["pin_proof"])
        assert "pin" not in record["payload"].get("fields", {}), "a PIN never leaves the tablet"
    handover_id = records[0]["id"]
    assert all(r["payload"]["subject"] == handover_id for r in records[1:])
    expect(page.locator("[data-station-app] [data-slot=outbox]")).to_contain_text("7")
    assert server_db.scalar(select(Handover).where(Handover.id == handover_id)) is None
    assert handovers_at(server_db, post) == before
    assert duty_of(server_db, post).person_id == liu.id
    assert entry_titled(server_db, post, COMPLAINT).status == "open"

    reconnect_and_send(page, station_id)

    # The server's facts.
    handover = server_db.scalar(select(Handover).where(Handover.id == handover_id))
    assert handover.station_id == station_id
    finding = assert_torch_handover(server_db, handover, zhang, liu)
    assert [(item["entry"], item["title"]) for item in handover.carried] == [(repair.id, REPAIR)]
    assert [(item["entry"], item["title"]) for item in handover.completed] == [
        (complaint.id, COMPLAINT)
    ]
    assert "meanwhile" not in handover.completed[0]
    assert entry_titled(server_db, post, COMPLAINT).status == "closed"
    assert entry_titled(server_db, post, REPAIR).status == "open"
    assert handover.summary == SUMMARY
    now_on_duty = duty_of(server_db, post)
    assert now_on_duty.person_id == zhang.id and now_on_duty.handover_id == handover_id

    # The tablet has nothing left to send, and its station home from the server agrees.
    expect(page.locator("[data-station-app] [data-slot=outbox]")).to_be_empty()
    page.goto("/station")
    assert path_of(page) == "/station", "nothing waits: the online station home stays"
    expect(page.locator(".station-duty .station-person")).to_have_text("张伟")
    expect(page.locator(".station-open")).to_have_count(0)
    shot(page, "e2e-offline-08-station-home-after-sync")

    # The printable record, read by the supervisor at the office.
    office = desktop()
    login_as(office, "2001")
    office.goto(f"/s/{SITE}/handovers/{handover_id}")
    record = office.locator("#handover-record")
    expect(record).to_have_attribute("data-status", "signed")
    expect(record.locator("#incoming-person")).to_have_text("张伟")
    expect(record.locator("#outgoing-person")).to_have_text("刘芳")
    torch_row = record.locator("#inventory tr.discrepancy")
    expect(torch_row).to_have_count(1)
    expect(torch_row.locator("td").nth(0)).to_have_text(TORCH)
    expect(torch_row.locator("td").nth(1)).to_have_text("2")
    expect(torch_row.locator("td").nth(2)).to_have_text("1")
    expect(torch_row.locator("td").nth(4)).to_contain_text(TORCH_EXPLANATION)
    expect(torch_row.locator("a.finding-link")).to_have_attribute(
        "href", re.compile(rf"/findings/{finding.id}$")
    )
    expect(record.locator(f"#carried-{repair.id}")).to_contain_text(REPAIR)
    expect(record.locator(f"#completed-{complaint.id}")).to_contain_text(COMPLAINT)
    expect(record.locator("em.meanwhile")).to_have_count(0)
    expect(record.locator("#summary")).to_have_text(SUMMARY)
    expect(record.locator("#sign-incoming svg path")).to_have_count(1)
    expect(record.locator("#sign-outgoing svg path")).to_have_count(1)
    shot(office, "e2e-offline-09-record")
    assert_one_a4_page(
        office, artifacts, "e2e-offline-handover-record",
        ["张伟", "刘芳", TORCH, REPAIR, COMPLAINT, TORCH_EXPLANATION[:8]],
    )  # fmt: skip

    # The coverage page: the post is staffed by the day person.
    office.goto(f"/s/{SITE}/coverage")
    row = office.locator(f"#post-duty-{post.id}")
    expect(row.locator(".on-duty")).to_contain_text("张伟")
    expect(row).not_to_have_class(re.compile(r"\brelief-overdue\b"))
    expect(row).not_to_have_class(re.compile(r"\bhandover-open\b"))
    expect(row.locator(".last-handover")).to_contain_text("刘芳 → 张伟")
    shot(office, "e2e-offline-10-coverage")


def hand_over_offline(page, station_id: int) -> str:
    """The whole handover offline and sent: 张伟 takes over from 刘芳. Its id."""
    go_offline(page)
    check_in_offline(page, no_shots)
    count(page, no_shots, torch_missing=False)
    review(page, no_shots, {REPAIR: "carried", COMPLAINT: "completed"})
    finish(page, no_shots, carried=[REPAIR])
    [arrive, *_steps] = station_outbox(page, station_id)
    reconnect_and_send(page, station_id)
    return arrive["id"]


def test_h10_relief_overdue_shows_at_the_office_and_on_the_tablet_online_and_offline(
    tablet, desktop, login_as, server_db, shot
):
    """H10: 张伟's shift ends and nobody relieves him: he stays on duty, and the coverage
    page, the station home and the offline station all say "relief overdue"."""
    page = tablet
    post = the_post(server_db)
    zhang = server_db.user("1001")
    station_id = enrol_tablet(page, login_as, no_shots)
    handover_id = hand_over_offline(page, station_id)
    duty = duty_of(server_db, post)
    assert (duty.person_id, duty.handover_id) == (zhang.id, handover_id)
    assert duty.due_until is not None

    # The clock moves past the shift's end (written into the server's database rather than
    # waiting twelve hours): nobody has checked in as the relief.
    with Session(server_db.engine) as session:
        session.get(PostDuty, post.id).due_until = datetime.now(UTC) - timedelta(minutes=3)
        session.commit()

    office = desktop()
    login_as(office, "2001")
    office.goto(f"/s/{SITE}/coverage")
    row = office.locator(f"#post-duty-{post.id}")
    expect(row).to_have_class(re.compile(r"\brelief-overdue\b"))
    expect(row.locator(".relief-overdue-note")).to_contain_text(OVERDUE)
    expect(row.locator(".on-duty")).to_have_count(0)
    shot(office, "e2e-offline-11-coverage-relief-overdue")

    # The station home from the server; it also refreshes the tablet's saved reference.
    page.goto("/station")
    expect(page.locator(".station-duty .station-overdue")).to_contain_text(OVERDUE)
    wait_for_script(page, SAVED_OVERDUE, zhang.id, what="the saved reference, overdue")
    shot(page, "e2e-offline-12-station-relief-overdue-online")

    go_offline(page)
    overdue = page.locator(".station-home .station-duty .station-overdue")
    expect(overdue).to_have_attribute("role", "alert")
    expect(overdue.locator("strong")).to_have_text(OVERDUE)
    expect(page.locator(".station-home .station-duty .station-person")).to_have_count(0)
    shot(page, "e2e-offline-13-station-relief-overdue-offline")


def test_h12_an_item_a_phone_closed_meanwhile_is_completed_not_carried(
    tablet, phone, login_as, server_db, shot
):
    """H3, H12: the offline tablet's review carries the complaint over, but the supervisor
    closed it on a phone before the review reached the server: the record lists it under
    completed, says who closed it, and does not carry it over (the log as it is when the
    step is applied decides, not the order of arrival)."""
    page = tablet
    post = the_post(server_db)
    supervisor = server_db.user("2001")
    complaint = entry_titled(server_db, post, COMPLAINT)
    repair = entry_titled(server_db, post, REPAIR)
    station_id = enrol_tablet(page, login_as, no_shots)
    go_offline(page)
    check_in_offline(page, no_shots)
    count(page, no_shots, torch_missing=False)
    review(page, no_shots, {REPAIR: "carried", COMPLAINT: "carried"})
    expect(step_form(page, "area_check")).to_be_visible()

    # Meanwhile, online, the supervisor closes the complaint on a phone.
    mobile = phone()
    login_as(mobile, "2001")
    mobile.goto(f"/s/{SITE}/log/{complaint.id}")
    close = mobile.locator("#step-close")
    close.locator("summary").tap()
    close.locator("textarea[name=result]").fill("已与楼上住户确认，装修已停止")
    with mobile.expect_response(lambda r: r.request.method == "POST") as answered:
        close.locator("button[type=submit]").tap()
    assert answered.value.status == 201, answered.value.text()
    assert entry_titled(server_db, post, COMPLAINT).status == "closed"
    shot(mobile, "e2e-offline-14-phone-closes-the-complaint")

    # The tablet, still offline, knows nothing of it: both are carried over to 张伟.
    finish(page, no_shots, carried=[REPAIR, COMPLAINT])
    shot(page, "e2e-offline-15-done-offline-both-carried")
    [arrive, *_steps] = station_outbox(page, station_id)
    reconnect_and_send(page, station_id)

    handover = server_db.scalar(select(Handover).where(Handover.id == arrive["id"]))
    assert handover.status == "signed"
    assert [(item["entry"], item["title"]) for item in handover.carried] == [(repair.id, REPAIR)]
    assert handover.completed == [
        {"entry": complaint.id, "title": COMPLAINT, "meanwhile": supervisor.display_name}
    ]
    closers = server_db.scalars(
        select(DutyEntryEvent.by_id).where(
            DutyEntryEvent.entry_id == complaint.id,
            DutyEntryEvent.action == "close",
            DutyEntryEvent.outcome == "applied",
        )
    )
    assert closers == [supervisor.id], "closed once, by the phone; the handover added nothing"

    mobile.goto(f"/s/{SITE}/handovers/{handover.id}")
    record = mobile.locator("#handover-record")
    completed = record.locator(f"#completed-{complaint.id}")
    expect(completed).to_contain_text(COMPLAINT)
    expect(completed.locator("em.meanwhile")).to_contain_text(supervisor.display_name)
    expect(completed.locator("em.meanwhile")).to_have_text(CLOSED_ON_A_PHONE)
    expect(record.locator(f"#carried-{complaint.id}")).to_have_count(0)
    expect(record.locator("#carried")).not_to_contain_text(COMPLAINT)
    expect(record.locator(f"#carried-{repair.id}")).to_contain_text(REPAIR)
    shot(mobile, "e2e-offline-16-record-closed-meanwhile")


def test_five_wrong_pins_lock_the_person_out_on_the_offline_tablet(
    tablet, login_as, server_db, shot
):
    """Five wrong PINs on the tablet without the network lock the person out for ten
    minutes: the right PIN is refused too, also after the page is reloaded, while another
    person's PIN still works; nothing is queued."""
    page = tablet
    station_id = enrol_tablet(page, login_as, no_shots)
    go_offline(page)
    page.locator("[data-go=people-arrive]").tap()
    page.locator(".station-people button[data-person]", has_text="张伟").tap()
    form = page.locator("form[data-form=pin]")
    error = form.locator("[data-slot=error]")
    for left in (4, 3, 2, 1):
        pin_screen(page, "张伟", "0000")
        expect(error).to_have_text(TRIES_LEFT)
        expect(error).to_have_text(re.compile(rf"(?<!\d){left}(?!\d)"))
    pin_screen(page, "张伟", "0000")
    expect(error).to_have_text(LOCKED_10_MIN)
    expect(error).to_contain_text("张伟")
    shot(page, "e2e-offline-17-pin-locked")

    # The right PIN now: still locked, and the tablet stays on the PIN screen.
    error.evaluate("(node) => { node.textContent = ''; }")  # so the next refusal is new
    pin_screen(page, "张伟", "1234")
    expect(error).to_have_text(LOCKED_10_MIN)
    expect(page.locator("form[data-form=arrive]")).to_have_count(0)

    # The lock is kept on the tablet: a reload does not lift it.
    page.goto("/station")
    page.locator("[data-go=people-arrive]").tap()
    page.locator(".station-people button[data-person]", has_text="张伟").tap()
    pin_screen(page, "张伟", "1234")
    expect(error).to_have_text(LOCKED_10_MIN)

    # Another person is not locked out.
    page.locator("[data-go=home]").tap()
    page.locator("[data-go=people-arrive]").tap()
    page.locator(".station-people button[data-person]", has_text="陈杰").tap()
    pin_screen(page, "陈杰", "1234")
    expect(page.locator("form[data-form=arrive] [data-slot=who]")).to_contain_text("陈杰")
    assert station_outbox(page, station_id) == []
