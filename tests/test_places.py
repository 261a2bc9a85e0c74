"""Places of a site: areas, posts (inventory, shift changes) and patrol routes with their
ordered stops; inline edit with htmx, 422 on bad input with nothing written, site scoping."""

from datetime import UTC, datetime, time

import pytest
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.models import Area, Post, Route, RouteStop
from dutypwa.places import parse_inventory, parse_shift_times

HX = {"HX-Request": "true"}
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def other_site(make_site):
    return make_site(code="LANTING", name="兰亭苑")


@pytest.fixture
def supervisor(make_user, site, login):
    user = make_user(role="supervisor", sites=[site])
    login(user)
    return user


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def is_fragment(response) -> bool:
    body = response.get_data(as_text=True)
    return "<html" not in body and "<!doctype" not in body.lower()


def route_form(**overrides):
    data = {
        "name": "夜间巡逻",
        "weekdays": ["1", "2", "3", "4", "5"],
        "window_start": "20:00",
        "window_end": "06:00",
        "interval_minutes": "60",
        "active": "y",
    }
    data.update(overrides)
    return data


def stop_order(route) -> list[int]:
    return list(
        db.session.scalars(
            select(RouteStop.checkpoint_id)
            .where(RouteStop.route_id == route.id)
            .order_by(RouteStop.position)
        )
    )


# --- parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("对讲机 2", [{"name": "对讲机", "count": 2}]),
        ("对讲机,2", [{"name": "对讲机", "count": 2}]),
        ("对讲机，3", [{"name": "对讲机", "count": 3}]),
        ("对讲机×4", [{"name": "对讲机", "count": 4}]),
        ("值班手机", [{"name": "值班手机", "count": 1}]),
        ("Box 2\n\n  钥匙 * 5 ", [{"name": "Box", "count": 2}, {"name": "钥匙", "count": 5}]),
        ("", []),
    ],
)
def test_inventory_lines_are_parsed(text, items):
    assert parse_inventory(text) == items


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("对讲机 0", "Line 1 (对讲机 0): the count must be between 1 and 999."),
        ("钥匙 1\n对讲机 1000", "Line 2 (对讲机 1000): the count must be between 1 and 999."),
        ("对讲机 -1", "Line 1"),
        ("钥匙 1\n钥匙 2", "钥匙 is listed twice"),
        ("×2", "the item needs a name"),
    ],
)
def test_bad_inventory_lines_are_named(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_inventory(text)


def test_shift_times_are_validated_sorted_and_deduplicated():
    assert parse_shift_times("20:00 8:00, 08:00，20:00") == ["08:00", "20:00"]
    assert parse_shift_times("  ") == []
    assert parse_shift_times("２０:００；７:３０") == ["07:30", "20:00"]  # full-width input
    with pytest.raises(ValueError, match="25:00 is not a time of day"):
        parse_shift_times("08:00 25:00")
    with pytest.raises(ValueError, match="noon"):
        parse_shift_times("noon")


# --- access ---------------------------------------------------------------------------


def test_staff_may_not_manage_places(client, login, make_user, site, make_area):
    area = make_area(site)
    login(make_user(role="staff", sites=[site]))
    assert client.get(f"/s/{site.code}/places").status_code == 403
    assert client.post(f"/s/{site.code}/areas", data={"name": "新区域"}).status_code == 403
    response = client.post(f"/s/{site.code}/areas/{area.id}", data={"name": "改名"})
    assert response.status_code == 403
    assert count(Area) == 1 and db.session.get(Area, area.id).name != "改名"


def test_another_sites_page_is_403(client, supervisor, other_site):
    assert client.get(f"/s/{other_site.code}/places").status_code == 403
    assert client.post(f"/s/{other_site.code}/areas", data={"name": "X"}).status_code == 403
    assert count(Area) == 0


def test_another_sites_objects_are_404_through_my_site(
    client, supervisor, site, other_site, make_area, make_post, make_checkpoint, make_route
):
    area, post = make_area(other_site, name="别人的区域"), make_post(other_site, name="别人的岗")
    route = make_route(other_site, [make_checkpoint(other_site)])
    base = f"/s/{site.code}"
    for url in (
        f"{base}/areas/{area.id}/edit",
        f"{base}/posts/{post.id}/edit",
        f"{base}/routes/{route.id}",
        f"{base}/routes/{route.id}/edit",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"{base}/areas/{area.id}", data={"name": "改"}).status_code == 404
    assert client.post(f"{base}/posts/{post.id}", data={"name": "改"}).status_code == 404
    assert client.post(f"{base}/routes/{route.id}", data=route_form()).status_code == 404
    db.session.refresh(area)
    db.session.refresh(post)
    assert (area.name, post.name) == ("别人的区域", "别人的岗")


def test_the_page_lists_everything(
    client, supervisor, site, make_area, make_post, make_checkpoint, make_route
):
    make_area(site, name="北区")
    make_post(site, name="客户服务中心", inventory=[{"name": "对讲机", "count": 2}])
    make_route(site, [make_checkpoint(site)], start=time(20), end=time(6))
    page = client.get(f"/s/{site.code}/places")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in body
    assert "北区" in body and "客户服务中心" in body and "对讲机" in body
    assert "20:00–06:00 (next day)" in body


# --- areas ----------------------------------------------------------------------------


def test_add_area_with_htmx_returns_the_row(client, supervisor, site, make_area):
    make_area(site, name="北区", position=4)
    response = client.post(f"/s/{site.code}/areas", data={"name": " 南区 "}, headers=HX)
    assert response.status_code == 201 and is_fragment(response)
    area = db.session.scalars(select(Area).where(Area.name == "南区")).one()
    assert f'id="area-{area.id}"' in response.get_data(as_text=True)
    assert area.position == 5  # blank position: at the end


def test_first_area_is_at_position_zero(client, supervisor, site):
    assert (
        client.post(f"/s/{site.code}/areas", data={"name": "北区"}, headers=HX).status_code == 201
    )
    assert db.session.scalars(select(Area.position)).one() == 0


def test_add_area_without_htmx_redirects_to_the_page(client, supervisor, site):
    response = client.post(f"/s/{site.code}/areas", data={"name": "南区", "position": "2"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/s/{site.code}/places")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required"),
        ({"name": "北区"}, "There is already an area called 北区."),
        ({"name": "北区".lower()}, "There is already an area called"),
        ({"name": "东区", "position": "-1"}, "Number must be"),
        ({"name": "x" * 101}, "100"),
    ],
)
def test_invalid_new_area_is_422_and_nothing_added(
    client, supervisor, site, make_area, data, message
):
    make_area(site, name="北区")
    response = client.post(f"/s/{site.code}/areas", data=data, headers=HX)
    assert response.status_code == 422 and is_fragment(response)
    assert message in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#new-area"
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert count(Area) == 1


