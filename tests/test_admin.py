"""Administration: users (search, create, edit, password, PIN) and sites (create, edit);
admin role only; 422 on bad input with nothing written; an admin cannot lock themselves out."""

import pytest
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.models import Site, User

HX = {"HX-Request": "true"}
NEW_PASSWORD = "another-pass-2"


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def admin(make_user, site, login):
    user = make_user(role="admin", sites=[site], username="admin1", name="管理员")
    login(user)
    return user


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def is_fragment(response) -> bool:
    return "<html" not in response.get_data(as_text=True)


def new_user(site, **overrides):
    data = {
        "username": "13800138000",
        "display_name": "王师傅",
        "role": "staff",
        "site_ids": [str(site.id)],
        "locale": "",
        "password": "long-enough-1",
        "pin": "",
    }
    data.update(overrides)
    return data


def profile(user, **overrides):
    data = {
        "display_name": user.display_name,
        "role": user.role,
        "site_ids": [str(s.id) for s in user.sites],
        "locale": user.locale or "",
        "active": "y" if user.active else "",
    }
    data.update(overrides)
    return data


ADMIN_PAGES = [
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("GET", "/admin/users/{user_id}/edit"),
    ("POST", "/admin/users/{user_id}"),
    ("POST", "/admin/users/{user_id}/password"),
    ("POST", "/admin/users/{user_id}/pin"),
    ("POST", "/admin/users/{user_id}/pin/clear"),
    ("GET", "/admin/sites"),
    ("POST", "/admin/sites"),
    ("GET", "/admin/sites/{site_id}/edit"),
    ("POST", "/admin/sites/{site_id}"),
]


@pytest.mark.parametrize("role", ["staff", "supervisor", "director"])
@pytest.mark.parametrize(("method", "url"), ADMIN_PAGES)
def test_only_admins_may_administer(client, login, make_user, site, role, method, url):
    user = make_user(role=role, sites=[site], pin="1234")
    login(user)
    response = client.open(
        url.format(user_id=user.id, site_id=site.id),
        method=method,
        data={"password": NEW_PASSWORD, "display_name": "X", "role": "admin", "name": "X"},
    )
    assert response.status_code == 403
    db.session.refresh(user)
    assert user.role == role and user.check_password("secret-pass-1") and user.check_pin("1234")


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/users")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- users ----------------------------------------------------------------------------


def test_users_page_lists_users_and_links_sites(client, admin, make_user, site):
    make_user(name="李保安", sites=[site])
    page = client.get("/admin/users")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in body
    assert "李保安" in body and "管理员" in body and 'href="/admin/sites"' in body


def test_active_search_returns_the_rows_fragment(client, admin, make_user, site):
    make_user(name="李保安", username="A1001", sites=[site])
    make_user(name="张保洁", username="B2002", sites=[site])
    by_name = client.get("/admin/users", query_string={"q": "保安"}, headers=HX)
    body = by_name.get_data(as_text=True)
    assert by_name.status_code == 200 and is_fragment(by_name) and 'id="user-rows"' in body
    assert "李保安" in body and "张保洁" not in body
    by_username = client.get("/admin/users", query_string={"q": "b20"}, headers=HX)
    assert "张保洁" in by_username.get_data(as_text=True)
    assert "李保安" not in by_username.get_data(as_text=True)


def test_create_user_with_htmx(client, admin, site, make_site):
    second = make_site(code="LANTING")
    response = client.post(
        "/admin/users",
        data=new_user(site, site_ids=[str(site.id), str(second.id)], pin="2468", locale="en"),
        headers=HX,
    )
    assert response.status_code == 201 and is_fragment(response)
    user = db.session.scalars(select(User).where(User.username == "13800138000")).one()
    assert f'id="user-{user.id}"' in response.get_data(as_text=True)
    assert user.display_name == "王师傅" and user.role == "staff" and user.active
    assert {s.code for s in user.sites} == {"CUIHU", "LANTING"}
    assert user.locale == "en"
    assert user.check_password("long-enough-1") and user.check_pin("2468")
    assert user.password_hash.startswith("pbkdf2:sha256:1000")  # PASSWORD_HASH_METHOD


