"""The shift handover at a shared tablet, in a real Chromium at tablet size (1024 × 768,
touch), online: a supervisor enrols the tablet as the station of 客户服务中心; the day person
张伟 relieves the night person 刘芳 there with PINs — the count with a missing torch and her
explanation, the duty log's open items carried over or completed, the area check, her
summary, both signatures drawn on the tablet, the relief first (H5, H8). The server's facts,
the printable record (one A4 page), and the coverage page then say the same (H2, H3, H12).
"""

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa.models import Finding, Handover, HandoverEvent, Post, PostDuty, Site
from tests.e2e.conftest import (
    A4_POINTS,
    CHROMIUM,
    CONTROLLED,
    LAUNCH_ARGS,
    pdf_page_count,
    pdf_page_images,
    pdf_page_sizes,
    pdf_text,
    wait_for_script,
)

pytestmark = pytest.mark.e2e

SITE = "CUIHU"
POST = "客户服务中心"
TABLET = {"width": 1024, "height": 768}
TORCH = "手电筒"
TORCH_EXPLANATION = "夜班巡查时一支手电筒掉进2号楼水池，已报失"
REPAIR = "卫生间天花板渗水"
SUMMARY = "夜班正常。手电筒少一支（掉进水池），卫生间天花板渗水仍待维修，已移交白班跟进。"
# The server's messages, in English or in the Chinese the tablet asks for.
TRIES_LEFT = re.compile(r"tries left|还可尝试")
RELIEF_SIGNS_FIRST = re.compile(r"relief signs first|接班人先签字")
SERVER_WAIT_MS = 30_000  # the machine is shared: be patient with the server


@pytest.fixture
def tablet(browser, live_server, tmp_path):
    """A 1024 × 768 touch tablet in Chinese, online, as tablets are: a profile on disk with
    the service worker installed and controlling the station pages."""
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "tablet-profile"),
        executable_path=CHROMIUM,
        args=LAUNCH_ARGS,
        headless=True,
        base_url=live_server.url,
        locale="zh-CN",
        viewport=TABLET,
        has_touch=True,
    )
    context.set_default_timeout(SERVER_WAIT_MS)
    yield context.pages[0] if context.pages else context.new_page()
    context.close()


def path_of(page) -> str:
    return urlsplit(page.url).path


def enter_pin(form, pin: str) -> None:
    """Type the PIN with the station's big keys, as a finger would."""
    form.locator("[data-digit=clear]").tap()
    for digit in pin:
        form.locator(f"[data-digit='{digit}']").tap()
    expect(form.locator("[data-pin-input]")).to_have_value(pin)


