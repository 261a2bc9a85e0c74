"""The in-app QR scanner in Chromium: a fake camera that shows a checkpoint's QR code opens
that checkpoint; a foreign QR code is refused while scanning goes on; a photo of the label
works without a camera; the short code under the QR is looked up in the offline reference data.

Linux Chromium has no BarcodeDetector, so these tests always run the vendored ponyfill
(zxing-wasm), with the wasm served by us: any request to another host fails the test.
"""

import io
from urllib.parse import urlsplit

import pytest
import qrcode
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.conftest import (
    CHROMIUM,
    LAUNCH_ARGS,
    PHONE,
    fake_camera_args,
    wait_for_script,
    write_y4m,
)
from tests.e2e.health import LAYOUT_SHIFT_OBSERVER

pytestmark = pytest.mark.e2e

SCAN = "/s/CUIHU/scan"
CHECKPOINT_CODE = "014"  # 高压配电柜 in the demo data
CAMERA_TIMEOUT_MS = 15_000  # launch, wasm compile and the first decodes


def qr_png(data: str) -> bytes:
    """A photo-like PNG: the label's QR code small in a larger grey picture."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=8)
    code.add_data(data)
    code.make(fit=True)
    label = code.make_image().get_image().convert("L")
    photo = Image.new("L", (1200, 900), 170)
    photo.paste(label, ((1200 - label.width) // 2, (900 - label.height) // 2))
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def camera_phone(browser, live_server, tmp_path):
    """camera_phone(qr_data): a page in a separate Chromium whose camera shows that QR code."""
    browsers = []

    def make(qr_data: str):
        video = write_y4m(tmp_path / f"camera-{len(browsers)}.y4m", qr_data)
        camera_browser = browser.browser_type.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*LAUNCH_ARGS, *fake_camera_args(video)],
        )
        browsers.append(camera_browser)
        context = camera_browser.new_context(
            base_url=live_server.url, locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True
        )
        context.set_default_timeout(10_000)
        context.grant_permissions(["camera"], origin=live_server.url)
        return context.new_page()

    yield make
    for camera_browser in browsers:
        camera_browser.close()


def watch_requests(page, live_server) -> list[str]:
    """Every URL the page asks for that is not on our server (a CDN, say)."""
    foreign = []
    page.on(
        "request",
        lambda request: (
            request.url.startswith(("http:", "https:"))
            and not request.url.startswith(live_server.url)
            and foreign.append(request.url)
        ),
    )
    return foreign


def wait_for_checkpoint(page, token: str, console: list[str]) -> None:
    """Wait until the scanner has opened /c/<token>; say what the page logged if not."""
    try:
        page.wait_for_url(f"**/c/{token}", timeout=CAMERA_TIMEOUT_MS)
    except PlaywrightError:
        status = page.locator("[role=status]:visible").all_inner_texts()
        raise AssertionError(f"still on {page.url}; status {status}; console {console}") from None


def test_camera_scan_opens_the_checkpoint(camera_phone, login_as, server_db, live_server, shot):
    """§7: the camera sees a checkpoint's label and the app opens /c/<token> by itself."""
    checkpoint = server_db.checkpoint(CHECKPOINT_CODE)
    page = camera_phone(f"{live_server.url}/c/{checkpoint.token}")
    foreign = watch_requests(page, live_server)
    wasm, console = [], []
    page.on("response", lambda r: r.url.endswith(".wasm") and wasm.append((r.url, r.status)))
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    login_as(page, "1001")

    page.goto(SCAN)
    wait_for_checkpoint(page, checkpoint.token, console)

    expect(page.locator("h1")).to_have_text(checkpoint.name)
    expect(page.locator("#checkin-form")).to_be_visible()
    assert wasm == [(f"{live_server.url}/static/vendor/zxing-wasm-3.1.3/zxing_reader.wasm", 200)]
    assert foreign == []
    shot(page, "scanner-camera-opened-checkpoint")


