"""The online handover at a station tablet as people have it: Chromium at tablet size
(1024 × 768, touch, zh-CN) in a persistent profile with the service worker installed and
controlling every station page (issue 11 §1.1). Each station page asks the worker to
refresh the offline station (`GET /station/app`); that refresh once made the server forget
the person who had just entered their PIN, and 立即签到 answered 403 "请先选择姓名并输入
PIN码" every time. Here 陈杰 relieves 刘芳 through the whole flow — check-in, the count,
the duty log, the area, her summary, both signatures — with the worker refreshing the
offline station after every page, and the visible text is checked after each step.
"""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa.models import Handover, HandoverEvent, Post, PostDuty, Site
from tests.e2e.conftest import CONTROLLED, ServerDB, serve_demo, wait_for_script, wait_until
from tests.e2e.test_handover import LIU, POST, SITE, TABLET, ZHANG, enter_pin, sign
from tests.e2e.test_handover_offline import STATION_SAVED

pytestmark = pytest.mark.e2e

WAIT_MS = 30_000  # the machine is shared: be patient with the server
SUMMARY = "夜班正常，物品齐全，无异常。"


@pytest.fixture
def live_server(_browser_available, tmp_path_factory, artifacts):
    """A demo server of this test's own: a handover changes the post for good."""
    with serve_demo(tmp_path_factory, artifacts, "station_online") as server:
        yield server


@pytest.fixture
def server_db(live_server):
    db = ServerDB(live_server.database_url)
    yield db
    db.engine.dispose()


@pytest.fixture
def tablet(app_profile):
    """A tablet whose browser profile lives on disk, so the service worker installs and
    controls the pages as on a real tablet; `tablet.shell_fetches` lists the station's
    finished fetches of the offline station (True: made by the worker)."""
    page = app_profile.open(viewport=TABLET, is_mobile=False, has_touch=True)
    context = page.context
    context.set_default_timeout(WAIT_MS)
    page.shell_fetches = []

    def seen(request):
        if urlsplit(request.url).path == "/station/app":
            page.shell_fetches.append(request.service_worker is not None)

    context.on("requestfinished", seen)
    return page


def path_of(page) -> str:
    return urlsplit(page.url).path


def after_shell_refresh(page, before: int) -> None:
    """Wait until the worker has refreshed the offline station since `before` fetches:
    the moment that once logged the person out."""
    wait_until(
        lambda: len(page.shell_fetches) > before,
        timeout=WAIT_MS / 1000,
        what="the worker's refresh of the offline station",
        page=page,
    )


def settle(page) -> None:
    """The page has loaded under the worker and the worker has refreshed the station."""
    page.wait_for_load_state()
    page.wait_for_function(CONTROLLED)
    after_shell_refresh(page, page.fetches_at_load)


def navigate(page, act) -> None:
    """Do `act` (a tap that leads to a new page) and wait for that page to settle."""
    page.fetches_at_load = len(page.shell_fetches)
    before = page.url
    act()
    page.wait_for_url(lambda url: url != before)
    settle(page)


def send_step(page, button) -> None:
    """Send a step; the server answers 204 + HX-Redirect, which htmx follows with a full
    page load (often of the same URL), then the worker refreshes the station again."""
    page.evaluate("window.stepSent = true")
    page.fetches_at_load = len(page.shell_fetches)
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        button.tap()
    response = answered.value
    assert response.status == 204 and response.headers.get("hx-redirect"), (
        response.status,
        response.text(),
    )
    wait_for_script(page, "() => !window.stepSent && document.readyState === 'complete'",
                    timeout=WAIT_MS / 1000, what="the next page")  # fmt: skip
    settle(page)


def step_title(page):
    return page.locator("#step-form h1")


def pin_in(page, pin: str) -> None:
    form = page.locator("#pin-form")
    enter_pin(form, pin)
    navigate(page, lambda: form.locator("button[type=submit]").tap())


