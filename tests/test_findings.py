"""Findings logged on duty, through the form post (no service worker) with photos."""

import io
import uuid
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.models import Finding, Photo

HX = {"HX-Request": "true"}


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def staff(make_user, site, login):
    user = make_user(sites=[site], name="张伟")
    login(user)
    return user


@pytest.fixture(autouse=True)
def photo_dir(app, tmp_path):
    app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    yield
    app.config["PHOTO_DIR"] = ""


def jpeg() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(buffer, "JPEG")
    buffer.seek(0)
    return buffer


def form(**overrides):
    data = {
        "op_id": str(uuid.uuid4()),
        "category": "safety",
        "severity": "urgent",
        "description": "消防通道堆放杂物",
        "location": "3号楼一层",
        "device_time": datetime.now(UTC).isoformat(),
    }
    data.update(overrides)
    return data


def count(model=Finding) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_form_from_a_checkpoint_names_it(client, staff, site, make_checkpoint):
    checkpoint = make_checkpoint(site, name="消防水泵")
    page = client.get(f"/s/{site.code}/findings/new", query_string={"checkpoint": checkpoint.token})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "消防水泵" in body
    assert 'data-outbox="finding"' in body and 'name="_queued"' in body


def test_finding_with_photos_is_recorded_once(client, staff, site, make_area):
    """D1: a problem found on duty is recorded, with its evidence."""
    area = make_area(site, name="地下车库")
    data = form(area_id=str(area.id))
    send = {**data, "photos": [(jpeg(), "a.jpg"), (jpeg(), "b.jpg")]}
    response = client.post(f"/s/{site.code}/findings", data=send, headers=HX,
                           content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 201
    assert 'id="finding-done"' in response.get_data(as_text=True)
    finding = db.session.get(Finding, data["op_id"])
    assert (finding.area_id, finding.category, finding.severity) == (area.id, "safety", "urgent")
    assert finding.created_by_id == staff.id
    assert len(finding.photos) == 2 and count(Photo) == 2
    again = {**data, "photos": [(jpeg(), "a.jpg"), (jpeg(), "b.jpg")]}
    repeat = client.post(f"/s/{site.code}/findings", data=again, content_type="multipart/form-data")
    assert repeat.status_code == 200
    assert count() == 1 and count(Photo) == 2
    listing = client.get(f"/s/{site.code}/findings").get_data(as_text=True)
    assert "消防通道堆放杂物" in listing
    detail = client.get(f"/s/{site.code}/findings/{finding.id}").get_data(as_text=True)
    assert detail.count("/thumb.jpg") >= 2  # the before-photos, on the page and the timeline


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"description": "  "}, "Describe the problem"),
        ({"category": "ghosts"}, "Choose a category"),
        ({"severity": "apocalyptic"}, "Choose how urgent"),
        ({"op_id": "nope"}, "missing its id"),
        ({"area_id": "999999"}, "not one of this site"),
        ({"checkpoint_token": "nope"}, "not one of this site"),
    ],
)
def test_bad_finding_is_refused_and_nothing_recorded(client, staff, site, overrides, message):
    response = client.post(f"/s/{site.code}/findings", data=form(**overrides), headers=HX)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body and 'id="finding-form"' in body
    assert count() == 0


def test_a_bad_photo_refuses_the_whole_finding(client, staff, site):
    send = {**form(), "photos": [(jpeg(), "ok.jpg"), (io.BytesIO(b"text"), "x.jpg")]}
    response = client.post(
        f"/s/{site.code}/findings", data=send, content_type="multipart/form-data"
    )
    assert response.status_code == 415
    assert count() == 0 and count(Photo) == 0


def test_other_sites_findings_are_not_shown(client, staff, make_site):
    other = make_site()
    assert client.get(f"/s/{other.code}/findings").status_code == 403
    assert client.post(f"/s/{other.code}/findings", data=form()).status_code == 403
