"""The in-app QR scanner page (§7) and the vendored QR reader it loads: the page is the
site's staff's, the wasm is exactly the build the ponyfill was made for, and nothing is
fetched from a CDN (scan.js points the ponyfill's locateFile at our copy)."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from dutypwa.models.checkpoint import code_key
from dutypwa.scanner import BARCODE_DETECTOR, ZXING_WASM

STATIC = Path(__file__).resolve().parent.parent / "dutypwa" / "static"
VENDOR = STATIC / "vendor"
PONYFILL = STATIC / BARCODE_DETECTOR
WASM = STATIC / ZXING_WASM
SCAN_JS = STATIC / "scan.js"


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.mark.parametrize("role", ["staff", "supervisor", "director", "admin"])
def test_scan_page_renders_for_the_sites_people(client, login, make_user, site, role):
    login(make_user(role=role, sites=[site]))
    response = client.get("/s/CUIHU/scan")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<script type="module" src="/static/scan.js"></script>' in page
    assert f'data-ponyfill="/static/{BARCODE_DETECTOR}"' in page
    assert f'data-wasm="/static/{ZXING_WASM}"' in page
    assert 'accept="image/*" capture="environment"' in page
    assert 'id="scan-code-form"' in page
    assert '<template id="scan-messages">' in page
    assert 'href="/s/CUIHU/scan"' in page  # the top nav's link


def test_scan_page_allows_webassembly_but_no_eval(client, login, make_user, site):
    login(make_user(sites=[site]))
    policy = client.get("/s/CUIHU/scan").headers["Content-Security-Policy"]
    script_src = policy.split("script-src")[1].split(";")[0]
    assert script_src.split() == ["'self'", "'wasm-unsafe-eval'"]
    other_page = client.get("/s/CUIHU/patrol").headers["Content-Security-Policy"]
    assert "wasm-unsafe-eval" not in other_page


def test_scan_page_is_refused_for_another_sites_staff(client, login, make_user, make_site, site):
    login(make_user(role="staff", sites=[make_site(code="OTHER")]))
    assert client.get("/s/CUIHU/scan").status_code == 403


def test_my_patrol_offers_the_scanner(client, login, make_user, site):
    login(make_user(sites=[site]))
    page = client.get("/s/CUIHU/patrol").get_data(as_text=True)
    assert 'class="button primary" href="/s/CUIHU/scan"' in page


def ponyfill_export(name: str) -> str:
    """The value the vendored ponyfill exports as `name`, followed through its minified
    re-exports: ponyfill.js imports `x as y` from zxing-exported.js and exports `y as name`;
    zxing-exported.js exports `v as x` and declares `v = "…"`."""
    ponyfill = PONYFILL.read_text()
    bundle = (PONYFILL.parent / "zxing-exported.js").read_text()
    exported_as = re.search(rf"\b(\w+) as {name}\b", ponyfill).group(1)
    imported = re.search(rf"\b(\w+) as {exported_as}\b", ponyfill.split("export")[0]).group(1)
    declared = re.search(rf"\b(\w+) as {imported}\b", bundle.rsplit("export", 1)[1]).group(1)
    return re.search(rf"\b{declared} = \"([^\"]+)\"", bundle).group(1)


def test_vendored_wasm_is_the_build_the_ponyfill_expects():
    """A wasm from another zxing-wasm build fails at runtime with "memory access out of
    bounds": its SHA-256 must be the ZXING_WASM_SHA256 that barcode-detector 3.2.2 records
    (2ebda08a…d1ba for zxing-wasm 3.1.3's dist/reader/zxing_reader.wasm)."""
    assert ponyfill_export("ZXING_WASM_VERSION") == "3.1.3"
    assert WASM.parent.name == "zxing-wasm-3.1.3"
    expected = ponyfill_export("ZXING_WASM_SHA256")
    assert re.fullmatch(r"[0-9a-f]{64}", expected)
    assert hashlib.sha256(WASM.read_bytes()).hexdigest() == expected


def test_vendored_code_fetches_nothing_from_a_cdn_behind_our_back():
    """The only remote address in our vendored code is zxing-wasm's default wasm location
    (jsDelivr); scan.js must override locateFile before the ponyfill is used, and must
    name no remote address itself."""
    remote = re.compile(r"https?://[^\s\"'`)]+")
    found = {
        path.relative_to(VENDOR).as_posix(): remote.findall(path.read_text())
        for path in VENDOR.rglob("*.js")
    }
    found = {path: urls for path, urls in found.items() if urls}
    assert found == {
        "barcode-detector-3.2.2/zxing-exported.js": [
            "https://fastly.jsdelivr.net/npm/zxing-wasm@3.1.3/dist/${n[1]}/${e}"
        ]
    }, "a vendored file names a remote address: self-host it and override it in our code"
    scan_js = SCAN_JS.read_text()
    assert not remote.search(scan_js)
    assert re.search(r"await prepareZXingModule\(\{\s*overrides: \{\s*locateFile:", scan_js)
    override = scan_js.index("prepareZXingModule({")
    assert override < scan_js.index("new BarcodeDetector(", override)
    assert {path.name for path in PONYFILL.parent.iterdir()} == {
        "LICENSE",
        "ponyfill.js",
        "zxing-exported.js",
    }
    assert {path.name for path in WASM.parent.iterdir()} == {
        "LICENSE",
        "LICENSE.zxing-cpp",
        "zxing_reader.wasm",
    }


# The short code printed under the QR (issue 11 bug 7): typed as people type it.

CODE_KEYS = json.loads((Path(__file__).parent / "code_keys.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("typed", "key"), CODE_KEYS)
def test_a_typed_code_means_what_the_phone_reads_it_as(typed, key):
    """The same cases run on the phone (service-worker/test/codes.test.js)."""
    assert code_key(typed) == key


@pytest.mark.parametrize("typed", ["7", "007", "００７", " 0 07 ", "07"])
def test_the_server_opens_the_checkpoint_of_a_typed_code(
    client, login, make_user, make_checkpoint, site, typed
):
    checkpoint = make_checkpoint(site, code="007", name="北门花坛")
    make_checkpoint(site, code="070", name="别的点")
    login(make_user(sites=[site]))
    response = client.get("/s/CUIHU/scan", query_string={"code": typed})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/c/{checkpoint.token}"


def test_an_unknown_code_is_said_on_the_scan_page(
    client, login, make_user, make_checkpoint, make_site, site
):
    make_checkpoint(site, code="008", name="停用的点", active=False)
    make_checkpoint(make_site(code="OTHER"), code="009", name="别处的点")
    login(make_user(sites=[site]))
    for typed in ("8", "9", "10"):
        response = client.get("/s/CUIHU/scan", query_string={"code": typed})
        assert response.status_code == 404
        page = response.get_data(as_text=True)
        assert f"There is no checkpoint with the code {typed} at this site." in page
        assert f'value="{typed}"' in page


def test_the_code_form_asks_the_server_when_the_phone_has_no_answer(client, login, make_user, site):
    login(make_user(sites=[site]))
    page = client.get("/s/CUIHU/scan").get_data(as_text=True)
    assert 'method="get"\n        action="/s/CUIHU/scan"' in page
    script = SCAN_JS.read_text(encoding="utf-8")
    assert 'import { codeKey } from "/sw/codes.js";' in script
    assert "codeForm.submit()" in script
