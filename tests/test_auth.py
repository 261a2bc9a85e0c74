"""Logging in by staff number, remember-me, safe redirects, language choice, logout."""

import pytest

from dutypwa.extensions import db
from dutypwa.models import User


def test_login_page_has_username_and_password_fields(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'name="username"' in page and 'name="password"' in page


def test_login_by_staff_number_case_insensitive_and_remembered(client, make_user):
    user = make_user(role="staff", username="Z1001")
    response = client.post(
        "/login", data={"username": " z1001 ", "password": "secret-pass-1", "remember": "y"}
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("remember_token=") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith("session=") and "SameSite=Lax" in c for c in cookies)
    home = client.get("/")
    assert home.status_code == 302
    assert home.location == f"/s/{user.sites[0].code}/patrol"


@pytest.mark.parametrize(
    "form",
    [
        {"username": "nobody", "password": "secret-pass-1"},
        {"username": "u-wrong", "password": "wrong"},
        {"username": "", "password": ""},
    ],
)
def test_bad_login_is_422_with_a_message(client, make_user, form):
    make_user(username="u-wrong")
    response = client.post("/login", data=form)
    assert response.status_code == 422
    assert "session=" not in "".join(response.headers.getlist("Set-Cookie")) or (
        "_user_id" not in response.get_data(as_text=True)
    )
    assert client.get("/").status_code == 302  # still logged out
    assert client.get("/").location.startswith("/login")


def test_inactive_user_cannot_log_in(client, make_user):
    user = make_user(username="gone")
    user.active = False
    db.session.commit()
    response = client.post("/login", data={"username": "gone", "password": "secret-pass-1"})
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("/s/X/patrol", "/s/X/patrol"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("javascript:alert(1)", None),
    ],
)
def test_next_is_followed_only_within_the_app(client, make_user, next_url, landing):
    make_user(username="nx")
    response = client.post(
        "/login",
        query_string={"next": next_url},
        data={"username": "nx", "password": "secret-pass-1"},
    )
    assert response.status_code == 302
    assert response.location == (landing or "/")


def test_htmx_request_without_session_gets_hx_redirect(client, make_site):
    site = make_site()
    response = client.get(f"/s/{site.code}/coverage", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login"


def test_logout_is_post_only(client, login, make_user):
    login(make_user())
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_language_defaults_to_chinese_and_switch_is_remembered_per_user(client, login, make_user):
    user = make_user()
    del client.environ_base["HTTP_ACCEPT_LANGUAGE"]
    assert '<html lang="zh-CN">' in client.get("/login").get_data(as_text=True)
    login(user)
    response = client.post("/language", data={"locale": "en", "next": "/login"})
    assert response.status_code == 302
    assert db.session.get(User, user.id).locale == "en"
    client.post("/logout")
    fresh = client.application.test_client()  # another browser, no language preference
    fresh.post("/login", data={"username": user.username, "password": "secret-pass-1"})
    assert '<html lang="en">' in fresh.get("/login").get_data(as_text=True)


def test_language_before_login_is_kept_in_the_session(client):
    client.post("/language", data={"locale": "zh_CN"})
    assert '<html lang="zh-CN">' in client.get("/login").get_data(as_text=True)


def test_english_browser_gets_english(client):
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in page.get_data(as_text=True)


def test_unknown_language_is_refused(client):
    assert client.post("/language", data={"locale": "fr"}).status_code == 400


def test_pages_carry_when_the_session_logged_in(client, login, make_user):
    """The phone tells a storage marker not written yet from storage the browser deleted."""
    from datetime import UTC, datetime

    login(make_user())
    page = client.get("/login").get_data(as_text=True)
    stamp = page.split('data-login-at="')[1].split('"')[0]
    assert abs((datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()) < 60
