"""A checkpoint without a checklist, opened offline on a phone with the worker installed
(issue 11 bugs 6 and 7): the offline page shows no empty headings, its "report a problem
here" link files the problem at that checkpoint once the phone is back online, and the
short code typed as people type it ("7", "００７") opens the checkpoint offline too.
"""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dutypwa.models import Finding
from tests.e2e.conftest import start_app, user_id, wait_for_script, wait_until

pytestmark = pytest.mark.e2e

FINDING_FORM_SAVED = """async (userId) => {
  const cache = await caches.open(`dutypwa-pages-${userId}`);
  return Boolean(await cache.match('/s/CUIHU/findings/new', { ignoreVary: true }));
}"""


def offline_phone(app_profile, login_as):
    page = start_app(app_profile, login_as)
    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()  # a page after the reference data arrived tells the worker to save the form
    wait_for_script(page, FINDING_FORM_SAVED, user_id(page), what="the saved problem form")
    page.goto("/s/CUIHU/scan")  # visited once online, so it opens offline
    page.context.set_offline(True)
    return page


def test_a_problem_reported_offline_from_a_checkpoint_without_checklist_is_filed_there(
    app_profile, login_as, server_db, shot
):
    checkpoint, other = server_db.checkpoint("007"), server_db.checkpoint("016")
    assert not checkpoint.checklist and other.checklist, "a garden and an equipment checkpoint"
    page = offline_phone(app_profile, login_as)

    # 016: its checklist shows; the re-check section only when there is something to re-check.
    page.goto(f"/c/{other.token}")
    expect(page.locator("[data-slot=name]")).to_have_text(other.name)
    expect(page.get_by_text("检查项目")).to_be_visible()
    if not page.locator(".recheck-item").count():
        expect(page.get_by_text("复查此处发现的问题")).to_be_hidden()
    page.goto(f"/c/{checkpoint.token}")
    expect(page.locator("[data-slot=name]")).to_have_text(checkpoint.name)
    # No checklist and nothing to re-check here: neither heading shows.
    expect(page.get_by_text("检查项目")).to_be_hidden()
    expect(page.get_by_text("复查此处发现的问题")).to_be_hidden()
    report = page.get_by_role("link", name="在此上报问题")
    expect(report).to_be_visible()
    shot(page, "offline-checkpoint-007-phone")

    report.tap()
    page.wait_for_url(f"**/s/CUIHU/findings/new?checkpoint={checkpoint.token}")
    expect(page.locator("[data-offline-checkpoint] [data-slot=name]")).to_have_text(checkpoint.name)
    expect(page.locator("[data-place-fields]")).to_be_hidden()
    op_id = page.locator("#finding-form input[name=op_id]").input_value()
    page.locator("#finding-form input[name=category]").first.check()
    page.fill("#finding-form textarea[name=description]", "草坪有一处积水")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.locator("#finding-form button[type=submit]").tap()
    assert answered.value.status == 202
    shot(page, "offline-checkpoint-007-problem-saved")

    page.context.set_offline(False)
    finding = wait_until(
        lambda: server_db.scalar(select(Finding).where(Finding.id == op_id)),
        timeout=30,
        what="the problem on the server",
        page=page,
    )
    assert (finding.checkpoint_id, finding.description) == (checkpoint.id, "草坪有一处积水")


@pytest.mark.parametrize("typed", ["7", "００７", " 0 07 "])
def test_a_short_code_typed_offline_without_its_zeros_opens_the_checkpoint(
    app_profile, login_as, server_db, typed
):
    checkpoint = server_db.checkpoint("007")
    page = offline_phone(app_profile, login_as)
    page.goto("/s/CUIHU/scan")
    page.fill("#scan-code-input", typed)
    page.press("#scan-code-input", "Enter")
    page.wait_for_url(f"**/c/{checkpoint.token}")
    expect(page.locator("[data-slot=name]")).to_have_text(checkpoint.name)
