"""Scanner: the in-app QR reader at /s/<site>/scan (ARCHITECTURE §7).

The page (static/scan.js) tries, in order: the browser's BarcodeDetector, the vendored
barcode-detector ponyfill (zxing-wasm, self-hosted), a photo of the label, and the short code
printed under the QR, looked up in the offline reference data. It follows only QR codes that
open /c/<token> on our own origin.
"""

from flask import Blueprint, current_app, url_for

from dutypwa.access import roles_required, site_or_403
from dutypwa.http import CONTENT_SECURITY_POLICY, render
from dutypwa.patrol import PATROL_ROLES

bp = Blueprint("scanner", __name__)

BARCODE_DETECTOR = "vendor/barcode-detector-3.2.2/ponyfill.js"
ZXING_WASM = "vendor/zxing-wasm-3.1.3/zxing_reader.wasm"

# The ponyfill compiles WebAssembly, which `script-src 'self'` alone forbids; only this page
# allows it (and still no eval of JavaScript).
SCAN_PAGE_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", 1
)


@bp.get("/s/<site_code>/scan")
@roles_required(*PATROL_ROLES)
def scan(site_code: str):
    site = site_or_403(site_code)
    response = render(
        "scanner/scan.html",
        site=site,
        ponyfill_url=url_for("static", filename=BARCODE_DETECTOR),
        wasm_url=url_for("static", filename=ZXING_WASM),
        # Printed labels carry this address; the page may be open under another host name.
        label_base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/"),
    )
    response.headers["Content-Security-Policy"] = SCAN_PAGE_POLICY
    return response
