"""Security baseline: CSRF on every form and htmx post, cookie flags, response headers."""

import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dutypwa import create_app
from dutypwa.extensions import db
from dutypwa.models import CheckIn
from tests.conftest import PASSWORD, new_op_id


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def token_from(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def test_login_without_csrf_token_is_refused(client, csrf_on, make_user):
    user = make_user()
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_htmx_checkin_needs_the_csrf_header(client, csrf_on, make_user, make_site, make_checkpoint):
    site = make_site()
    user = make_user(sites=[site])
    checkpoint = make_checkpoint(site)
    token = token_from(client.get("/login").get_data(as_text=True))
    client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token}
    )
    page = client.get(f"/c/{checkpoint.token}").get_data(as_text=True)
    refused = client.post(
        f"/c/{checkpoint.token}", data={"op_id": new_op_id()}, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 400
    assert 'class="alert error"' in refused.get_data(as_text=True)  # a fragment htmx swaps in
    assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 0
    accepted = client.post(
        f"/c/{checkpoint.token}",
        data={"op_id": new_op_id()},
        headers={"HX-Request": "true", "X-CSRFToken": token_from(page)},
    )
    assert accepted.status_code == 201


def test_response_headers(client):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_no_inline_scripts_or_handlers_in_templates():
    templates = Path(__file__).resolve().parent.parent / "dutypwa" / "templates"
    for path in templates.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"\son(click|change|submit|load|input)=", text), path
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path


def test_cookies_are_secure_when_served_over_https(tmp_path):
    app = create_app(
        {
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
            "PUBLIC_BASE_URL": "https://duty.example.com",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    with app.app_context():
        db.engine.dispose()


def test_secret_key_is_made_per_installation_outside_the_repo(tmp_path, monkeypatch):
    monkeypatch.delenv("DUTYPWA_SECRET_KEY", raising=False)
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}", "SECRET_KEY": None}
    )
    key_file = Path(app.instance_path) / "secret_key"
    assert len(app.config["SECRET_KEY"]) == 64
    assert key_file.read_text().strip() == app.config["SECRET_KEY"]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert subprocess.run(["git", "check-ignore", "-q", str(key_file)]).returncode == 0
    with app.app_context():
        db.engine.dispose()
