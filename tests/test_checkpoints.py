"""Checkpoint admin: active search, inline edit, new label (token re-issue), CSV in and out."""

import io

import pytest
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.models import Area, Checkpoint, VoidedToken

HX = {"HX-Request": "true"}


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def supervisor(make_user, site, login):
    user = make_user(role="supervisor", sites=[site])
    login(user)
    return user


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Checkpoint))


def form(**overrides):
    data = {
        "code": "101",
        "name": "中心花园喷泉",
        "area_id": "0",
        "kind": "garden",
        "description": "",
        "checklist": "",
        "active": "y",
    }
    data.update(overrides)
    return data


def test_active_search_returns_the_rows_fragment(client, supervisor, site, make_checkpoint):
    make_checkpoint(site, name="中心花园喷泉")
    make_checkpoint(site, name="消防水泵")
    response = client.get(f"/s/{site.code}/checkpoints", query_string={"q": "水泵"}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith("{#") is False and "<html" not in body
    assert 'id="checkpoint-rows"' in body
    assert "消防水泵" in body and "中心花园喷泉" not in body


def test_create_with_htmx_returns_the_new_row(client, supervisor, site, make_area):
    area = make_area(site, name="配电房")
    response = client.post(
        f"/s/{site.code}/checkpoints",
        data=form(area_id=str(area.id), kind="equipment", checklist="温度正常\n\n无异响\n"),
        headers=HX,
    )
    assert response.status_code == 201
    checkpoint = db.session.scalars(select(Checkpoint)).one()
    assert f'id="checkpoint-{checkpoint.id}"' in response.get_data(as_text=True)
    assert checkpoint.checklist == ["温度正常", "无异响"]
    assert checkpoint.area_id == area.id
    assert len(checkpoint.token) >= 16  # ≥ 80 random bits, URL-safe


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "This field is required"),
        ({"code": "a b"}, "Letters, digits and - only"),
        ({"code": "x" * 13}, "12"),
        ({"kind": "spaceship"}, "Not a valid choice"),
    ],
)
def test_invalid_new_checkpoint_is_422_and_nothing_added(
    client, supervisor, site, overrides, message
):
    response = client.post(f"/s/{site.code}/checkpoints", data=form(**overrides), headers=HX)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#new-checkpoint"
    assert count() == 0


def test_duplicate_code_is_refused(client, supervisor, site, make_checkpoint):
    make_checkpoint(site, code="101", name="旧点")
    response = client.post(f"/s/{site.code}/checkpoints", data=form(code="101"), headers=HX)
    assert response.status_code == 422
    assert "旧点" in response.get_data(as_text=True)
    assert count() == 1


def test_inline_edit_round_trip(client, supervisor, site, make_checkpoint):
    checkpoint = make_checkpoint(site, name="旧名字", code="201")
    edit = client.get(f"/s/{site.code}/checkpoints/{checkpoint.id}/edit", headers=HX)
    assert f'id="checkpoint-{checkpoint.id}"' in edit.get_data(as_text=True)
    assert "<form" in edit.get_data(as_text=True)
    saved = client.post(
        f"/s/{site.code}/checkpoints/{checkpoint.id}",
        data=form(code="201", name="新名字", active=""),
        headers=HX,
    )
    assert saved.status_code == 200
    assert "新名字" in saved.get_data(as_text=True)
    db.session.refresh(checkpoint)
    assert (checkpoint.name, checkpoint.active) == ("新名字", False)


def test_invalid_edit_keeps_the_old_values(client, supervisor, site, make_checkpoint):
    checkpoint = make_checkpoint(site, name="原名", code="301")
    response = client.post(
        f"/s/{site.code}/checkpoints/{checkpoint.id}", data=form(code="301", name=""), headers=HX
    )
    assert response.status_code == 422
    db.session.refresh(checkpoint)
    assert checkpoint.name == "原名"


