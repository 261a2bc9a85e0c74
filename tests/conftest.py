"""Fixtures: an app on SQLite (or DUTYPWA_TEST_DATABASE_URL), a client, factories, login."""

import contextvars
import itertools
import os
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import text

from dutypwa import create_app
from dutypwa.extensions import db
from dutypwa.models import Area, Base, Checkpoint, Post, Route, RouteStop, Site, User
from tests.clock import BASE_NOW, CHINA, ENV, base_day_at

PASSWORD = "secret-pass-1"


def pytest_report_header(config):
    given = os.environ.get(ENV)
    source = f"{ENV}={given}" if given else f"the real clock; {ENV} moves it"
    return f"frozen clock: {BASE_NOW.isoformat()} ({source})"


class FrozenClock:
    """ "Now" standing still at the run's base moment (tests/clock.py), China time."""

    def __init__(self, traveller):
        self._traveller = traveller

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def today(self) -> date:
        return datetime.now(CHINA).date()

    at = staticmethod(base_day_at)

    def move_to(self, moment: datetime) -> None:
        # In China time, so that date.today() stays the Chinese date.
        self._traveller.move_to(moment.astimezone(CHINA))

    def shift(self, delta: timedelta) -> None:
        self._traveller.shift(delta)


@pytest.fixture
def frozen_clock():
    """Freeze "now" at the run's base moment, which DUTYPWA_TEST_TODAY moves (2027-02-28,
    or 2026-12-31T23:30): for every test whose expectation depends on the date. Take
    other moments from it (`frozen_clock.at(8)`: 08:00 on the base day), never a fixed
    date, so that the test follows the setting."""
    with time_machine.travel(BASE_NOW, tick=False) as traveller:
        yield FrozenClock(traveller)


def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DUTYPWA_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def _app(tmp_path_factory):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": database_url(tmp_path_factory),
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "PUBLIC_BASE_URL": "https://duty.example.test",
        }
    )
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        Base.metadata.create_all(db.engine)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(_app):
    """The app with empty tables for each test."""
    with _app.app_context():
        yield _app
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(Base.metadata.sorted_tables):
                    connection.execute(table.delete())


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production: its own database
    session and its own `g`, never the test's. The test's session is expired afterwards
    so that what the test reads next comes from the database."""

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        db.session.expire_all()
        return response


@pytest.fixture
def client(app):
    """A client whose browser asks for English, so tests read the English msgids;
    tests of the Chinese UI ask for it (or drop the header: Chinese is the default)."""
    app.test_client_class = IsolatedClient
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


_counter = itertools.count(1)


@pytest.fixture
def make_site(app):
    def make(code=None, name=None, timezone="Asia/Shanghai"):
        number = next(_counter)
        site = Site(code=code or f"S{number}", name=name or f"站点{number}", timezone=timezone)
        db.session.add(site)
        db.session.commit()
        return site

    return make


@pytest.fixture
def make_user(app, make_site):
    def make(role="staff", sites=None, username=None, name=None, password=PASSWORD, pin=None):
        number = next(_counter)
        if sites is None:
            sites = [make_site()]
        user = User(
            username=username or f"u{number}",
            display_name=name or f"员工{number}",
            role=role,
            sites=list(sites),
        )
        user.set_password(password, method="pbkdf2:sha256:1000")
        if pin:
            user.set_pin(pin, method="pbkdf2:sha256:1000")
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_area(app):
    def make(site, name=None, position=0):
        area = Area(site=site, name=name or f"区域{next(_counter)}", position=position)
        db.session.add(area)
        db.session.commit()
        return area

    return make


@pytest.fixture
def make_post(app):
    def make(site, name=None, inventory=None, shift_changes=None):
        post = Post(
            site=site,
            name=name or f"岗位{next(_counter)}",
            inventory=inventory or [{"name": "对讲机", "count": 2}],
            shift_changes=shift_changes or ["08:00", "20:00"],
        )
        db.session.add(post)
        db.session.commit()
        return post

    return make


@pytest.fixture
def make_checkpoint(app, make_area):
    def make(site, area=None, name=None, kind="garden", checklist=(), code=None, active=True):
        number = next(_counter)
        checkpoint = Checkpoint(
            site=site,
            area=area or make_area(site),
            name=name or f"巡查点{number}",
            kind=kind,
            checklist=list(checklist),
            code=code or f"{number:03d}",
            active=active,
        )
        db.session.add(checkpoint)
        db.session.commit()
        return checkpoint

    return make


@pytest.fixture
def make_route(app):
    def make(site, checkpoints, start=time(0), end=time(0), interval=120, weekdays="1234567"):
        route = Route(
            site=site,
            name=f"路线{next(_counter)}",
            window_start=start,
            window_end=end,
            interval_minutes=interval,
            weekdays=weekdays,
            stops=[RouteStop(checkpoint=c, position=i) for i, c in enumerate(checkpoints)],
        )
        db.session.add(route)
        db.session.commit()
        return route

    return make


@pytest.fixture
def login(client):
    """Log `user` in through the real login form."""

    def do(user, password=PASSWORD):
        response = client.post(
            "/login", data={"username": user.username, "password": password, "remember": "y"}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    return do


def new_op_id() -> str:
    return str(uuid.uuid4())
