"""QR codes and the printable label sheet."""

import re

import pytest

from dutypwa.qr import qr_svg


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def supervisor(make_user, site, login):
    user = make_user(role="supervisor", sites=[site])
    login(user)
    return user


def test_qr_svg_is_scalable_svg():
    svg = qr_svg("https://duty.example.test/c/abc")
    assert svg.startswith("<svg")
    assert "viewBox" in svg and "<path" in svg
    assert 'width="' not in svg.split(">")[0] or "mm" in svg.split(">")[0]


def test_checkpoint_qr_endpoint(client, supervisor, site, make_checkpoint):
    checkpoint = make_checkpoint(site)
    response = client.get(f"/s/{site.code}/checkpoints/{checkpoint.id}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).startswith("<svg")


def test_label_sheet_lists_active_checkpoints_with_codes(
    client, supervisor, site, make_area, make_checkpoint
):
    garden = make_area(site, name="中心花园")
    plant = make_area(site, name="配电房")
    fountain = make_checkpoint(site, area=garden, name="喷泉", code="G-01")
    make_checkpoint(site, area=plant, name="变压器", code="P-01", kind="equipment")
    make_checkpoint(site, area=garden, name="停用点", code="G-99", active=False)
    page = client.get(f"/s/{site.code}/labels").get_data(as_text=True)
    codes = re.findall(r'data-code="([^"]+)"', page)
    assert sorted(codes) == ["G-01", "P-01"]
    assert page.count("<svg") >= 2
    only_garden = client.get(f"/s/{site.code}/labels", query_string={"area": garden.id})
    assert re.findall(r'data-code="([^"]+)"', only_garden.get_data(as_text=True)) == ["G-01"]
    assert fountain.token not in page  # the token is only inside the QR, not printed as text


def test_label_sheet_rejects_another_sites_area(client, supervisor, site, make_site, make_area):
    foreign = make_area(make_site())
    response = client.get(f"/s/{site.code}/labels", query_string={"area": foreign.id})
    assert response.status_code == 404


def test_public_base_url_is_used_in_codes(app, client, supervisor, site, make_checkpoint):
    from dutypwa.qr import checkpoint_url

    checkpoint = make_checkpoint(site)
    with app.test_request_context("/", base_url="http://internal:8000"):
        assert checkpoint_url(checkpoint) == f"https://duty.example.test/c/{checkpoint.token}"
    app.config["PUBLIC_BASE_URL"] = ""
    try:
        with app.test_request_context("/", base_url="http://192.0.2.10:5000"):
            assert checkpoint_url(checkpoint) == f"http://192.0.2.10:5000/c/{checkpoint.token}"
    finally:
        app.config["PUBLIC_BASE_URL"] = "https://duty.example.test"
