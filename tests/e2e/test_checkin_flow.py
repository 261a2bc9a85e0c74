"""Checking in at a QR checkpoint on a phone, seen live on the supervisor's coverage page.

A check-in is recorded once per client-made id (a double tap or a replay records nothing
new), a checklist item that is not OK needs a note, staff of another site are refused, and
the coverage partial is polled with ETag / 304 so an unchanged page is not re-rendered.
"""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa.models import CheckIn, Finding
from tests.e2e.conftest import open_more_menu, submit_login

pytestmark = pytest.mark.e2e

COVERAGE = "/s/CUIHU/coverage"
SUBMIT = "#checkin-form button[type=submit]"
POLL_TIMEOUT_MS = 8_000  # the e2e server polls every 2 s


def is_coverage_poll(response) -> bool:
    request = response.request
    return (
        request.method == "GET"
        and urlsplit(response.url).path == COVERAGE
        and request.headers.get("hx-request") == "true"
    )


def next_poll(page):
    """Wait for the coverage page's next poll to be answered."""
    with page.expect_response(is_coverage_poll, timeout=POLL_TIMEOUT_MS) as answered:
        pass
    return answered.value


def open_checkpoint(page, token: str) -> str:
    """Open /c/<token> as the logged-in user; the check-in form's op id."""
    response = page.goto(f"/c/{token}")
    assert response.status == 200
    return page.locator("#checkin-form input[name=op_id]").input_value()


def answer_checklist(page, answers: list[str], notes: dict[int, str] | None = None) -> None:
    for index, answer in enumerate(answers):
        page.check(f"#checkin-form input[name=item-{index}][value={answer}]")
    for index, note in (notes or {}).items():
        page.fill(f"#checkin-form input[name=note-{index}]", note)


def check_in(page, expected_status: int):
    """Tap "check in" and wait for the server's answer to the htmx POST."""
    path = urlsplit(page.url).path
    with page.expect_response(
        lambda r: r.request.method == "POST" and urlsplit(r.url).path == path
    ) as answered:
        page.locator(SUBMIT).tap()
    assert answered.value.status == expected_status, answered.value.text()
    return answered.value


