"""The installable app: service worker, web app manifest, offline page, offline checkpoint
shell, sync page, and the server's answer to a write the worker queued, once it has arrived
(docs/offline.md).

The worker is served from the root (scope "/") with its precache list and version filled
in; the version hashes everything it precaches, so every deploy makes browsers update it.
DUTYPWA_SERVICE_WORKER_KILL=true serves a worker that removes itself and our caches;
a new DUTYPWA_SERVICE_WORKER_REVISION makes browsers install the worker and its files anew.
"""

import hashlib
import json
import re
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_login import current_user, login_required

from dutypwa import patrol
from dutypwa.dutylog import views as dutylog_views
from dutypwa.findings import views as findings_views
from dutypwa.http import render
from dutypwa.roster import all_hands_views, request_views

bp = Blueprint("pwa", __name__)

WORKER_DIR = Path(__file__).resolve().parent.parent / "service-worker"
MODULE_NAME = re.compile(r"[a-z][a-z0-9_-]*")
# Static files a browser never needs: licences, source maps, notes, dotfiles.
NOT_PRECACHED = re.compile(r"(^|/)(LICENSE[^/]*|[^/]*\.map|[^/]*\.md|\.[^/]*)$")
# The scanner's QR reader (scanner.py: the ponyfill and its wasm, ≈450 KB gzipped): a phone
# whose browser reads QR codes itself never needs it, so the worker caches it only where a
# page says it is needed (service-worker/qr-reader.js), not in everyone's install.
QR_READER = re.compile(r"^vendor/(barcode-detector|zxing-wasm)-[^/]+/")
THEME_COLOR = "#1f6f5c"
BACKGROUND_COLOR = "#f4f6f7"


@bp.get("/sw.js")
def service_worker():
    worker = worker_build()
    response = Response(worker["source"], mimetype="text/javascript")
    # Browsers check for a new worker on every navigation; no-cache makes them ask us.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    response.set_etag(worker["version"])
    return response.make_conditional(request)