def test_the_online_handover_goes_through_with_the_worker_controlling_the_tablet(
    tablet, login_as, server_db, shot
):
    page = tablet
    post = server_db.scalar(select(Post).join(Site).where(Site.code == SITE, Post.name == POST))
    chen, liu = server_db.user("1003"), server_db.user("1002")
    assert server_db.scalar(select(PostDuty).where(PostDuty.post_id == post.id)).person_id == (
        liu.id
    )

    # The supervisor enrols the tablet; the worker controls the station home and has
    # saved the offline station.
    login_as(page, "2001")
    page.wait_for_function(CONTROLLED)
    page.goto(f"/s/{SITE}/stations")
    enrol = page.locator("#enrol-form")
    enrol.locator("select[name=post_id]").select_option(label=POST)
    enrol.locator("input[name=name]").fill("客服中心平板")
    page.fetches_at_load = len(page.shell_fetches)
    enrol.locator("button[type=submit]").tap()
    page.wait_for_url("**/station")
    settle(page)
    station_id = int(page.locator(".station[data-station-id]").get_attribute("data-station-id"))
    wait_for_script(page, STATION_SAVED, station_id, timeout=20, what="the saved station")
    assert any(page.shell_fetches), "the worker itself refreshed the offline station"
    expect(page.locator(".station-post")).to_have_text(POST)
    expect(page.locator(".station-duty")).to_contain_text("刘芳")
    shot(page, "station-online-01-home")

    # 开始交接班 → 陈杰 → PIN 1234: the check-in page names him and whom he relieves.
    navigate(page, lambda: page.locator("a.station-action[href*='then=arrive']").tap())
    expect(page.locator(".station-people")).not_to_contain_text("刘芳")
    navigate(page, lambda: page.locator(".station-people a", has_text="陈杰").tap())
    expect(page.locator(".station-pin-card h1")).to_have_text("陈杰")
    shot(page, "station-online-02-pin")
    pin_in(page, "1234")
    assert path_of(page) == "/station/start"
    start = page.locator("#start-form")
    expect(start.locator(".station-person")).to_have_text("陈杰")
    expect(start).to_contain_text("您从刘芳手中接班客户服务中心")
    shot(page, "station-online-03-check-in")

    # 立即签到: the worker has refreshed the offline station meanwhile; the check-in goes
    # through (it answered 403 "请先选择姓名并输入 PIN码" before).
    send_step(page, start.locator("button[type=submit]"))
    expect(page.locator("body")).not_to_contain_text("请先选择姓名")
    assert path_of(page).startswith("/station/handovers/"), page.url
    handover_id = path_of(page).rsplit("/", 1)[1]
    expect(step_title(page)).to_have_text("清点物品")
    expect(page.locator("#step-form .station-who")).to_contain_text("当前：陈杰")
    expect(page.locator(".station-flow-side")).to_contain_text("陈杰 ← 刘芳")
    shot(page, "station-online-04-count")

    # The count: everything there.
    items = page.locator("#step-form [data-inventory-item]")
    for index in range(items.count()):
        items.nth(index).locator("[data-step=all]").tap()
    send_step(page, page.locator("#step-form button.primary[type=submit]"))
    expect(step_title(page)).to_have_text("查阅值班记录")
    expect(page.locator(".station-steps li.done")).to_have_count(2)  # check-in, count
    expect(page.locator(".station-steps li.current")).to_have_text("查阅值班记录")

    # The duty log: every open item carried over.
    review = page.locator("#step-form .station-review > li")
    for index in range(review.count()):
        review.nth(index).locator("input[value=carried]").check()
    shot(page, "station-online-05-log-review")
    send_step(page, page.locator("#step-form button.primary[type=submit]"))
    expect(step_title(page)).to_have_text("检查区域")
    expect(page.locator("#step-form .station-who")).to_contain_text("当前：陈杰")
    shot(page, "station-online-06-area")

    # The area: nothing abnormal. The summary is 刘芳's: the tablet asks for her PIN.
    send_step(page, page.locator("#step-form [data-nothing-abnormal]"))
    expect(page.locator(".station-pin-card h1")).to_have_text("刘芳")
    shot(page, "station-online-07-hand-the-tablet-over")
    pin_in(page, "1234")
    expect(step_title(page)).to_have_text("交班小结")
    expect(page.locator("#step-form .station-who")).to_contain_text("当前：刘芳")
    page.locator("#step-form textarea[name=summary]").fill(SUMMARY)
    shot(page, "station-online-08-summary")
    send_step(page, page.locator("#step-form button.primary[type=submit]"))

    # 陈杰 signs first (H5), then 刘芳 (H8).
    expect(step_title(page)).to_have_text("接班人签字")
    sign(page, ZHANG)
    enter_pin(page.locator("#step-form"), "1234")
    shot(page, "station-online-09-relief-signs")
    send_step(page, page.locator("#step-form .pin-pad button[type=submit]"))
    expect(step_title(page)).to_have_text("交班人签字")
    expect(page.locator("#step-form div.alert.error")).to_have_count(0)
    sign(page, LIU)
    enter_pin(page.locator("#step-form"), "1234")
    shot(page, "station-online-10-outgoing-signs")
    send_step(page, page.locator("#step-form .pin-pad button[type=submit]"))

    assert path_of(page).endswith("/done"), page.url
    done = page.locator(".station-done")
    expect(done.locator("h1")).to_have_text("交接班已完成——陈杰 当班")
    expect(done.locator("svg.signature-svg path")).to_have_count(2)
    expect(done.locator("figcaption").nth(0)).to_contain_text("陈杰")
    expect(done.locator("figcaption").nth(1)).to_contain_text("刘芳")
    shot(page, "station-online-11-done")

    # The server's record agrees, each step by its person.
    handover = server_db.scalar(select(Handover).where(Handover.id == handover_id))
    assert handover.status == "signed"
    assert (handover.incoming_id, handover.outgoing_id) == (chen.id, liu.id)
    events = server_db.scalars(
        select(HandoverEvent)
        .where(HandoverEvent.handover_id == handover_id)
        .order_by(HandoverEvent.ordinal)
    )
    assert [(event.action, event.by_id) for event in events] == [
        ("inventory", chen.id),
        ("log_review", chen.id),
        ("area_check", chen.id),
        ("summary", liu.id),
        ("sign_incoming", chen.id),
        ("sign_outgoing", liu.id),
    ]
    # The worker refreshed the offline station all along.
    assert sum(page.shell_fetches) >= 8, page.shell_fetches

    # Back home: 陈杰 holds the post.
    navigate(page, lambda: done.locator("a.station-action").tap())
    expect(page.locator(".station-duty .station-person")).to_have_text("陈杰")
    expect(page.locator(".station-open")).to_have_count(0)
    assert re.search(r"陈杰", page.locator(".station-duty").inner_text())
    shot(page, "station-online-12-home-after")
