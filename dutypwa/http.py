"""Rendering helpers shared by the views: page-or-partial for htmx, and safe redirects."""

import html
from urllib.parse import urlsplit

from flask import make_response, render_template, request
from markupsafe import Markup


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render(page: str, partial: str | None = None, status: int = 200, **context):
    """The full page, or only its partial when htmx asks; always `Vary: HX-Request`."""
    template = partial if partial and is_htmx() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def safe_next(target: str | None) -> str | None:
    """A same-origin path to return to after login, or None."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def retarget(response, target: str):
    """A new-item form targets its list on success; an invalid one replaces itself."""
    response.headers["HX-Retarget"] = target
    response.headers["HX-Reswap"] = "outerHTML"
    return response


# Scripts only from our own origin (no inline handlers, no CDN); style attributes are
# allowed because htmx sets them during swaps.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def local_time(moment, site, fmt: str = "%m-%d %H:%M") -> Markup:
    """Template filter `localtime`: a UTC moment as a <time> in the site's zone, or —.

    A filter, not a macro: the coverage page calls it for every checkpoint on every poll.
    """
    if moment is None:
        return Markup("—")
    shown = site.local(moment).strftime(fmt)
    # html.escape, not markupsafe's: each Markup made is an object for the collector, and
    # this runs thousands of times per poll. isoformat() gives only digits and -:.+T.
    return Markup(f'<time datetime="{moment.isoformat()}">{html.escape(shown)}</time>')


def buffer_static(response):
    """Static files leave Flask as a stream, which Flask-Compress does not gzip; they are
    small (the largest, the scanner's wasm, is about 1 MB), so read them whole first."""
    if request.endpoint == "static" and response.status_code == 200 and response.is_streamed:
        stream = response.response
        response.direct_passthrough = False
        response.set_data(response.get_data())
        if hasattr(stream, "close"):
            stream.close()  # the open file behind the stream
    return response