@bp.get("/sw/<name>.js")
def worker_module(name: str):
    """The worker's ES modules (pages import db.js and outbox.js too); nothing else."""
    path = WORKER_DIR / f"{name}.js"
    if not MODULE_NAME.fullmatch(name) or name == "sw" or not path.is_file():
        abort(404)
    # Small files, read whole: nothing is left open when a client drops the response.
    response = Response(path.read_bytes(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/manifest.webmanifest")
def manifest():
    def icon(name: str, size: str, purpose: str = "any", kind: str = "image/png") -> dict:
        src = url_for("static", filename=f"icons/{name}")
        return {"src": src, "sizes": size, "type": kind, "purpose": purpose}

    body = {
        "id": "/",
        "name": "物业值班",
        "short_name": "值班",
        "description": "Property-management duty: patrol check-ins, problems with photos and "
        "handover, working offline.",
        "lang": "zh-CN",
        "dir": "ltr",
        # Localised names where the browser supports them (the names above stay the default).
        "name_localized": {"en": "Property duty"},
        "short_name_localized": {"en": "Duty"},
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": BACKGROUND_COLOR,
        "theme_color": THEME_COLOR,
        "categories": ["business", "productivity"],
        "icons": [
            icon("icon-192.png", "192x192"),
            icon("icon-512.png", "512x512"),
            icon("icon-maskable-512.png", "512x512", "maskable"),
            icon("icon.svg", "any", kind="image/svg+xml"),
        ],
        "shortcuts": [{"name": "同步", "url": url_for("pwa.sync_page")}],
    }
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/offline")
def offline():
    """Precached once for everyone: nothing personal on it, no CSRF token."""
    return render("pwa/offline.html")


@bp.get("/app/checkpoint")
@login_required
def checkpoint_shell():
    """Shown for /c/<token> offline when that checkpoint was never opened on the phone; its
    script renders the check-in form from the reference data (static/checkpoint-shell.js)."""
    return render("pwa/checkpoint.html")


@bp.get("/sync")
@login_required
def sync_page():
    """What this person's phone still has to send; the list is drawn from IndexedDB."""
    return render("pwa/sync.html")


# What became of a write the worker queued (docs/offline.md, "After the flush"): the
# server's own answer for that op, the same partial its form post gets, so the page swaps
# it in for the "saved on this phone" note. One entry per kind in ops.js OUTBOX_ROUTES.
OP_RESULTS = {
    "checkin": patrol.checkin_result,
    "finding": findings_views.finding_result,
    "finding_step": findings_views.step_result,
    "duty_entry": dutylog_views.entry_result,
    "duty_step": dutylog_views.step_result,
    "roster_request": request_views.request_result,
    "all_hands_ack": all_hands_views.ack_result,
}


@bp.get("/ops/<kind>/<uuid:op_id>")
@login_required
def op_result(kind: str, op_id):
    """204 while the server does not have the op (htmx swaps nothing), else its answer."""
    if kind not in OP_RESULTS:
        abort(404)
    response = OP_RESULTS[kind](str(op_id)) or Response(status=204)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_app_request
def name_the_person(response):
    """Pages say whose they are, so the worker saves each page for that person only."""
    if response.mimetype == "text/html" and current_user.is_authenticated:
        response.headers["X-Dutypwa-User"] = str(current_user.id)
    return response


def worker_build() -> dict:
    """sw.js with its settings filled in, made once per process (each request in debug)."""
    build = current_app.extensions.get("dutypwa.worker")
    if build is None or current_app.debug:
        build = current_app.extensions["dutypwa.worker"] = _build_worker()
    return build


def _build_worker() -> dict:
    static = Path(current_app.static_folder)
    files = sorted(
        path
        for path in static.rglob("*")
        if path.is_file() and not NOT_PRECACHED.search(path.relative_to(static).as_posix())
    )
    modules = sorted(path for path in WORKER_DIR.glob("*.js") if path.name != "sw.js")
    names = [path.relative_to(static).as_posix() for path in files]
    precache = [url_for("static", filename=name) for name in names if not QR_READER.match(name)]
    reader = [url_for("static", filename=name) for name in names if QR_READER.match(name)]
    precache += [url_for("pwa.worker_module", name=path.stem) for path in modules]
    precache += [url_for("pwa.offline"), url_for("pwa.manifest")]
    killed = bool(current_app.config.get("SERVICE_WORKER_KILL"))
    revision = str(current_app.config.get("SERVICE_WORKER_REVISION", ""))
    settings = {
        "VERSION": "kill" if killed else _version(files + modules, revision),
        "PRECACHE_URLS": [] if killed else precache,
        "READER_URLS": [] if killed else reader,
        "OFFLINE_URL": url_for("pwa.offline"),
        "CHECKPOINT_SHELL_URL": url_for("pwa.checkpoint_shell"),
        "SYNC_PAGE_URL": url_for("pwa.sync_page"),
        "STATION_HOME_URL": url_for("station.home"),
        "STATION_SHELL_URL": url_for("station.shell"),
    }
    source = (WORKER_DIR / "sw.js").read_text(encoding="utf-8")
    for name, value in settings.items():
        placeholder = f'"__DUTYPWA_{name}__"'
        if source.count(placeholder) != 1:
            raise RuntimeError(f"service-worker/sw.js must hold {placeholder} exactly once")
        source = source.replace(placeholder, json.dumps(value))
    return {"version": settings["VERSION"], "precache": precache, "source": source}


def _version(precached: list[Path], revision: str = "") -> str:
    """A hash of what the worker precaches and of what shapes the pages it saves (the
    worker itself, this module, base and pwa templates, the catalogs), and of the
    operator's SERVICE_WORKER_REVISION (a new one makes every browser fetch all again)."""
    package = Path(__file__).resolve().parent
    inputs = [
        *precached,
        WORKER_DIR / "sw.js",
        Path(__file__).resolve(),
        package / "templates" / "base.html",
        *sorted((package / "templates" / "pwa").glob("*.html")),
        *sorted((package / "translations").glob("*/LC_MESSAGES/messages.po")),
    ]
    digest = hashlib.sha256(revision.encode())
    for path in inputs:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