def test_invalid_new_area_without_htmx_shows_the_whole_page(client, supervisor, site):
    response = client.post(f"/s/{site.code}/areas", data={"name": ""})
    assert response.status_code == 422
    assert "<html" in response.get_data(as_text=True)


def test_area_inline_rename_and_reposition(client, supervisor, site, make_area):
    area = make_area(site, name="北区", position=0)
    edit = client.get(f"/s/{site.code}/areas/{area.id}/edit", headers=HX)
    assert "<form" in edit.get_data(as_text=True) and 'value="北区"' in edit.get_data(as_text=True)
    saved = client.post(
        f"/s/{site.code}/areas/{area.id}", data={"name": "北苑", "position": "3"}, headers=HX
    )
    assert saved.status_code == 200 and is_fragment(saved)
    assert f'id="area-{area.id}"' in saved.get_data(as_text=True)
    db.session.refresh(area)
    assert (area.name, area.position) == ("北苑", 3)
    cancel = client.get(f"/s/{site.code}/areas/{area.id}", headers=HX)
    assert "北苑" in cancel.get_data(as_text=True) and "<form" not in cancel.get_data(as_text=True)


def test_renaming_an_area_to_a_taken_name_is_refused(client, supervisor, site, make_area):
    make_area(site, name="北区")
    area = make_area(site, name="南区")
    response = client.post(f"/s/{site.code}/areas/{area.id}", data={"name": "北区"}, headers=HX)
    assert response.status_code == 422
    assert "There is already an area called 北区." in response.get_data(as_text=True)
    db.session.refresh(area)
    assert area.name == "南区"


