"""The Alembic migrations build exactly the schema the models describe."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

from dutypwa import create_app
from dutypwa.models import Base


@pytest.fixture
def fresh_database(tmp_path):
    """An empty database: a new SQLite file, or a scratch schema on PostgreSQL."""
    url = os.environ.get("DUTYPWA_TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}", None
        return
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS migration_check CASCADE"))
        connection.execute(text("CREATE SCHEMA migration_check"))
    yield url, "migration_check"
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS migration_check CASCADE"))
    engine.dispose()


def test_upgrade_matches_models_and_downgrade_empties(fresh_database):
    url, schema = fresh_database
    options = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": options,
        }
    )
    with app.app_context():
        upgrade()
        from dutypwa.extensions import db

        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
        downgrade(revision="base")
        with db.engine.connect() as connection:
            names = set(db.inspect(connection).get_table_names())
        assert names <= {"alembic_version"}
        db.engine.dispose()


def test_findings_keep_their_data_and_get_the_ids_check_ins_now_derive(fresh_database):
    """Upgrading 00ef9f9aed8d → head turns each old finding into one with a client id."""
    import uuid

    url, schema = fresh_database
    options = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": options,
        }
    )
    from dutypwa.extensions import db

    checkin_id = str(uuid.uuid4())
    with app.app_context():
        upgrade(revision="00ef9f9aed8d")
        with db.engine.begin() as connection:
            for statement in (
                "INSERT INTO site (id, code, name, timezone, created_at) "
                "VALUES (1, 'S', 's', 'Asia/Shanghai', '2026-11-26 00:00:00+00:00')",
                'INSERT INTO "user" (id, username, display_name, password_hash, role, active, '
                "created_at) VALUES (1, 'u', 'u', 'x', 'staff', true, '2026-11-26 00:00:00+00:00')",
                "INSERT INTO checkpoint (id, site_id, name, kind, description, checklist, active, "
                "token, code, created_at, updated_at) VALUES (1, 1, 'p', 'equipment', '', "
                "'[\"a\", \"b\"]', true, 't', '001', '2026-11-26 00:00:00+00:00', "
                "'2026-11-26 00:00:00+00:00')",
                "INSERT INTO checkin (id, site_id, checkpoint_id, user_id, device_time, "
                "received_at, clock_offset_s, visited_at, clock_flagged, token, results, note, "
                f"payload_hash) VALUES ('{checkin_id}', 1, 1, 1, '2026-11-26 01:00:00+00:00', "
                "'2026-11-26 01:00:01+00:00', 1.0, '2026-11-26 01:00:01+00:00', false, 't', "
                '\'[{"item": "a", "ok": true, "note": ""}, '
                '{"item": "b", "ok": false, "note": "漏水"}]\', \'\', \'h\')',
                "INSERT INTO finding (site_id, checkpoint_id, checkin_id, item, note, status, "
                f"created_at) VALUES (1, 1, '{checkin_id}', 'b', '漏水', 'open', "
                "'2026-11-26 01:00:01+00:00')",
            ):
                connection.execute(text(statement))
        upgrade()
        with db.engine.connect() as connection:
            row = connection.execute(
                text("SELECT id, description, category, created_by_id FROM finding")
            ).one()
        assert tuple(row) == (
            str(uuid.uuid5(uuid.UUID(checkin_id), "checklist/1")),
            "漏水",
            "equipment",
            1,
        )
        downgrade(revision="00ef9f9aed8d")
        with db.engine.connect() as connection:
            old = connection.execute(text("SELECT item, note FROM finding")).one()
        assert tuple(old) == ("b", "漏水")
        db.engine.dispose()
