"""WSGI entry point: `gunicorn wsgi:app`."""

from dutypwa import create_app

app = create_app()