def test_same_area_name_on_another_site_is_fine(client, supervisor, site, other_site, make_area):
    make_area(other_site, name="北区")
    assert (
        client.post(f"/s/{site.code}/areas", data={"name": "北区"}, headers=HX).status_code == 201
    )


# --- posts ----------------------------------------------------------------------------


def test_add_post_parses_inventory_and_shift_changes(client, supervisor, site):
    response = client.post(
        f"/s/{site.code}/posts",
        data={
            "name": "客户服务中心",
            "inventory": "对讲机 2\n钥匙,5\n\n值班手机\n雨伞×3",
            "shift_changes": "20:00, 8:00 08:00",
        },
        headers=HX,
    )
    assert response.status_code == 201 and is_fragment(response)
    post = db.session.scalars(select(Post)).one()
    assert post.inventory == [
        {"name": "对讲机", "count": 2},
        {"name": "钥匙", "count": 5},
        {"name": "值班手机", "count": 1},
        {"name": "雨伞", "count": 3},
    ]
    assert post.shift_changes == ["08:00", "20:00"]
    assert "客户服务中心" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"inventory": "对讲机 2\n钥匙 0"},
            "Line 2 (钥匙 0): the count must be between 1 and 999.",
        ),
        ({"inventory": "对讲机 1000"}, "Line 1 (对讲机 1000)"),
        ({"shift_changes": "08:00 24:00"}, "24:00 is not a time of day like 08:00."),
        ({"name": "  "}, "This field is required"),
        ({"name": "东门岗"}, "There is already a post called 东门岗."),
    ],
)
def test_invalid_post_is_422_and_nothing_added(client, supervisor, site, make_post, data, message):
    make_post(site, name="东门岗")
    form = {"name": "客户服务中心", "inventory": "对讲机 2", "shift_changes": "08:00"} | data
    response = client.post(f"/s/{site.code}/posts", data=form, headers=HX)
    assert response.status_code == 422 and is_fragment(response)
    body = response.get_data(as_text=True)
    assert message in body
    assert response.headers["HX-Retarget"] == "#new-post"
    assert count(Post) == 1


def test_invalid_inventory_keeps_what_was_typed(client, supervisor, site):
    typed = "对讲机 2\n钥匙 0"
    response = client.post(
        f"/s/{site.code}/posts", data={"name": "岗", "inventory": typed}, headers=HX
    )
    assert response.status_code == 422
    assert typed in response.get_data(as_text=True)


def test_post_inline_edit_round_trip(client, supervisor, site, make_post):
    post = make_post(site, name="东门岗", inventory=[{"name": "对讲机", "count": 2}])
    edit = client.get(f"/s/{site.code}/posts/{post.id}/edit", headers=HX).get_data(as_text=True)
    assert "对讲机 2" in edit and 'value="08:00 20:00"' in edit
    saved = client.post(
        f"/s/{site.code}/posts/{post.id}",
        data={"name": "东门岗亭", "inventory": "对讲机 3\n手电筒", "shift_changes": "07:30 19:30"},
        headers=HX,
    )
    assert saved.status_code == 200 and f'id="post-{post.id}"' in saved.get_data(as_text=True)
    db.session.refresh(post)
    assert post.name == "东门岗亭"
    assert post.inventory == [{"name": "对讲机", "count": 3}, {"name": "手电筒", "count": 1}]
    assert post.shift_changes == ["07:30", "19:30"]


def test_invalid_post_edit_changes_nothing(client, supervisor, site, make_post):
    post = make_post(site, name="东门岗")
    response = client.post(
        f"/s/{site.code}/posts/{post.id}",
        data={"name": "新名字", "inventory": "对讲机 abc 0", "shift_changes": "08:00"},
        headers=HX,
    )
    assert response.status_code == 422
    assert f'id="post-{post.id}"' in response.get_data(as_text=True)
    db.session.refresh(post)
    assert post.name == "东门岗" and post.shift_changes == ["08:00", "20:00"]