def test_new_label_voids_the_old_token(client, supervisor, site, make_checkpoint):
    checkpoint = make_checkpoint(site)
    old = checkpoint.token
    response = client.post(f"/s/{site.code}/checkpoints/{checkpoint.id}/reissue", headers=HX)
    assert response.status_code == 200
    assert "no longer works" in response.get_data(as_text=True)
    db.session.refresh(checkpoint)
    assert checkpoint.token != old
    voided = db.session.get(VoidedToken, old)
    assert voided.voided_by_id == supervisor.id


def test_other_sites_checkpoint_is_404_through_my_site(
    client, supervisor, site, make_site, make_checkpoint
):
    foreign = make_checkpoint(make_site())
    assert client.get(f"/s/{site.code}/checkpoints/{foreign.id}/edit").status_code == 404
    response = client.post(f"/s/{site.code}/checkpoints/{foreign.id}/reissue")
    assert response.status_code == 404


def test_csv_export_has_bom_and_all_columns(client, supervisor, site, make_area, make_checkpoint):
    area = make_area(site, name="水泵房")
    make_checkpoint(site, area=area, name="生活水泵", code="S-1", kind="equipment",
                    checklist=["压力正常", "无漏水"])  # fmt: skip
    response = client.get(f"/s/{site.code}/checkpoints.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == "code,name,area,kind,description,checklist,active"
    assert lines[1] == "S-1,生活水泵,水泵房,equipment,,压力正常|无漏水,1"


def upload(client, site, content: bytes, name="points.csv"):
    return client.post(
        f"/s/{site.code}/checkpoints/import",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_csv_import_creates_and_updates_by_code(client, supervisor, site, make_checkpoint):
    make_checkpoint(site, code="A-1", name="旧名")
    content = (
        "code,name,area,kind,description,checklist,active\n"
        "A-1,东门岗,正门岗,other,,,1\n"
        "B-2,消防水泵,水泵房,equipment,每日巡检,压力正常|无漏水,1\n"
    ).encode()
    response = upload(client, site, content)
    assert response.status_code == 200
    assert "1 new, 1 updated" in response.get_data(as_text=True)
    points = {c.code: c for c in db.session.scalars(select(Checkpoint))}
    assert points["A-1"].name == "东门岗"
    assert points["B-2"].checklist == ["压力正常", "无漏水"]
    assert points["B-2"].area.name == "水泵房"
    assert db.session.scalar(select(func.count()).select_from(Area)) >= 2


def test_csv_import_reads_gbk_from_chinese_excel(client, supervisor, site):
    content = "code,name\nG-1,西区花园水景\n".encode("gbk")
    assert upload(client, site, content).status_code == 200
    assert db.session.scalars(select(Checkpoint)).one().name == "西区花园水景"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name\nx\n", "missing: code"),
        ("code,name\nA-1,好\n,缺代码\n".encode(), "Line 3"),
        ("code,name,kind\nA-1,好,rocket\n".encode(), "unknown kind"),
        ("code,name\nA-1,一\nA-1,二\n".encode(), "appears twice"),
        (b"\xff\xfe\x00\x00binary", "not a text CSV"),
    ],
)
def test_bad_csv_imports_nothing_and_names_the_problem(client, supervisor, site, content, message):
    response = upload(client, site, content)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count() == 0


def test_csv_import_rejects_other_file_types(client, supervisor, site):
    response = upload(client, site, b"code,name\n", name="points.exe")
    assert response.status_code == 422
    assert "Choose a .csv file" in response.get_data(as_text=True)


def test_a_code_that_reads_as_another_is_refused(client, supervisor, site, make_checkpoint):
    """Typed short codes drop leading zeros (issue 11 bug 7): 7 would open 007."""
    make_checkpoint(site, code="007", name="旧点")
    response = client.post(f"/s/{site.code}/checkpoints", data=form(code="7"), headers=HX)
    assert response.status_code == 422
    assert "旧点" in response.get_data(as_text=True)
    assert count() == 1
