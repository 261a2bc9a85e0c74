"""Defaults. Every key can be overridden by an environment variable DUTYPWA_<KEY>.

Values are parsed as JSON where they can be (so `DUTYPWA_SESSION_COOKIE_SECURE=true`
is a boolean); see the configuration table in the README.
"""

from datetime import timedelta

# Where the database lives; defaults to instance/dutypwa.sqlite3 (set in create_app).
SQLALCHEMY_DATABASE_URI = None
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

# The address printed into QR codes, e.g. https://duty.example.com. Empty: the request's host.
PUBLIC_BASE_URL = ""

# Secure cookies: None means "when PUBLIC_BASE_URL is https".
SESSION_COOKIE_SECURE = None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_HTTPONLY = True
REMEMBER_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_DURATION = timedelta(days=30)
PERMANENT_SESSION_LIFETIME = timedelta(hours=12)

# Language: Simplified Chinese first, English second.
BABEL_DEFAULT_LOCALE = "zh_CN"
BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
LANGUAGES = ["zh_CN", "en"]

WTF_CSRF_TIME_LIMIT = 12 * 3600

# Check-ins whose device clock differs from the server's by more than this are flagged.
CLOCK_SKEW_FLAG_SECONDS = 300

# Coverage page refresh interval (seconds) for the htmx poll.
COVERAGE_REFRESH_SECONDS = 12

# After how many requests a server process moves its warmed-up heap out of the garbage
# collector's sight (dutypwa/heap.py): templates, catalogs and compiled statements are
# loaded by the first requests. [] turns it off; tests never freeze.
HEAP_FREEZE_AFTER_REQUESTS = [10, 100, 1000]

# Largest CSV accepted by the checkpoint import.
MAX_CONTENT_LENGTH = 16 * 1024 * 1024

# Password hashing; tests lower the cost.
PASSWORD_HASH_METHOD = "scrypt"

# Photos: where they are kept (default instance/photos), the largest body accepted and
# the most pixels decoded (more is refused as a decompression bomb).
PHOTO_DIR = ""
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_PIXELS = 40_000_000

# Kill switch: serve a service worker that removes itself and the app's caches from every
# browser (docs/offline.md). The outbox in IndexedDB is kept and sent by the pages.
SERVICE_WORKER_KILL = False
# Part of the worker's version: change it to make every browser fetch all app files anew
# (e.g. after a proxy served a broken file) without a code change.
SERVICE_WORKER_REVISION = ""

# Responses compressed with gzip for browsers that accept it (a phone's first load of the
# patrol pages stays under 60 KB; bench/page_weight.py). A TLS proxy in front may do it too.
COMPRESS_ALGORITHM = ["gzip"]
COMPRESS_MIN_SIZE = 500
COMPRESS_MIMETYPES = [
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/manifest+json",
    "image/svg+xml",
    "application/wasm",
]
