"""Command-line tasks: create-site, sites, create-user, seed-demo."""

from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.models import CheckIn, Checkpoint, Route, Site, User


def test_create_site_and_list(runner):
    result = runner.invoke(args=["create-site", "CUIHU", "--name", "翠湖花园"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=["create-site", "URUMQI", "--name", "乌鲁木齐", "--tz", "Asia/Urumqi"]
    )
    assert result.exit_code == 0
    assert db.session.scalar(select(Site).where(Site.code == "URUMQI")).timezone == "Asia/Urumqi"
    listing = runner.invoke(args=["sites"])
    assert listing.output.splitlines() == ["CUIHU\t翠湖花园", "URUMQI\t乌鲁木齐"]


def test_create_site_refuses_bad_zone_and_duplicates(runner):
    assert (
        runner.invoke(args=["create-site", "X", "--name", "x", "--tz", "Mars/Base"]).exit_code != 0
    )
    assert runner.invoke(args=["create-site", "X", "--name", "x"]).exit_code == 0
    duplicate = runner.invoke(args=["create-site", "X", "--name", "x"])
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output


def test_create_user_with_role_and_sites(runner, client):
    runner.invoke(args=["create-site", "A", "--name", "甲"])
    runner.invoke(args=["create-site", "B", "--name", "乙"])
    result = runner.invoke(
        args=["create-user", "13800138000", "--password", "pw-123456", "--role", "supervisor",
              "--site", "A", "--site", "B", "--name", "李娜", "--pin", "2468"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "13800138000"))
    assert (user.display_name, user.role) == ("李娜", "supervisor")
    assert [s.code for s in user.sites] == ["A", "B"]
    assert user.check_password("pw-123456") and user.check_pin("2468")
    login = client.post("/login", data={"username": "13800138000", "password": "pw-123456"})
    assert login.status_code == 302


def test_create_user_refuses_bad_input(runner):
    runner.invoke(args=["create-site", "A", "--name", "甲"])
    base = ["create-user", "u1", "--password", "pw-123456"]
    assert runner.invoke(args=[*base, "--site", "NOPE"]).exit_code != 0
    assert runner.invoke(args=[*base, "--site", "A", "--role", "king"]).exit_code != 0
    assert runner.invoke(args=[*base, "--site", "A", "--pin", "12"]).exit_code != 0
    assert runner.invoke(args=[*base, "--site", "A"]).exit_code == 0
    taken = runner.invoke(args=["create-user", "U1", "--password", "x", "--site", "A"])
    assert taken.exit_code != 0 and "taken" in taken.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_seed_demo_once(runner):
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(Checkpoint)) >= 30
    assert db.session.scalar(select(func.count()).select_from(Route)) >= 3
    assert db.session.scalar(select(func.count()).select_from(CheckIn)) > 50
    roles = set(db.session.scalars(select(User.role)))
    assert roles == {"staff", "supervisor", "director", "admin"}
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "not loaded" in again.output
    assert runner.invoke(args=["seed-demo"]).exit_code != 0
