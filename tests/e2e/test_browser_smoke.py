"""The browser starts, shows the login page and really loses the network when told to.

First in the suite on purpose: Debian's Chromium moves with security updates while
Playwright is pinned, so a broken pairing should fail here, loudly, before anything else.
"""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_login_page_renders(phone, shot, live_server):
    page = phone()
    response = page.goto("/login")

    assert response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    form = page.locator("form:has(input[name=password])")
    expect(form.locator("input[name=username]")).to_be_visible()
    expect(form.locator("input[name=password]")).to_have_attribute("type", "password")
    expect(form.locator("input[name=csrf_token]")).to_have_count(1)
    expect(form.locator("button")).to_be_visible()
    shot(page, "smoke-login")


def test_fetch_fails_while_offline(phone, live_server):
    page = phone()
    page.goto("/login")
    fetch_login = "() => fetch('/login', {cache: 'no-store'}).then(r => r.status, e => 'failed')"
    assert page.evaluate(fetch_login) == 200

    page.context.set_offline(True)
    assert page.evaluate("navigator.onLine") is False
    assert page.evaluate(fetch_login) == "failed"

    page.context.set_offline(False)
    assert page.evaluate(fetch_login) == 200
