"""Photos: validated and re-encoded on arrival, stored on disk, served to the site's users.

A photo is checked before it is kept: size limit before parsing, allowed formats only,
a pixel limit treated as an error (decompression bombs), a full decode (verify() passes
truncated files), a single frame; then it is re-encoded as JPEG without EXIF (no GPS),
turned upright, and a thumbnail is made. Its id is a client UUID: storing it again is
idempotent, a different body under the same id is a conflict.
"""

import hashlib
import io
import warnings
from pathlib import Path

from flask import Blueprint, abort, current_app, send_file
from flask_babel import gettext as _
from flask_login import current_user
from PIL import Image, ImageOps, UnidentifiedImageError

from dutypwa.access import roles_required
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import Photo, Site, User

bp = Blueprint("photos", __name__)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
THUMBNAIL_EDGE = 320


def photo_dir() -> Path:
    configured = current_app.config.get("PHOTO_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "photos"


def photo_path(photo: Photo, *, thumb: bool = False) -> Path:
    name = f"{photo.id}.thumb.jpg" if thumb else f"{photo.id}.jpg"
    return photo_dir() / str(photo.site_id) / name


def decode_image(body: bytes) -> Image.Image:
    """A fully decoded, upright single-frame RGB image, or a DomainError (4xx)."""
    limit = current_app.config["PHOTO_MAX_BYTES"]
    if len(body) > limit:
        raise DomainError(_("The photo is too large (at most %(mb)d MB).", mb=limit // 2**20), 413)
    if not body:
        raise DomainError(_("The photo is empty."), 400)
    Image.MAX_IMAGE_PIXELS = current_app.config["PHOTO_MAX_PIXELS"]
    try:
        with warnings.catch_warnings():
            # Above MAX_IMAGE_PIXELS Pillow only warns (it raises above twice that).
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(body), formats=ALLOWED_FORMATS)
            if getattr(image, "n_frames", 1) > 1:
                raise DomainError(_("Send a single photo, not an animation."), 415)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DomainError(_("The photo has too many pixels."), 413) from None
    except UnidentifiedImageError:
        raise DomainError(_("This is not a JPEG, PNG or WebP photo."), 415) from None
    except (OSError, SyntaxError, ValueError):
        raise DomainError(_("The photo is damaged or incomplete."), 400) from None
    image = ImageOps.exif_transpose(image)
    return image.convert("RGB")


def store_photo(photo_id: str, body: bytes, *, site: Site, by: User, sha256: str | None):
    """Keep a photo once; returns (photo, created). Flushes, never commits."""
    digest = hashlib.sha256(body).hexdigest()
    if sha256 is not None and sha256.lower() != digest:
        raise DomainError(_("The photo arrived damaged (checksum mismatch); it will be resent."))
    existing = db.session.get(Photo, photo_id)
    if existing is not None:
        if existing.sha256 != digest or existing.site_id != site.id:
            raise DomainError(_("Another photo was already stored under this id."), 409)
        return existing, False
    image = decode_image(body)
    photo = Photo(
        id=photo_id,
        site_id=site.id,
        uploaded_by_id=by.id,
        sha256=digest,
        width=image.width,
        height=image.height,
        size=0,
    )
    path = photo_path(photo)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Re-encoding drops EXIF (GPS, device data) and anything hidden after the image.
    image.save(path, "JPEG", quality=85, optimize=True)
    thumbnail = image.copy()
    thumbnail.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
    thumbnail.save(photo_path(photo, thumb=True), "JPEG", quality=80)
    photo.size = path.stat().st_size
    db.session.add(photo)
    db.session.flush()
    return photo, True


def _visible_photo(photo_id: str) -> Photo:
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        abort(404, description=_("This photo has not arrived yet."))
    site = db.session.get(Site, photo.site_id)
    if not current_user.can_see_site(site):
        abort(403, description=_("This photo belongs to another site."))
    return photo


@bp.get("/photos/<uuid:photo_id>.jpg")
@roles_required("staff", "supervisor", "director", "admin")
def photo(photo_id):
    return _send(photo_path(_visible_photo(str(photo_id))))


@bp.get("/photos/<uuid:photo_id>/thumb.jpg")
@roles_required("staff", "supervisor", "director", "admin")
def thumbnail(photo_id):
    return _send(photo_path(_visible_photo(str(photo_id)), thumb=True))


def _send(path: Path):
    if not path.exists():
        abort(404, description=_("This photo's file is missing."))
    response = send_file(path, mimetype="image/jpeg", max_age=86400)
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response
