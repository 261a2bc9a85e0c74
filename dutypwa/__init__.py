"""dutypwa: offline-first duty, patrol and handover app for property-management staff."""

import os
import secrets
from pathlib import Path

from flask import Flask, g, request, session
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import event

from dutypwa import config, heap
from dutypwa.extensions import babel, compress, csrf, db, login_manager, migrate
from dutypwa.http import buffer_static, local_time, security_headers


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config)
    app.config.from_prefixed_env("DUTYPWA")
    if test_config:
        app.config.update(test_config)

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        db_file = Path(app.instance_path) / "dutypwa.sqlite3"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))
    if app.config["SESSION_COOKIE_SECURE"] is None:
        secure = app.config["PUBLIC_BASE_URL"].startswith("https://")
        app.config["SESSION_COOKIE_SECURE"] = secure
        app.config["REMEMBER_COOKIE_SECURE"] = secure
    else:
        app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
    migrate.init_app(
        app, db, directory=str(Path(app.root_path).parent / "migrations"), render_as_batch=True
    )
    csrf.init_app(app)
    compress.init_app(app)
    # Runs before Flask-Compress's own after_request (the last registered runs first).
    app.after_request(buffer_static)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)

    from dutypwa import (
        admin,
        auth,
        checkpoints,
        cli,
        dashboard,
        dutylog,
        errors,
        findings,
        patrol,
        photos,
        places,
        pwa,
        qr,
        repetition,
        reports,
        scanner,
        settings_page,
        supervisor,
        sync,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(patrol.bp)
    app.register_blueprint(checkpoints.bp)
    app.register_blueprint(qr.bp)
    app.register_blueprint(scanner.bp)
    app.register_blueprint(places.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(findings.bp)
    app.register_blueprint(dutylog.bp)
    app.register_blueprint(photos.bp)
    app.register_blueprint(sync.bp)
    app.register_blueprint(pwa.bp)
    app.register_blueprint(repetition.bp)
    app.register_blueprint(supervisor.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(settings_page.bp)
    from dutypwa import handover_views

    app.register_blueprint(handover_views.bp)
    from dutypwa import station

    app.register_blueprint(station.bp)
    from dutypwa.roster import holiday_views
    from dutypwa.roster import shifts as roster_shifts
    from dutypwa.roster import views as roster_views

    app.register_blueprint(holiday_views.bp)
    app.register_blueprint(roster_views.bp)
    app.register_blueprint(roster_shifts.bp)
    from dutypwa.roster import ics_views

    app.register_blueprint(ics_views.bp)
    from dutypwa.roster import comptime_views

    app.register_blueprint(comptime_views.bp)
    from dutypwa.roster import request_views

    app.register_blueprint(request_views.bp)
    from dutypwa.roster import all_hands_views

    app.register_blueprint(all_hands_views.bp)
    from dutypwa.roster import excel_views

    app.register_blueprint(excel_views.bp)
    errors.register(app)
    app.after_request(security_headers)
    heap.freeze_after_requests(app)
    app.add_template_filter(local_time, "localtime")
    cli.register(app)
    app.jinja_env.globals["get_locale"] = get_locale
    return app


def select_locale() -> str:
    """The user's saved choice, else the session's, else the browser's, else Chinese."""
    languages = config.LANGUAGES
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if session.get("locale") in languages:
        return session["locale"]
    if request and request.accept_languages:
        best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
        if best == "en":
            return "en"
    return "zh_CN"


def select_timezone() -> str:
    site = g.get("site")
    return site.timezone if site is not None else "Asia/Shanghai"


def _instance_secret(instance: Path) -> str:
    """A per-installation secret kept outside the repository, made on first start."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        os.chmod(path, 0o600)
    return path.read_text().strip()


def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL, a busy timeout and foreign keys for the embedded SQLite database."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
