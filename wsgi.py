"""WSGI entry point for operators who run gunicorn themselves: `gunicorn wsgi:app`."""

from loginsvc import create_app

app = create_app()