# Headless pages never become hidden: pretend they do, as the browser would tell the page.
HIDE_PAGE = """() => {
  const video = document.getElementById("scan-video");
  const track = video.srcObject.getVideoTracks()[0];
  Object.defineProperty(document, "hidden", { value: true, configurable: true });
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
  return { track: track.readyState, video: video.srcObject };
}"""
SHOW_PAGE = """() => {
  delete document.hidden;
  delete document.visibilityState;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_foreign_qr_is_refused_and_scanning_goes_on(camera_phone, login_as, live_server, shot):
    """A QR code that is not one of our /c/<token> labels says so and opens nothing."""
    page = camera_phone("https://example.com/c/AAAAAAAAAAAAAAAAAAAAAA")
    login_as(page, "1001")

    page.goto(SCAN)
    status = page.locator("#scan-status")
    expect(status).to_have_class("alert error", timeout=CAMERA_TIMEOUT_MS)
    foreign_text = status.inner_text()
    assert foreign_text == page.locator("#scan-messages").evaluate(
        "t => t.content.querySelector('[data-key=foreign]').textContent"
    )
    expect(page.locator("#scan-video")).to_be_visible()
    # Still scanning: frames keep coming and the camera stays on, on this page.
    page.wait_for_timeout(1_000)
    assert urlsplit(page.url).path == SCAN
    assert page.evaluate("document.getElementById('scan-video').srcObject.active") is True
    shot(page, "scanner-foreign-qr")

    # Hidden (another app, the screen off): the camera is released; shown: it comes back.
    track_state = page.evaluate(HIDE_PAGE)
    assert track_state == {"track": "ended", "video": None}
    page.evaluate(SHOW_PAGE)
    page.wait_for_function("() => document.getElementById('scan-video').srcObject?.active")
    expect(page.locator("#scan-video")).to_be_visible()


def test_scan_page_on_a_phone_with_a_camera(camera_phone, login_as, live_server, shot):
    """What staff see while the camera looks for a code (for a person to look at)."""
    page = camera_phone("just some text, no URL")
    login_as(page, "1001")
    page.goto(SCAN)
    expect(page.locator("#scan-video")).to_be_visible(timeout=CAMERA_TIMEOUT_MS)
    expect(page.locator("#scan-status")).to_have_class("alert error", timeout=CAMERA_TIMEOUT_MS)
    shot(page, "scanner-camera")


def test_photo_of_the_label_opens_the_checkpoint(phone, login_as, server_db, live_server, shot):
    """No camera in this browser: a photo of the label through the file input is decoded."""
    checkpoint = server_db.checkpoint(CHECKPOINT_CODE)
    page = phone()
    foreign = watch_requests(page, live_server)
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    login_as(page, "1001")
    page.goto(SCAN)
    expect(page.locator("#scan-status")).to_have_class("alert warn")  # no usable camera
    expect(page.locator("#scan-photo-input")).to_have_attribute("capture", "environment")
    shot(page, "scanner-no-camera")

    page.set_input_files(
        "#scan-photo-input",
        files=[
            {
                "name": "label.png",
                "mimeType": "image/png",
                "buffer": qr_png(f"{live_server.url}/c/{checkpoint.token}"),
            }
        ],
    )
    wait_for_checkpoint(page, checkpoint.token, console)
    expect(page.locator("h1")).to_have_text(checkpoint.name)
    assert foreign == []


def test_photo_without_a_qr_code_says_so(phone, login_as, live_server):
    page = phone()
    login_as(page, "1001")
    page.goto(SCAN)
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), "white").save(buffer, format="PNG")
    page.set_input_files(
        "#scan-photo-input",
        files=[{"name": "blank.png", "mimeType": "image/png", "buffer": buffer.getvalue()}],
    )
    status = page.locator("#scan-photo-status")
    expect(status).to_have_class("alert warn", timeout=CAMERA_TIMEOUT_MS)
    expect(status).not_to_be_empty()
    assert urlsplit(page.url).path == SCAN


DELETE_APP_DATABASE = """() => new Promise((resolve, reject) => {
  const request = indexedDB.deleteDatabase("dutypwa");
  request.onsuccess = () => resolve(true);
  request.onerror = () => reject(request.error);
})"""
# The store names of the app's database, or null if there is none (and none is made).
STORES_OF_APP_DATABASE = """() => new Promise((resolve) => {
  const open = indexedDB.open("dutypwa");
  open.onupgradeneeded = () => open.transaction.abort();
  open.onerror = () => resolve(null);
  open.onsuccess = () => {
    resolve([...open.result.objectStoreNames]);
    open.result.close();
  };
})"""


def test_short_code_without_reference_data_asks_the_server(phone, login_as, server_db):
    """A phone without the offline checkpoint list (the app's offline code has not run
    here: a first visit, an old browser) asks the server, which opens the checkpoint for the
    code as typed, leading zeros left out (issue 11 bug 7)."""
    checkpoint = server_db.checkpoint(CHECKPOINT_CODE)
    page = phone()
    page.context.route("**/static/offline.js", lambda route: route.abort())
    login_as(page, "1001")
    page.goto(SCAN)
    page.evaluate(DELETE_APP_DATABASE)
    page.fill("#scan-code-input", CHECKPOINT_CODE.lstrip("0"))
    page.locator("#scan-code-form button").tap()
    page.wait_for_url(f"**/c/{checkpoint.token}")
    expect(page.locator("h1")).to_have_text(checkpoint.name)
    # Looking left no empty database behind, which would keep the app's own upgrade from
    # creating its stores (if the database is there now, the app made it).
    stores = page.evaluate(STORES_OF_APP_DATABASE)
    assert stores is None or stores, "an empty `dutypwa` database was left behind"


# True once the app has stored the site's reference data (docs/offline.md), without
# creating the database if it is not there.
HAS_REFERENCE = """(site) => new Promise((resolve) => {
  const open = indexedDB.open("dutypwa");
  open.onupgradeneeded = () => open.transaction.abort();
  open.onerror = () => resolve(false);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains("reference")) return resolve(db.close());
    const read = db.transaction("reference").objectStore("reference").get(site);
    read.onsuccess = () => resolve(Boolean(read.result?.checkpoints?.length));
    read.transaction.oncomplete = () => db.close();
  };
})"""


def test_typing_the_short_code_opens_the_checkpoint(phone, login_as, server_db):
    """§7 last resort: the code printed under the QR, looked up in the reference store that
    the app fills at login (static/offline.js)."""
    checkpoint = server_db.checkpoint(CHECKPOINT_CODE)
    page = phone()
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    login_as(page, "1001")
    page.goto(SCAN)
    wait_for_script(page, HAS_REFERENCE, "CUIHU", what="the reference data")
    page.fill("#scan-code-input", CHECKPOINT_CODE)
    page.press("#scan-code-input", "Enter")
    wait_for_checkpoint(page, checkpoint.token, console)
    expect(page.locator("h1")).to_have_text(checkpoint.name)


def test_an_unknown_short_code_opens_nothing(phone, login_as, server_db):
    """A mistyped code says which code is unknown; spaces around a right one are fine."""
    other = server_db.checkpoint("001")
    page = phone()
    login_as(page, "1001")
    page.goto(SCAN)
    wait_for_script(page, HAS_REFERENCE, "CUIHU", what="the reference data")
    page.fill("#scan-code-input", "X99")
    page.press("#scan-code-input", "Enter")
    status = page.locator("#scan-code-status")
    expect(status).to_have_class("alert error")
    expect(status).to_contain_text("X99")
    assert urlsplit(page.url).path == SCAN

    page.fill("#scan-code-input", f" {other.code} ")
    page.press("#scan-code-input", "Enter")
    page.wait_for_url(f"**/c/{other.token}")
    expect(page.locator("h1")).to_have_text(other.name)


def test_the_page_does_not_move_when_the_camera_starts(camera_phone, login_as, shot):
    """The viewfinder's box is there from the first paint (it once appeared when the camera
    started and pushed the rest of the page 246 px down: CLS 0.26)."""
    page = camera_phone("just some text, no URL")
    page.add_init_script(LAYOUT_SHIFT_OBSERVER)
    login_as(page, "1001")
    page.goto(SCAN)
    expect(page.locator("#scan-video")).to_be_visible(timeout=CAMERA_TIMEOUT_MS)
    expect(page.locator("#scan-status")).to_have_class("alert error", timeout=CAMERA_TIMEOUT_MS)
    page.wait_for_timeout(500)
    shift = page.evaluate("window.__layoutShift")
    shot(page, "scanner-camera-started")
    assert shift < 0.05, f"layout shift {shift:.3f} when the camera started"


def test_the_page_does_not_move_when_there_is_no_camera(phone, login_as, shot):
    """Without a camera the box stays (greyed, the retry button inside it where one helps)."""
    page = phone()
    page.add_init_script(LAYOUT_SHIFT_OBSERVER)
    login_as(page, "1001")
    page.goto(SCAN)
    expect(page.locator("#scan-status")).to_have_class("alert warn", timeout=CAMERA_TIMEOUT_MS)
    expect(page.locator("#scan-viewfinder")).to_have_class("viewfinder off")
    page.wait_for_timeout(500)
    shift = page.evaluate("window.__layoutShift")
    shot(page, "scanner-no-camera")
    assert shift < 0.05, f"layout shift {shift:.3f} when the camera failed"