def test_checkin_reaches_supervisor_coverage_by_poll(
    desktop, phone, login_as, server_db, live_server, shot
):
    """D1, D13: staff scan while logged out, log in, land back on the checkpoint and check in
    with one finding (recorded); the supervisor's coverage row updates by the htmx poll,
    without a reload."""
    checkpoint = server_db.checkpoint("014")
    assert checkpoint.name == "高压配电柜"
    assert len(checkpoint.checklist) >= 2
    staff = server_db.user("1001")
    visits_before = server_db.count_checkins(CheckIn.checkpoint_id == checkpoint.id)

    supervisor = desktop()
    login_as(supervisor, "2001")
    supervisor.goto(COVERAGE)
    row = supervisor.locator(f"#cp-{checkpoint.id}")
    expect(row).to_be_visible()
    supervisor.evaluate("window.e2eNotReloaded = true")
    shot(supervisor, "checkin-1-coverage-before")

    page = phone()
    page.goto(f"/c/{checkpoint.token}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    shot(page, "checkin-2-login-first")
    submit_login(page, "1001")
    expect(page).to_have_url(f"{live_server.url}/c/{checkpoint.token}")
    expect(page.locator("h1")).to_have_text(checkpoint.name)

    op_id = page.locator("#checkin-form input[name=op_id]").input_value()
    last = len(checkpoint.checklist) - 1
    note = "柜门锁损坏"
    answer_checklist(page, ["ok"] * last + ["not_ok"], {last: note})
    page.evaluate("window.e2eNotReloaded = true")
    shot(page, "checkin-3-form-filled")
    posted = check_in(page, 201)

    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert posted.request.headers.get("x-csrftoken") == csrf
    done = page.locator("#checkin-done")
    expect(done).to_be_visible()
    expect(done).to_have_attribute("data-checkin-id", op_id)
    expect(done).to_contain_text(note)
    expect(page.locator("#checkin-form")).to_have_count(0)
    assert page.evaluate("window.e2eNotReloaded") is True, "the check-in reloaded the page"
    shot(page, "checkin-4-done")

    checkin = server_db.scalar(select(CheckIn).where(CheckIn.id == op_id))
    assert checkin is not None
    assert (checkin.user_id, checkin.checkpoint_id) == (staff.id, checkpoint.id)
    assert server_db.count_checkins(CheckIn.checkpoint_id == checkpoint.id) == visits_before + 1
    findings = server_db.scalars(select(Finding).where(Finding.checkin_id == op_id))
    assert [(f.item, f.description) for f in findings] == [(checkpoint.checklist[last], note)]

    # This visit's own time, so the row cannot pass on an earlier visit by the same person.
    expect(row.locator("time")).to_have_attribute(
        "datetime", checkin.visited_at.isoformat(), timeout=POLL_TIMEOUT_MS
    )
    expect(row).to_contain_text(staff.display_name)
    expect(row.locator(".badge-on_time")).to_be_visible()
    assert supervisor.evaluate("window.e2eNotReloaded") is True, "coverage was reloaded"
    shot(supervisor, "checkin-5-coverage-after")


MARK_COVERAGE = """() => {
  const coverage = document.querySelector('#coverage');
  coverage.setAttribute('data-e2e-marker', '1');
  window.e2eCoverage = coverage;
}"""
COVERAGE_KEPT = """() => {
  const coverage = document.querySelector('#coverage');
  return coverage === window.e2eCoverage && coverage.hasAttribute('data-e2e-marker');
}"""


def test_coverage_poll_answers_304_until_something_changes(
    desktop, phone, login_as, server_db, shot
):
    """An unchanged coverage partial costs a 304 and no re-render; a check-in changes it."""
    supervisor = desktop()
    login_as(supervisor, "2001")
    supervisor.goto(COVERAGE)
    polls = []
    supervisor.on(
        "response",
        lambda r: (
            polls.append((r.status, r.request.headers.get("if-none-match")))
            if is_coverage_poll(r)
            else None
        ),
    )

    # The ETag also turns over each minute; a window that catches that 200 is tried again.
    for _attempt in range(3):
        start = len(polls)
        supervisor.evaluate(MARK_COVERAGE)
        next_poll(supervisor)
        next_poll(supervisor)
        window = polls[start:]
        if window and all(status == 304 for status, _etag in window):
            break
        next_poll(supervisor)  # let the swap of that 200 land before marking again
    else:
        pytest.fail(f"no quiet window of 304 answers: {polls}")
    assert all(etag for _status, etag in window), "polls must send If-None-Match"
    assert supervisor.evaluate(COVERAGE_KEPT), "a 304 replaced #coverage"

    checkpoint = server_db.checkpoint("006")
    page = phone()
    login_as(page, "1002")
    op_id = open_checkpoint(page, checkpoint.token)
    check_in(page, 201)
    visited_at = server_db.scalar(select(CheckIn.visited_at).where(CheckIn.id == op_id))

    supervisor.wait_for_function(
        "() => document.querySelector('#coverage') !== window.e2eCoverage",
        timeout=POLL_TIMEOUT_MS,
    )
    expect(supervisor.locator("#coverage")).not_to_have_attribute("data-e2e-marker", "1")
    expect(supervisor.locator(f"#cp-{checkpoint.id} time")).to_have_attribute(
        "datetime", visited_at.isoformat()
    )
    assert 200 in [status for status, _etag in polls[start:]]
    shot(supervisor, "coverage-after-304s-and-a-checkin")


def test_double_tap_records_one_checkin(phone, login_as, server_db):
    """A check-in's identity is the form's client-made id: a double tap or a replay of the
    same request records it once."""
    checkpoint = server_db.checkpoint("007")
    visits_before = server_db.count_checkins(CheckIn.checkpoint_id == checkpoint.id)
    page = phone()
    login_as(page, "1002")
    op_id = open_checkpoint(page, checkpoint.token)
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)

    page.locator(SUBMIT).dblclick()
    expect(page.locator("#checkin-done")).to_have_attribute("data-checkin-id", op_id)
    assert posts, "the double tap sent no check-in"

    # The same request again, byte for byte (a retry after a lost answer): recorded once.
    sent = posts[0]
    replay = page.context.request.post(
        sent.url,
        headers={
            "Content-Type": sent.headers["content-type"],
            "X-CSRFToken": sent.headers["x-csrftoken"],
            "HX-Request": "true",
        },
        data=sent.post_data_buffer,
    )
    assert replay.status == 200, replay.text()
    assert f'data-checkin-id="{op_id}"' in replay.text()

    assert server_db.count_checkins(CheckIn.id == op_id) == 1
    assert server_db.count_checkins(CheckIn.checkpoint_id == checkpoint.id) == visits_before + 1