def test_create_user_without_a_pin(client, admin, site):
    response = client.post("/admin/users", data=new_user(site, role="supervisor"), headers=HX)
    assert response.status_code == 201
    user = db.session.scalars(select(User).where(User.username == "13800138000")).one()
    assert user.pin_hash is None and user.role == "supervisor" and user.locale is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"username": "ADMIN1"}, "The username ADMIN1 is taken"),
        ({"username": ""}, "This field is required"),
        ({"username": "wang shifu"}, "Letters, digits and . _ + - only."),
        ({"display_name": " "}, "This field is required"),
        ({"site_ids": []}, "Choose at least one site."),
        ({"site_ids": ["9999"]}, "not a valid choice"),
        ({"role": "superuser"}, "Not a valid choice"),
        ({"password": "short12"}, "At least 8 characters."),
        ({"pin": "123"}, "The PIN must be 4 to 8 digits."),
        ({"pin": "123456789"}, "The PIN must be 4 to 8 digits."),
        ({"pin": "12ab"}, "The PIN must be 4 to 8 digits."),
    ],
)
def test_invalid_new_user_is_422_and_nothing_added(client, admin, site, overrides, message):
    response = client.post("/admin/users", data=new_user(site, **overrides), headers=HX)
    assert response.status_code == 422 and is_fragment(response)
    assert message in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#new-user"
    assert count(User) == 1


def test_edit_user_round_trip(client, admin, make_user, site, make_site):
    second = make_site(code="LANTING")
    user = make_user(role="staff", sites=[site], name="王师傅")
    edit = client.get(f"/admin/users/{user.id}/edit", headers=HX)
    body = edit.get_data(as_text=True)
    assert edit.status_code == 200 and is_fragment(edit)
    assert f'id="user-{user.id}"' in body and f'id="password-{user.id}"' in body
    saved = client.post(
        f"/admin/users/{user.id}",
        data=profile(
            user,
            display_name="王班长",
            role="supervisor",
            site_ids=[str(second.id)],
            locale="zh_CN",
            active="",
        ),
        headers=HX,
    )
    assert saved.status_code == 200 and "王班长" in saved.get_data(as_text=True)
    db.session.refresh(user)
    assert (user.display_name, user.role, user.locale, user.active) == (
        "王班长",
        "supervisor",
        "zh_CN",
        False,
    )
    assert [s.code for s in user.sites] == ["LANTING"]


