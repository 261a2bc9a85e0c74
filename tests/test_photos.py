"""Photos: validated, re-encoded upright without EXIF, stored once, shown to the site only."""

import hashlib
import io
import uuid

import pytest
from PIL import Image
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.models import Photo

HEADERS = {"X-Dutypwa-Sync": "1"}


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU")


@pytest.fixture
def staff(make_user, site, login):
    user = make_user(sites=[site])
    login(user)
    return user


@pytest.fixture(autouse=True)
def photo_dir(app, tmp_path):
    app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    yield
    app.config["PHOTO_DIR"] = ""


def phone_jpeg(width=2400, height=1800) -> bytes:
    """A phone-like photo: landscape pixels, EXIF orientation 6 (rotate 90°), a GPS IFD."""
    image = Image.new("RGB", (width, height), (40, 120, 60))
    for x in range(0, width, 200):  # something to compress
        image.paste((200, 30, 30), (x, 0, x + 100, height // 4))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (22.0, 32.0, 10.0), 3: "E", 4: (113.0, 56.0, 30.0)}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85, exif=exif)
    return buffer.getvalue()


def put(client, body: bytes, photo_id=None, content_type="image/jpeg", site="CUIHU", sha=True):
    headers = {**HEADERS, "X-Dutypwa-Site": site, "Content-Type": content_type}
    if sha:
        headers["X-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    return client.put(f"/api/v1/photos/{photo_id or uuid.uuid4()}", data=body, headers=headers)


def stored() -> int:
    return db.session.scalar(select(func.count()).select_from(Photo))


def test_photo_is_stored_upright_without_exif_with_a_thumbnail(client, staff, app):
    photo_id = str(uuid.uuid4())
    response = put(client, phone_jpeg(), photo_id)
    assert response.status_code == 201
    photo = db.session.get(Photo, photo_id)
    assert (photo.width, photo.height) == (1800, 2400)  # turned upright
    with client.get(f"/photos/{photo_id}.jpg") as full:
        assert full.status_code == 200 and full.mimetype == "image/jpeg"
        image = Image.open(io.BytesIO(full.data))
    assert image.size == (1800, 2400)
    assert not image.getexif()  # no orientation, no GPS
    with client.get(f"/photos/{photo_id}/thumb.jpg") as thumb:
        assert max(Image.open(io.BytesIO(thumb.data)).size) == 320


def test_same_photo_twice_is_stored_once_and_another_body_conflicts(client, staff):
    photo_id = str(uuid.uuid4())
    body = phone_jpeg(800, 600)
    assert put(client, body, photo_id).status_code == 201
    assert put(client, body, photo_id).status_code == 200
    assert put(client, phone_jpeg(640, 480), photo_id).status_code == 409
    assert stored() == 1


def test_checksum_mismatch_is_refused(client, staff):
    headers = {**HEADERS, "X-Dutypwa-Site": "CUIHU", "Content-Type": "image/jpeg",
               "X-Content-SHA256": "0" * 64}  # fmt: skip
    response = client.put(f"/api/v1/photos/{uuid.uuid4()}", data=phone_jpeg(320, 240),
                          headers=headers)  # fmt: skip
    assert response.status_code == 422
    assert stored() == 0


def bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, "PNG")  # 144 MP in a few kB
    return buffer.getvalue()


def animation() -> bytes:
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue")]
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make_body", "content_type", "status"),
    [
        (lambda: b"not an image at all", "image/jpeg", 415),
        (lambda: phone_jpeg(640, 480)[:3000], "image/jpeg", 400),  # truncated
        (lambda: phone_jpeg(640, 480)[:200] + b"\x00" * 5000, "image/jpeg", 415),  # corrupt
        (bomb, "image/png", 413),
        (animation, "image/png", 415),
        (lambda: b"GIF89a" + b"\x00" * 100, "image/gif", 415),
        (lambda: b"", "image/jpeg", 400),
    ],
)
def test_bad_images_are_refused_and_nothing_stored(client, staff, make_body, content_type, status):
    response = put(client, make_body(), content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["error"]
    assert stored() == 0


def test_huge_body_is_refused(client, staff, app):
    app.config["PHOTO_MAX_BYTES"] = 50_000
    try:
        response = put(client, phone_jpeg())
    finally:
        app.config["PHOTO_MAX_BYTES"] = 10 * 1024 * 1024
    assert response.status_code == 413
    assert stored() == 0


def test_photos_are_for_the_sites_people_only(client, staff, login, make_user, make_site):
    photo_id = str(uuid.uuid4())
    put(client, phone_jpeg(400, 300), photo_id)
    assert put(client, phone_jpeg(400, 300), site="ELSEWHERE").status_code == 403
    client.post("/logout")
    outsider = make_user(sites=[make_site()])
    login(outsider)
    assert client.get(f"/photos/{photo_id}.jpg").status_code == 403
    assert client.get(f"/photos/{uuid.uuid4()}.jpg").status_code == 404