# --- routes ---------------------------------------------------------------------------


def test_add_route(client, supervisor, site):
    response = client.post(f"/s/{site.code}/routes", data=route_form(), headers=HX)
    assert response.status_code == 201 and is_fragment(response)
    route = db.session.scalars(select(Route)).one()
    assert route.weekdays == "12345"
    assert (route.window_start, route.window_end) == (time(20), time(6))
    assert route.interval_minutes == 60 and route.active
    assert route.stops == []
    body = response.get_data(as_text=True)
    assert "Mon Tue Wed Thu Fri" in body and "(next day)" in body
    page = client.get(f"/s/{site.code}/routes/{route.id}")
    assert page.status_code == 200 and "No checkpoints on this route yet." in page.get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weekdays": []}, "Choose at least one day."),
        ({"weekdays": ["8"]}, "not a valid choice"),
        ({"interval_minutes": "4"}, "Between 5 and 1440 minutes."),
        ({"interval_minutes": "1441"}, "Between 5 and 1440 minutes."),
        ({"interval_minutes": ""}, "This field is required"),
        ({"window_start": "25:00"}, "Not a valid time value"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_invalid_route_is_422_and_nothing_added(client, supervisor, site, overrides, message):
    response = client.post(f"/s/{site.code}/routes", data=route_form(**overrides), headers=HX)
    assert response.status_code == 422 and is_fragment(response)
    assert message in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#new-route"
    assert count(Route) == 0


def test_route_inline_edit_bumps_updated_at(client, supervisor, site, make_checkpoint, make_route):
    route = make_route(site, [make_checkpoint(site)], weekdays="135")
    route.updated_at = LONG_AGO
    db.session.commit()
    edit = client.get(f"/s/{site.code}/routes/{route.id}/edit", headers=HX).get_data(as_text=True)
    assert 'checked id="weekdays-0"' in edit and 'checked id="weekdays-2"' in edit
    assert 'checked id="weekdays-1"' not in edit
    saved = client.post(
        f"/s/{site.code}/routes/{route.id}",
        data=route_form(
            name="白天巡逻",
            weekdays=["6", "7"],
            window_start="08:00",
            window_end="08:00",
            active="",
        ),
        headers=HX,
    )
    assert saved.status_code == 200 and "all day" in saved.get_data(as_text=True)
    db.session.refresh(route)
    assert (route.name, route.weekdays, route.active) == ("白天巡逻", "67", False)
    assert route.window_start == route.window_end == time(8)
    assert route.updated_at > LONG_AGO
    assert len(route.stops) == 1  # editing the settings keeps the stops


def test_invalid_route_edit_changes_nothing(client, supervisor, site, make_route):
    route = make_route(site, [], interval=120)
    response = client.post(
        f"/s/{site.code}/routes/{route.id}", data=route_form(interval_minutes="2"), headers=HX
    )
    assert response.status_code == 422
    assert f'id="route-{route.id}"' in response.get_data(as_text=True)
    db.session.refresh(route)
    assert route.interval_minutes == 120 and route.name != "夜间巡逻"


# --- route stops ----------------------------------------------------------------------


@pytest.fixture
def three_stops(site, make_checkpoint, make_route):
    checkpoints = [make_checkpoint(site, name=name) for name in ("喷泉", "水泵房", "东门")]
    route = make_route(site, checkpoints)
    route.updated_at = LONG_AGO
    db.session.commit()
    return route, [checkpoint.id for checkpoint in checkpoints]


def test_route_page_lists_stops_and_addable_checkpoints(
    client, supervisor, site, three_stops, make_checkpoint
):
    route, _ids = three_stops
    make_checkpoint(site, name="配电房")
    make_checkpoint(site, name="旧岗亭", active=False)
    page = client.get(f"/s/{site.code}/routes/{route.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in body and 'id="route-stops"' in body
    assert body.index("喷泉") < body.index("水泵房") < body.index("东门")
    select_part = body[body.index('name="checkpoint_id"') :]
    assert "配电房" in select_part and "旧岗亭" not in select_part and "喷泉" not in select_part


@pytest.mark.parametrize(
    ("way", "index", "expected"),
    [("up", 2, [0, 2, 1]), ("down", 0, [1, 0, 2]), ("up", 0, [0, 1, 2])],
)
def test_moving_a_stop_persists_the_order_and_bumps_updated_at(
    client, supervisor, site, three_stops, way, index, expected
):
    route, ids = three_stops
    response = client.post(f"/s/{site.code}/routes/{route.id}/stops/{ids[index]}/{way}", headers=HX)
    assert response.status_code == 200 and is_fragment(response)
    assert 'id="route-stops"' in response.get_data(as_text=True)
    assert stop_order(route) == [ids[i] for i in expected]
    positions = db.session.scalars(
        select(RouteStop.position).where(RouteStop.route_id == route.id)
    ).all()
    assert sorted(positions) == [0, 1, 2]
    db.session.refresh(route)
    moved = expected != [0, 1, 2]
    assert (route.updated_at > LONG_AGO) is moved


def test_moving_without_htmx_goes_back_to_the_route_page(client, supervisor, site, three_stops):
    route, ids = three_stops
    response = client.post(f"/s/{site.code}/routes/{route.id}/stops/{ids[1]}/up")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/s/{site.code}/routes/{route.id}")
    assert stop_order(route) == [ids[1], ids[0], ids[2]]


def test_removing_a_stop_renumbers_and_bumps_updated_at(client, supervisor, site, three_stops):
    route, ids = three_stops
    response = client.post(f"/s/{site.code}/routes/{route.id}/stops/{ids[0]}/remove", headers=HX)
    assert response.status_code == 200
    assert stop_order(route) == [ids[1], ids[2]]
    assert db.session.scalars(select(RouteStop.position).order_by(RouteStop.position)).all() == [
        0,
        1,
    ]
    db.session.refresh(route)
    assert route.updated_at > LONG_AGO


def test_adding_a_stop_appends_it(client, supervisor, site, three_stops, make_checkpoint):
    route, ids = three_stops
    new = make_checkpoint(site, name="配电房")
    response = client.post(
        f"/s/{site.code}/routes/{route.id}/stops", data={"checkpoint_id": str(new.id)}, headers=HX
    )
    assert response.status_code == 200 and "配电房" in response.get_data(as_text=True)
    assert stop_order(route) == [*ids, new.id]
    db.session.refresh(route)
    assert route.updated_at > LONG_AGO


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("inactive", "is inactive"),
        ("on_route", "is already on this route."),
        ("none", "Choose a checkpoint."),
    ],
)
def test_refused_stops_are_422_and_change_nothing(
    client, supervisor, site, three_stops, make_checkpoint, which, message
):
    route, ids = three_stops
    checkpoint_id = {
        "inactive": lambda: str(make_checkpoint(site, active=False).id),
        "on_route": lambda: str(ids[0]),
        "none": lambda: "",
    }[which]()
    response = client.post(
        f"/s/{site.code}/routes/{route.id}/stops",
        data={"checkpoint_id": checkpoint_id},
        headers=HX,
    )
    assert response.status_code == 422 and is_fragment(response)
    assert message in response.get_data(as_text=True)
    assert stop_order(route) == ids
    db.session.refresh(route)
    assert route.updated_at == LONG_AGO


def test_stops_of_another_site_are_404(
    client, supervisor, site, other_site, three_stops, make_checkpoint, make_route
):
    route, ids = three_stops
    foreign = make_checkpoint(other_site)
    foreign_route = make_route(other_site, [foreign])
    base = f"/s/{site.code}/routes"
    response = client.post(f"{base}/{route.id}/stops", data={"checkpoint_id": str(foreign.id)})
    assert response.status_code == 404
    assert client.post(f"{base}/{route.id}/stops/{foreign.id}/up").status_code == 404
    assert client.post(f"{base}/{foreign_route.id}/stops/{foreign.id}/remove").status_code == 404
    other_base = f"/s/{other_site.code}/routes/{foreign_route.id}"
    assert client.post(f"{other_base}/stops/{foreign.id}/remove").status_code == 403
    assert stop_order(route) == ids and stop_order(foreign_route) == [foreign.id]