def sign(page, strokes: list[list[tuple[float, float]]]) -> None:
    """Draw on the signing box (fractions of its width and height)."""
    canvas = page.locator("#step-form canvas.signature-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=4)
        page.mouse.up()
    signature = page.locator("#step-form input[name=signature]").input_value()
    assert re.fullmatch(r"M \d+ \d+( [ML] \d+ \d+)+", signature), signature


def assert_torch_handover(server_db, handover, zhang, liu) -> Finding:
    """The done-when handover as the server keeps it, online or synced from the tablet:
    signed 刘芳 → 张伟, the relief first (H5, H8), the torch one short with 刘芳's
    explanation, and the nonconformity it raised (H2)."""
    assert handover.status == "signed"
    assert (handover.incoming_id, handover.outgoing_id) == (zhang.id, liu.id)
    assert handover.incoming_signed_at <= handover.outgoing_signed_at
    assert handover.incoming_signature.startswith("M ")
    assert handover.outgoing_signature.startswith("M ")
    [torch_count] = [item for item in handover.inventory if item["name"] == TORCH]
    assert torch_count == {
        "name": TORCH,
        "expected": 2,
        "counted": 1,
        "condition": "ok",
        "explanation": TORCH_EXPLANATION,
        "discrepancy": True,
    }
    assert [item["name"] for item in handover.inventory if item["discrepancy"]] == [TORCH]
    [finding] = server_db.scalars(
        select(Finding).where(Finding.source == "handover", Finding.description.contains(TORCH))
    )
    assert TORCH_EXPLANATION in finding.description and finding.created_by_id == zhang.id
    return finding


def assert_one_a4_page(page, artifacts, name: str, words: list[str]):
    """The record as printed: one A4 page that says `words`; returns the PDF's path."""
    page.emulate_media(media="print")
    expect(page.locator(".record-tools")).to_be_hidden()
    pdf = artifacts / f"{name}.pdf"
    pdf.write_bytes(page.pdf(format="A4", print_background=True))
    assert pdf_page_count(pdf) == 1
    [(width, height)] = pdf_page_sizes(pdf)
    assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2, (width, height)
    text = pdf_text(pdf)
    for word in words:
        assert word in text, word
    page.emulate_media(media="screen")
    return pdf


ZHANG = [[(0.1, 0.7), (0.15, 0.2), (0.22, 0.75), (0.3, 0.25)], [(0.35, 0.3), (0.5, 0.3)]]
LIU = [[(0.1, 0.3), (0.12, 0.8), (0.3, 0.75)], [(0.4, 0.2), (0.45, 0.8), (0.6, 0.5)]]


def choose_person(page, name: str, pin: str) -> None:
    """On the people list: tap the name, then the PIN, and wait until the page moved on."""
    page.locator(".station-people a", has_text=name).tap()
    expect(page.locator(".station-pin-card h1")).to_have_text(name)
    pin_in(page, pin)


def pin_in(page, pin: str) -> None:
    form = page.locator("#pin-form")
    enter_pin(form, pin)
    before = page.url
    form.locator("button[type=submit]").tap()
    page.wait_for_url(lambda url: url != before)


def step_done(page, button) -> None:
    """Send a step and wait for the page the server sends the tablet to next (htmx follows
    its HX-Redirect with a full page load, often of the same URL)."""
    page.evaluate("window.stepSent = true")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        button.tap()
    response = answered.value
    assert response.status == 204 and response.headers.get("hx-redirect"), response.text()
    wait_for_script(
        page,
        "() => !window.stepSent && document.readyState === 'complete'",
        timeout=SERVER_WAIT_MS / 1000,
        what="the next page",
    )


def current_action(page) -> str:
    return page.locator("#step-form input[name=action]").input_value()


def the_handover(server_db, handover_id: str) -> Handover:
    return server_db.scalar(select(Handover).where(Handover.id == handover_id))


def test_h2_h3_h5_h8_h12_two_people_hand_over_at_the_station_and_the_record_matches(
    tablet, desktop, login_as, server_db, shot, artifacts
):
    page = tablet
    post = server_db.scalar(select(Post).join(Site).where(Site.code == SITE, Post.name == POST))
    duty = server_db.scalar(select(PostDuty).where(PostDuty.post_id == post.id))
    assert (
        server_db.scalar(
            select(Handover).where(Handover.post_id == post.id, Handover.status == "open")
        )
        is None
    )
    # The demo: 刘芳 (1002) is on the night shift here until 08:00 (H10 after that).
    assert duty.person_id == server_db.user("1002").id

    # 1. The supervisor enrols THIS tablet as the post's station and is logged out on it.
    login_as(page, "2001")
    page.goto(f"/s/{SITE}/stations")
    enrol = page.locator("#enrol-form")
    enrol.locator("select[name=post_id]").select_option(label=POST)
    enrol.locator("input[name=name]").fill("客服中心平板")
    shot(page, "handover-01-enrol-tablet")
    enrol.locator("button[type=submit]").tap()
    page.wait_for_url("**/station")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "dutypwa_station"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # Nobody is logged in on the tablet now: a normal page asks for a login.
    page.goto(f"/s/{SITE}/findings")
    assert path_of(page) == "/login"
    page.goto("/station")
    page.wait_for_function(CONTROLLED)  # every station page from here on, as on a real tablet
    duty_card = page.locator(".station-duty")
    expect(page.locator(".station-post")).to_have_text(POST)
    overdue = duty.due_until.replace(tzinfo=UTC) <= datetime.now(UTC)
    if overdue:  # between 08:00 and 20:00: the night person is still there (H10)
        expect(duty_card.locator(".station-overdue")).to_contain_text("刘芳")
    else:
        expect(duty_card.locator(".station-person")).to_have_text("刘芳")
    shot(page, "handover-02-station-home")

    # 2. 张伟 checks in as the relief (H1).
    page.locator("a.station-action[href*='then=arrive']").tap()
    expect(page.locator(".station-people")).not_to_contain_text("刘芳")  # not her own relief
    choose_person(page, "张伟", "1234")
    assert path_of(page) == "/station/start"
    expect(page.locator("#start-form")).to_contain_text("刘芳")
    shot(page, "handover-03-check-in")
    before = page.url
    page.locator("#start-form button[type=submit]").tap()
    page.wait_for_url(lambda url: url != before and "/station/handovers/" in url)
    handover_id = path_of(page).rsplit("/", 1)[1]
    assert the_handover(server_db, handover_id).status == "open"

    # The count (H2): all there but one torch of two, and 刘芳's explanation.
    assert current_action(page) == "inventory"
    items = page.locator("[data-inventory-item]")
    for index in range(items.count()):
        item = items.nth(index)
        item.locator("[data-step=all]").tap()
        if TORCH in item.locator(".inventory-head strong").inner_text():
            torch = item
    torch.locator("[data-step='-1']").tap()
    expect(torch.locator("input[type=number]")).to_have_value("1")
    expect(torch).to_have_class(re.compile(r"\bdiscrepancy\b"))
    explanation = torch.locator("[data-explanation] textarea")
    expect(explanation).to_be_visible()
    explanation.fill(TORCH_EXPLANATION)
    shot(page, "handover-04-count-torch-missing")
    step_done(page, page.locator("#step-form button.primary[type=submit]"))

    # The duty log (H3, H12): the repair carried over by name, the rest completed.
    assert current_action(page) == "log_review"
    review = page.locator(".station-review > li")
    assert review.count() >= 1
    others = 0
    for index in range(review.count()):
        row = review.nth(index)
        if REPAIR in row.inner_text():
            row.locator("input[value=carried]").check()
        else:
            row.locator("input[value=completed]").check()
            others += 1
    expect(page.locator(".station-review")).to_contain_text(REPAIR)
    shot(page, "handover-05-log-review")
    step_done(page, page.locator("#step-form button.primary[type=submit]"))

    # The area (H4): nothing abnormal.
    assert current_action(page) == "area_check"
    step_done(page, page.locator("#step-form [data-nothing-abnormal]"))

    # The summary is 刘芳's (H6): the tablet asks for her PIN.
    expect(page.locator(".station-pin-card h1")).to_have_text("刘芳")
    shot(page, "handover-06-hand-the-tablet-to-the-outgoing")
    pin_in(page, "1234")
    assert current_action(page) == "summary"
    page.locator("#step-form textarea[name=summary]").fill(SUMMARY)
    shot(page, "handover-07-summary")
    step_done(page, page.locator("#step-form button.primary[type=submit]"))

    # H8: 刘芳 tries to sign and leave before the relief has signed: refused.
    assert current_action(page) == "sign_incoming"
    expect(page.locator("#step-form")).to_contain_text(REPAIR)  # carried over to 张伟
    page.locator("#step-form .station-aside a").tap()
    page.wait_for_url("**step=sign_outgoing")
    assert current_action(page) == "sign_outgoing"
    sign(page, LIU)
    enter_pin(page.locator("#step-form"), "1234")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.locator("#step-form .pin-pad button[type=submit]").tap()
    assert answered.value.status == 422
    expect(page.locator("#step-form div.alert.error[role=alert]")).to_contain_text(
        RELIEF_SIGNS_FIRST
    )
    shot(page, "handover-08-outgoing-first-refused-h8")
    refused = the_handover(server_db, handover_id)
    assert refused.status == "open" and refused.outgoing_signed_at is None

    # 张伟 signs first (H5), with a wrong PIN at first: refused, tries left, still open.
    page.goto(f"/station/handovers/{handover_id}")
    assert current_action(page) == "sign_incoming"
    sign(page, ZHANG)
    shot(page, "handover-09-relief-signs")
    enter_pin(page.locator("#step-form"), "9999")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.locator("#step-form .pin-pad button[type=submit]").tap()
    assert answered.value.status == 403
    expect(page.locator("#step-form div.alert.error[role=alert]")).to_contain_text(TRIES_LEFT)
    shot(page, "handover-10-wrong-pin")
    wrong = the_handover(server_db, handover_id)
    assert wrong.status == "open" and wrong.incoming_signed_at is None
    # The drawn signature survived the refusal; the right PIN now.
    assert page.locator("#step-form input[name=signature]").input_value().startswith("M ")
    enter_pin(page.locator("#step-form"), "1234")
    step_done(page, page.locator("#step-form .pin-pad button[type=submit]"))

    # 刘芳 signs last and may leave (H8).
    assert current_action(page) == "sign_outgoing"
    expect(page.locator("#step-form div.alert.error[role=alert]")).to_have_count(0)
    sign(page, LIU)
    enter_pin(page.locator("#step-form"), "1234")
    page.locator("#step-form .pin-pad button[type=submit]").tap()
    page.wait_for_url("**/done")
    done = page.locator(".station-done")
    expect(done.locator("h1")).to_contain_text("张伟")
    expect(done.locator("svg.signature-svg path")).to_have_count(2)
    expect(done).to_contain_text(REPAIR)
    shot(page, "handover-11-done")

    # 3. The server's facts.
    handover = the_handover(server_db, handover_id)
    zhang, liu = server_db.user("1001"), server_db.user("1002")
    assert_torch_handover(server_db, handover, zhang, liu)
    assert REPAIR in [item["title"] for item in handover.carried]
    assert len(handover.completed) == others
    assert handover.anomalies == [] and handover.summary == SUMMARY
    events = server_db.scalars(
        select(HandoverEvent)
        .where(HandoverEvent.handover_id == handover_id)
        .order_by(HandoverEvent.ordinal)
    )
    assert [(event.action, event.by_id) for event in events] == [
        ("inventory", zhang.id),
        ("log_review", zhang.id),
        ("area_check", zhang.id),
        ("summary", liu.id),
        ("sign_incoming", zhang.id),
        ("sign_outgoing", liu.id),
    ]  # the two refusals recorded nothing
    now_on_duty = server_db.scalar(select(PostDuty).where(PostDuty.post_id == post.id))
    assert now_on_duty.person_id == zhang.id and now_on_duty.handover_id == handover_id

    # The printable record, read by the supervisor on another screen.
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
    expect(torch_row.locator("a.finding-link")).to_have_count(1)
    expect(record.locator("#carried")).to_contain_text(REPAIR)
    expect(record.locator("#summary")).to_have_text(SUMMARY)
    expect(record.locator("#signatures svg")).to_have_count(2)
    expect(record.locator("#sign-incoming svg path")).to_have_count(1)
    expect(record.locator("#sign-outgoing svg path")).to_have_count(1)
    shot(office, "handover-12-record-desktop")
    pdf = assert_one_a4_page(office, artifacts, "handover-record",
                             ["张伟", "刘芳", TORCH, REPAIR, TORCH_EXPLANATION[:8]])  # fmt: skip
    pdf_page_images(pdf, dpi=60, pages=1)[0].save(artifacts / "handover-13-record-a4-1.png")

    # 4. The coverage page: the post is 张伟's now, not overdue.
    office.goto(f"/s/{SITE}/coverage")
    row = office.locator(f"#post-duty-{post.id}")
    expect(row.locator(".on-duty")).to_contain_text("张伟")
    expect(row).not_to_have_class(re.compile(r"\brelief-overdue\b"))
    expect(row).not_to_have_class(re.compile(r"\bhandover-open\b"))
    expect(row.locator(".last-handover")).to_contain_text("刘芳 → 张伟")
    shot(office, "handover-14-coverage")

    # Back at the tablet: the station home shows 张伟 on duty, no handover open.
    page.goto("/station")
    expect(page.locator(".station-duty .station-person")).to_have_text("张伟")
    expect(page.locator(".station-open")).to_have_count(0)
    shot(page, "handover-15-station-home-after")