def test_retry_after_a_lost_answer_is_not_a_conflict(phone, login_as, server_db):
    checkpoint = server_db.checkpoint("010")
    page = phone()
    login_as(page, "1002")
    op_id = open_checkpoint(page, checkpoint.token)
    answers = []

    def lose_the_first_answer(route):
        answer = route.fetch()  # the server records the visit …
        answers.append(answer.status)
        if len(answers) == 1:
            route.abort("connectionreset")  # … but the phone never hears back
        else:
            route.fulfill(response=answer)

    page.route(f"**/c/{checkpoint.token}", lose_the_first_answer)
    with page.expect_event("requestfailed"):
        page.locator(SUBMIT).tap()
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.locator(SUBMIT).tap()

    assert server_db.count_checkins(CheckIn.id == op_id) == 1
    assert answers == [201, 200]
    expect(page.locator("#checkin-done")).to_have_attribute("data-checkin-id", op_id)


def test_not_ok_without_note_is_refused(phone, login_as, server_db, shot):
    """D1: a nonconformity is recorded with what is wrong, so "not OK" needs a note."""
    checkpoint = server_db.checkpoint("015")
    items = checkpoint.checklist
    assert len(items) >= 2
    visits_before = server_db.count_checkins(CheckIn.checkpoint_id == checkpoint.id)
    page = phone()
    login_as(page, "1003")
    op_id = open_checkpoint(page, checkpoint.token)
    answer_checklist(page, ["not_ok"] + ["ok"] * (len(items) - 1))
    page.evaluate("window.e2eNotReloaded = true")

    check_in(page, 422)

    error = page.locator("#checkin-form .alert.error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(items[0])
    expect(page.locator("#checkin-form input[name=item-0][value=not_ok]")).to_be_checked()
    expect(page.locator("#checkin-done")).to_have_count(0)
    assert page.evaluate("window.e2eNotReloaded") is True
    shot(page, "checkin-validation-error")
    assert server_db.count_checkins(CheckIn.id == op_id) == 0
    assert server_db.count_checkins(CheckIn.checkpoint_id == checkpoint.id) == visits_before

    # The swapped-in form keeps its id and works once the note is there.
    page.fill("#checkin-form input[name=note-0]", "指示灯不亮")
    check_in(page, 201)
    expect(page.locator("#checkin-done")).to_have_attribute("data-checkin-id", op_id)


def test_staff_of_another_site_are_refused(phone, server_db, live_server, shot):
    """A checkpoint belongs to its site: another site's staff see why not (403), record nothing."""
    checkpoint = server_db.checkpoint("001")
    outsider = server_db.user("5001")
    page = phone()
    page.goto(f"/c/{checkpoint.token}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    path = f"/c/{checkpoint.token}"
    with page.expect_response(lambda r: urlsplit(r.url).path == path) as answered:
        submit_login(page, "5001")

    assert answered.value.status == 403
    refusal = page.locator('.error-page[data-status="403"]')
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("翠湖花园")
    expect(page.locator("#checkin-form")).to_have_count(0)
    shot(page, "checkin-other-site-403")

    # Posting a check-in by hand is refused as well.
    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    response = page.context.request.post(
        f"{live_server.url}{path}",
        form={"csrf_token": csrf, "op_id": "6f1d2a7e-3c1b-4c55-9a53-2b2f0a4d8e01"},
    )
    assert response.status == 403
    assert server_db.count_checkins(CheckIn.user_id == outsider.id) == 0


def test_language_switch_is_kept_on_the_user(phone, login_as, server_db, shot):
    """Chinese first; the top-bar switch to English is stored on the user, not the phone."""
    page = phone()
    login_as(page, "1003")
    lang = page.locator("html")
    expect(lang).to_have_attribute("lang", "zh-CN")
    patrol_url = page.url

    open_more_menu(page)  # language and logout live under 更多 (the phone's tab bar)
    page.locator(".topbar button[name=locale][value=en]").click()
    expect(lang).to_have_attribute("lang", "en")
    assert page.url == patrol_url, "the switch should come back to the same page"
    assert server_db.user("1003").locale == "en"
    shot(page, "language-en")

    open_more_menu(page)
    page.locator(".topbar form[action='/logout'] button").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    submit_login(page, "1003")
    expect(lang).to_have_attribute("lang", "en")

    # A phone that never saw the switch: Chinese until the user is known, then English.
    fresh = phone()
    fresh.goto("/login")
    expect(fresh.locator("html")).to_have_attribute("lang", "zh-CN")
    submit_login(fresh, "1003")
    expect(fresh.locator("html")).to_have_attribute("lang", "en")

    open_more_menu(fresh)
    fresh.locator(".topbar button[name=locale][value=zh_CN]").click()
    expect(fresh.locator("html")).to_have_attribute("lang", "zh-CN")
    assert server_db.user("1003").locale == "zh_CN"
