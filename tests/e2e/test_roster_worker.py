"""The service worker keeps the published roster for reading offline without asking for
what is not there (issue 11 §5): it fetches the months the reference data lists, once per
version, and never next month's page while that month is unpublished (it answered 404
after every navigation)."""

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import start_app, user_id, wait_for_script

pytestmark = pytest.mark.e2e

# The roster months of the saved reference data, and whether each is in the person's cache.
SAVED_MONTHS = """async (userId) => {
  const { openDatabase, referenceSites } = await import('/sw/db.js');
  const db = await openDatabase();
  const sites = await referenceSites(db);
  db.close();
  const cache = await caches.open(`dutypwa-pages-${userId}`);
  const months = [];
  for (const site of sites) {
    for (const { month } of site.rosters ?? []) {
      const path = `/s/${site.code}/roster/${month}`;
      months.push({ path, saved: Boolean(await cache.match(path, { ignoreVary: true })) });
    }
  }
  return months;
}"""
# Waits until the demo's published month is listed and every listed month is saved.
EVERY_MONTH_SAVED = f"""async (userId) => {{
  const months = await ({SAVED_MONTHS})(userId);
  return months.length && months.every((month) => month.saved) ? months : null;
}}"""
MONTH_PAGE = re.compile(r"/roster/\d{4}-\d{2}$")
PAGES = ("/s/CUIHU/patrol", "/s/CUIHU/findings", "/s/CUIHU/log", "/s/CUIHU/roster/mine")


def test_the_worker_fetches_each_published_month_once_and_nothing_that_is_missing(
    app_profile, login_as
):
    page = start_app(app_profile, login_as, "1002")
    answers = []  # the page's requests and the worker's own
    page.context.on("response", lambda r: answers.append((urlsplit(r.url).path, r.status)))
    page.reload()  # the first page after the reference data arrived: the worker saves months
    months = wait_for_script(page, EVERY_MONTH_SAVED, user_id(page), what="the months saved")
    listed = {month["path"] for month in months}
    saved_at = len(answers)
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)  # the last page's hello: the worker's saving runs after load

    roster = [(path, status) for path, status in answers if "/roster/" in path]
    assert [answer for answer in roster if answer[1] >= 400] == []
    asked = {path for path, _status in roster if MONTH_PAGE.search(path)}
    assert asked <= listed, f"months not published asked for: {asked - listed}"
    again = [path for path, _status in answers[saved_at:] if path in listed]
    assert again == [], f"months fetched again at the same version: {again}"
