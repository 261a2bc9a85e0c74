"""WSGI entry point: `gunicorn wsgi:app`."""

from dutypwa import create_app, heap

app = create_app()
# What start-up loaded (the app, SQLAlchemy's mappers) lives as long as the process: move
# it out of the collector's sight so full collections during requests do not rescan it;
# the app freezes again after its first requests (dutypwa/heap.py, bench/coverage.py).
heap.freeze()
