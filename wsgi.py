"""WSGI entry point: `gunicorn wsgi:app`."""

import gc

from dutypwa import create_app

app = create_app()
# What start-up loaded (the app, templates, SQLAlchemy's mappers) lives as long as the
# process: move it out of the collector's sight so full collections during requests do
# not rescan it (bench/coverage.py measures the difference).
gc.collect()
gc.freeze()
