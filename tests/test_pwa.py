"""The installable app's server half (dutypwa/pwa.py, docs/offline.md): the service worker
with its precache list and version, its modules, the manifest, the offline page and the
login-only shells, and the outbox forms' contract."""

import io
import json
import re

import pytest
from PIL import Image

from dutypwa import pwa

SETTING = re.compile(r'^const (VERSION|PRECACHE_URLS|OFFLINE_URL|CHECKPOINT_SHELL_URL|'
                     r'SYNC_PAGE_URL) = (.*);$', re.MULTILINE)  # fmt: skip


def worker_settings(client) -> dict:
    source = client.get("/sw.js").get_data(as_text=True)
    return {name: json.loads(value) for name, value in SETTING.findall(source)}


@pytest.fixture
def fresh_worker(app):
    """Build sw.js again for this test's config (it is made once per process)."""
    app.extensions.pop("dutypwa.worker", None)
    yield
    app.extensions.pop("dutypwa.worker", None)


def test_worker_is_served_from_the_root_uncached(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert "__DUTYPWA_" not in response.get_data(as_text=True)
    again = client.get("/sw.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_worker_settings_come_from_url_for(client):
    settings = worker_settings(client)
    assert re.fullmatch(r"[0-9a-f]{16}", settings["VERSION"])
    assert client.get("/sw.js").headers["ETag"] == f'"{settings["VERSION"]}"'
    assert (
        settings["OFFLINE_URL"],
        settings["CHECKPOINT_SHELL_URL"],
        settings["SYNC_PAGE_URL"],
    ) == (
        "/offline",
        "/app/checkpoint",
        "/sync",
    )
    precache = settings["PRECACHE_URLS"]
    for url in (
        "/static/app.css",
        "/static/app.js",
        "/static/offline.js",
        "/static/vendor/htmx-4.0.1/htmx.min.js",
        "/static/icons/icon-192.png",
        "/static/icons/icon-512.png",
        "/static/icons/icon-maskable-512.png",
        "/sw/db.js",
        "/sw/outbox.js",
        "/offline",
        "/manifest.webmanifest",
    ):
        assert url in precache
    assert not [url for url in precache if "LICENSE" in url or url.endswith(".map")]
    assert "/app/checkpoint" not in precache, "login-only pages are saved per person, not shared"


def test_qr_reader_is_not_in_everyones_precache(client):
    """Issue 11 §5: the ponyfill and its wasm are cached only where a page says the browser
    cannot read QR codes itself (service-worker/qr-reader.js); the worker gets their URLs."""
    source = client.get("/sw.js").get_data(as_text=True)
    reader = json.loads(re.search(r"^const READER_URLS = (.*);$", source, re.MULTILINE)[1])
    precache = worker_settings(client)["PRECACHE_URLS"]
    assert "/static/vendor/zxing-wasm-3.1.3/zxing_reader.wasm" in reader
    assert "/static/vendor/barcode-detector-3.2.2/ponyfill.js" in reader
    assert not [url for url in precache if "zxing" in url or "barcode-detector" in url]
    assert "/static/scan.js" in precache
    assert "/sw/qr-reader.js" in precache
    for url in reader:
        response = client.get(url)
        assert response.status_code == 200, url
        response.close()


def test_every_precached_url_answers_200_without_login(client):
    """One missing file fails the worker's whole install (cache.addAll)."""
    for url in worker_settings(client)["PRECACHE_URLS"]:
        response = client.get(url)
        assert response.status_code == 200, url
        response.close()


def test_version_changes_with_any_precached_file(tmp_path):
    first, second = tmp_path / "a.js", tmp_path / "b.js"
    first.write_text("one")
    second.write_text("two")
    before = pwa._version([first, second])
    assert pwa._version([first, second]) == before
    second.write_text("two, changed")
    assert pwa._version([first, second]) != before
    assert pwa._version([first, second], "2") != pwa._version([first, second])


def test_kill_switch_serves_a_worker_that_removes_itself(
    app, client, fresh_worker, login, make_user
):
    app.config["SERVICE_WORKER_KILL"] = True
    try:
        settings = worker_settings(client)
        login(make_user())
        page = client.get("/offline").get_data(as_text=True)
    finally:
        app.config["SERVICE_WORKER_KILL"] = False
    assert settings["VERSION"] == "kill"
    assert settings["PRECACHE_URLS"] == []
    assert "data-worker-off" in page


@pytest.mark.parametrize("name", ["db", "outbox", "flush", "ops"])
def test_worker_modules_are_served(client, name):
    response = client.get(f"/sw/{name}.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert b"export " in response.data


@pytest.mark.parametrize(
    "url",
    ["/sw/sw.js", "/sw/nothing.js", "/sw/..%2Fdutypwa%2Fpwa.js", "/sw/../pwa.js", "/sw/Db.js",
     "/sw/test%2Fhelpers.js", "/sw/package.js"],
)  # fmt: skip
def test_only_existing_worker_modules_are_served(client, url):
    assert client.get(url).status_code == 404


def test_manifest_makes_the_app_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response.headers["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.get_data(as_text=True))
    assert manifest["id"] == manifest["scope"] == manifest["start_url"] == "/"
    assert manifest["display"] == "standalone"
    assert (manifest["name"], manifest["short_name"], manifest["lang"]) == (
        "物业值班",
        "值班",
        "zh-CN",
    )
    assert "offline" in manifest["description"]
    assert manifest["theme_color"] and manifest["background_color"]
    pngs = {(icon["sizes"], icon["purpose"]): icon["src"] for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= set(pngs)
    for (sizes, _purpose), src in pngs.items():
        if sizes == "any":
            continue
        with client.get(src) as icon:
            assert icon.status_code == 200
            data = icon.data
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG"
            assert f"{image.width}x{image.height}" == sizes


def test_offline_page_is_the_same_for_everyone(client, login, make_user):
    user = make_user(name="王小明")
    anonymous = client.get("/offline")
    login(user)
    logged_in = client.get("/offline")
    assert anonymous.status_code == logged_in.status_code == 200
    page = logged_in.get_data(as_text=True)
    assert "王小明" not in page
    assert "csrf" not in page.lower()
    assert 'href="/sync"' in page
    assert "data-offline-page" in page
    assert '<script type="module" src="/static/offline.js">' in page


def test_offline_page_speaks_chinese_by_default(client):
    del client.environ_base["HTTP_ACCEPT_LANGUAGE"]
    page = client.get("/offline").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


@pytest.mark.parametrize("url", ["/app/checkpoint", "/sync"])
def test_shells_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_checkpoint_shell_has_the_check_in_form_template(client, login, make_user):
    login(make_user())
    page = client.get("/app/checkpoint").get_data(as_text=True)
    assert "data-offline-shell" in page
    form = re.search(r'<template id="shell-checkin-form">(.*?)</template>', page, re.S).group(1)
    assert 'data-outbox="checkin"' in form
    for field in ("op_id", "device_time", "_queued", "note"):
        assert f'name="{field}"' in form
    assert "checkpoint-shell.js" in page


def test_sync_page_has_button_progress_and_row_template(client, login, make_user):
    login(make_user())
    page = client.get("/sync").get_data(as_text=True)
    assert 'id="sync-page"' in page
    assert 'data-action="sync-now"' in page
    assert "<progress" in page
    assert '<template id="sync-item">' in page
    assert "sync-page.js" in page


def test_pages_say_whose_they_are(client, login, make_user):
    """The worker saves a page only for the person the server rendered it for."""
    assert "X-Dutypwa-User" not in client.get("/login").headers
    user = make_user()
    login(user)
    assert client.get("/sync").headers["X-Dutypwa-User"] == str(user.id)
    assert "X-Dutypwa-User" not in client.get("/manifest.webmanifest").headers


def test_every_page_registers_the_worker_and_shows_the_badge(client, login, make_user):
    anonymous = client.get("/login").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in anonymous
    assert 'data-worker="/sw.js"' in anonymous
    assert 'id="outbox-badge"' not in anonymous
    login(make_user())
    page = client.get("/sync").get_data(as_text=True)
    assert 'id="outbox-badge"' in page
    assert 'id="outbox-progress"' in page
    for banner in ("update", "install", "ios", "evicted", "auth"):
        assert f'<template id="banner-{banner}">' in page


def test_outbox_forms_carry_the_contract_fields(
    client, login, make_user, make_site, make_checkpoint
):
    """docs/offline.md: data-outbox, op_id, device_time and the translated _queued sentence."""
    site = make_site(code="OUT")
    checkpoint = make_checkpoint(site, checklist=["水泵"])
    login(make_user(sites=[site]))
    for url, kind in ((f"/c/{checkpoint.token}", "checkin"), ("/s/OUT/findings/new", "finding")):
        page = client.get(url).get_data(as_text=True)
        form = re.search(r"<form[^>]*data-outbox=\"(\w+)\".*?</form>", page, re.S)
        assert form and form.group(1) == kind, url
        for field in ("op_id", "device_time", "_queued"):
            assert f'name="{field}"' in form.group(0), (url, field)
