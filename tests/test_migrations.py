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