def test_invalid_edit_changes_nothing(client, admin, make_user, site):
    user = make_user(role="staff", sites=[site], name="王师傅")
    response = client.post(
        f"/admin/users/{user.id}", data=profile(user, display_name="新", site_ids=[]), headers=HX
    )
    assert response.status_code == 422
    assert "Choose at least one site." in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.display_name == "王师傅" and [s.code for s in user.sites] == ["CUIHU"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"active": ""}, "You cannot deactivate your own account."),
        ({"role": "supervisor"}, "You cannot remove your own administrator role."),
    ],
)
def test_admin_cannot_lock_themselves_out(client, admin, overrides, message):
    response = client.post(
        f"/admin/users/{admin.id}",
        data=profile(admin, display_name="改名", **overrides),
        headers=HX,
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert (admin.role, admin.active, admin.display_name) == ("admin", True, "管理员")


def test_admin_may_demote_another_admin(client, admin, make_user, site):
    other = make_user(role="admin", sites=[site])
    response = client.post(f"/admin/users/{other.id}", data=profile(other, role="staff"))
    assert response.status_code == 200
    db.session.refresh(other)
    assert other.role == "staff"


def test_reset_password(client, admin, make_user, site):
    user = make_user(sites=[site])
    response = client.post(
        f"/admin/users/{user.id}/password", data={"password": NEW_PASSWORD}, headers=HX
    )
    assert response.status_code == 200 and is_fragment(response)
    assert "New password saved" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.check_password(NEW_PASSWORD) and not user.check_password("secret-pass-1")


def test_short_password_is_refused(client, admin, make_user, site):
    user = make_user(sites=[site])
    response = client.post(f"/admin/users/{user.id}/password", data={"password": "1234567"})
    assert response.status_code == 422
    assert "At least 8 characters." in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.check_password("secret-pass-1")


def test_set_and_clear_pin(client, admin, make_user, site):
    user = make_user(sites=[site])
    response = client.post(f"/admin/users/{user.id}/pin", data={"pin": "13579"}, headers=HX)
    assert response.status_code == 200 and f'id="pin-{user.id}"' in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.check_pin("13579")
    cleared = client.post(f"/admin/users/{user.id}/pin/clear", headers=HX)
    assert cleared.status_code == 200 and "has no PIN now" in cleared.get_data(as_text=True)
    db.session.refresh(user)
    assert user.pin_hash is None


@pytest.mark.parametrize("pin", ["", "123", "abcd", "１２３４"])
def test_bad_pin_is_refused(client, admin, make_user, site, pin):
    user = make_user(sites=[site], pin="2468")
    response = client.post(f"/admin/users/{user.id}/pin", data={"pin": pin}, headers=HX)
    assert response.status_code == 422
    db.session.refresh(user)
    assert user.check_pin("2468")


def test_unknown_user_is_404(client, admin):
    assert client.get("/admin/users/9999/edit").status_code == 404
    assert (
        client.post("/admin/users/9999/password", data={"password": NEW_PASSWORD}).status_code
        == 404
    )


# --- sites ----------------------------------------------------------------------------


def test_sites_page(client, admin, site):
    page = client.get("/admin/sites")
    assert page.status_code == 200 and "翠湖花园" in page.get_data(as_text=True)


def test_create_site(client, admin):
    response = client.post(
        "/admin/sites",
        data={"code": "LANTING", "name": "兰亭苑", "timezone": "Asia/Hong_Kong"},
        headers=HX,
    )
    assert response.status_code == 201 and is_fragment(response)
    site = db.session.scalars(select(Site).where(Site.code == "LANTING")).one()
    assert (site.name, site.timezone) == ("兰亭苑", "Asia/Hong_Kong")
    assert f'id="site-{site.id}"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"timezone": "Asia"}, "Unknown time zone"),
        ({"timezone": "../../etc/passwd"}, "Unknown time zone"),
        ({"code": "cuihu"}, "The code cuihu is used by 翠湖花园."),
        ({"code": "兰亭"}, "Letters, digits and - only."),
        ({"code": "X" * 21}, "20"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_invalid_new_site_is_422_and_nothing_added(client, admin, site, overrides, message):
    data = {"code": "LANTING", "name": "兰亭苑", "timezone": "Asia/Shanghai"} | overrides
    response = client.post("/admin/sites", data=data, headers=HX)
    assert response.status_code == 422 and is_fragment(response)
    assert message in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#new-site"
    assert count(Site) == 1


def test_edit_site(client, admin, site):
    edit = client.get(f"/admin/sites/{site.id}/edit", headers=HX)
    assert edit.status_code == 200 and 'value="Asia/Shanghai"' in edit.get_data(as_text=True)
    saved = client.post(
        f"/admin/sites/{site.id}", data={"name": "翠湖花园二期", "timezone": "UTC"}, headers=HX
    )
    assert saved.status_code == 200 and "翠湖花园二期" in saved.get_data(as_text=True)
    db.session.refresh(site)
    assert (site.code, site.name, site.timezone) == ("CUIHU", "翠湖花园二期", "UTC")


def test_edit_site_with_unknown_time_zone_changes_nothing(client, admin, site):
    response = client.post(
        f"/admin/sites/{site.id}", data={"name": "新名", "timezone": "Asia/Beijing"}, headers=HX
    )
    assert response.status_code == 422
    assert "Unknown time zone" in response.get_data(as_text=True)
    db.session.refresh(site)
    assert (site.name, site.timezone) == ("翠湖花园", "Asia/Shanghai")


def test_unknown_site_is_404(client, admin):
    assert client.get("/admin/sites/9999/edit").status_code == 404
