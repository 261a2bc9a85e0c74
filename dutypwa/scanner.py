"""Scanner: the in-app QR reader at /s/<site>/scan (ARCHITECTURE §7).

The page (static/scan.js) tries, in order: the browser's BarcodeDetector, the vendored
barcode-detector ponyfill (zxing-wasm, self-hosted), a photo of the label, and the short code
printed under the QR, looked up in the offline reference data, else here (?code=). It follows
only QR codes that open /c/<token> on our own origin.
"""

from flask import Blueprint, current_app, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from dutypwa.access import roles_required, site_or_403
from dutypwa.extensions import db
from dutypwa.http import CONTENT_SECURITY_POLICY, render
from dutypwa.models import Checkpoint, Site
from dutypwa.models.checkpoint import code_key
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
    """The scanner; with ?code= (the short-code form without the phone's reference data)
    it opens that checkpoint, or says there is none."""
    site = site_or_403(site_code)
    typed = request.args.get("code", "").strip()[:40]
    checkpoint = checkpoint_for_code(site, typed) if typed else None
    if checkpoint is not None:
        return redirect(url_for("patrol.checkpoint_page", token=checkpoint.token), 303)
    unknown = _("There is no checkpoint with the code %(code)s at this site.", code=typed)
    response = render(
        "scanner/scan.html",
        status=404 if typed else 200,
        code=typed,
        code_error=unknown if typed else None,
        site=site,
        ponyfill_url=url_for("static", filename=BARCODE_DETECTOR),
        wasm_url=url_for("static", filename=ZXING_WASM),
        # Printed labels carry this address; the page may be open under another host name.
        label_base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/"),
    )
    response.headers["Content-Security-Policy"] = SCAN_PAGE_POLICY
    return response


def checkpoint_for_code(site: Site, typed: str) -> Checkpoint | None:
    """The site's active checkpoint whose printed code means what was typed ("7" is 007)."""
    wanted = code_key(typed)
    checkpoints = db.session.scalars(
        select(Checkpoint).where(Checkpoint.site_id == site.id, Checkpoint.active)
    )
    return next((c for c in checkpoints if code_key(c.code) == wanted), None)
