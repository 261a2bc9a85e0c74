"""The offline QR reader (the barcode-detector ponyfill and its ≈450 KB gzipped zxing wasm)
is precached only where the browser cannot read QR codes itself (issue 11 §5): a phone whose
BarcodeDetector reads qr_code (Android Chrome) never downloads it; elsewhere the worker
caches it after login and the scan page says offline scanning is ready, also offline.

Linux Chromium has no BarcodeDetector: the native one is a stub put in by an init script.
"""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import start_app, wait_for_script

pytestmark = pytest.mark.e2e

SCAN = "/s/CUIHU/scan"
WASM = "/static/vendor/zxing-wasm-3.1.3/zxing_reader.wasm"
READER_JS = "/static/vendor/barcode-detector-3.2.2/zxing-exported.js"
READY = "离线扫码已就绪"

NATIVE_QR_DETECTOR = """
window.BarcodeDetector = class BarcodeDetector {
  static async getSupportedFormats() { return ["qr_code", "ean_13"]; }
  constructor(options) { this.options = options; }
  async detect() { return []; }
};
"""
# Is the URL in any of our caches (the worker's precache), and what the worker was told.
CACHED = "async (url) => Boolean(await caches.match(url))"
VERDICT = """async () => {
  const { openDatabase, getMeta } = await import('/sw/db.js');
  const db = await openDatabase();
  const verdict = await getMeta(db, 'qr-reader');
  db.close();
  return verdict ?? null;
}"""

# The scanner's own way of loading the reader (static/scan.js), here while offline.
LOAD_PONYFILL = """async () => {
  const root = document.getElementById('scanner');
  const { prepareZXingModule } = await import(root.dataset.ponyfill);
  const wasm = new URL(root.dataset.wasm, location.href).href;
  const locateFile = (path, prefix) => (path.endsWith('.wasm') ? wasm : prefix + path);
  await prepareZXingModule({ overrides: { locateFile }, fireImmediately: true });
  return true;
}"""


def served(live_server, path: str) -> int:
    """How many times the server has answered a GET for this path (its access log)."""
    return live_server.log.read_text().count(f"GET {path} ")


def test_native_qr_detector_means_no_wasm_download(app_profile, login_as, live_server, shot):
    wasm_before, reader_before = served(live_server, WASM), served(live_server, READER_JS)
    page = start_app(app_profile, login_as, init_script=NATIVE_QR_DETECTOR)
    assert wait_for_script(page, VERDICT, what="the page's verdict") == {"native": True}

    page.goto(SCAN)
    expect(page.locator("#scan-offline")).to_have_text(READY)
    page.reload()
    expect(page.locator("#scan-offline")).to_have_text(READY)

    assert page.evaluate(CACHED, WASM) is False
    assert page.evaluate(CACHED, READER_JS) is False
    assert served(live_server, WASM) == wasm_before, "the wasm was downloaded"
    assert served(live_server, READER_JS) == reader_before, "the reader's JS was downloaded"
    shot(page, "scan-native-detector-offline-ready")


def test_without_native_detector_the_reader_is_cached_and_the_scan_page_says_ready(
    app_profile, login_as, live_server, shot
):
    page = start_app(app_profile, login_as)
    assert wait_for_script(page, VERDICT, what="the page's verdict") == {"native": False}
    assert wait_for_script(page, CACHED, WASM, timeout=20, what="the wasm in the precache")
    assert page.evaluate(CACHED, READER_JS) is True

    page.goto(SCAN)
    expect(page.locator("#scan-offline")).to_have_text(READY, timeout=15_000)
    shot(page, "scan-ponyfill-offline-ready")

    # Offline: the page comes from the worker's saved copy and the reader from its cache.
    page.context.set_offline(True)
    try:
        page.reload()
        expect(page.locator("#scan-offline")).to_have_text(READY, timeout=15_000)
        assert page.evaluate(LOAD_PONYFILL) is True
    finally:
        page.context.set_offline(False)
