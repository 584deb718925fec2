"""Integration tests with real servers and processes: HTTPS, gunicorn."""
