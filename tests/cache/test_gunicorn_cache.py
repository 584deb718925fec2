"""gunicorn -w 4 --threads 2 without --preload, sharing a FileCache: one token request per identity
per token lifetime, instead of one per worker (each worker imports the app and builds its own provider)."""

from __future__ import annotations

import os
import pathlib

import pytest

from literauth.testing import FakeIdentityServer
from tests.integration.test_gunicorn import ROOT, WORKERS, Gunicorn, _advance, _hammer

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="gunicorn forks: POSIX only")]


def test_workers_share_one_token_through_the_file_cache(identity: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    pytest.importorskip("gunicorn")
    pytest.importorskip("flask")
    (tmp_path / "clock").write_text("0")
    skip = ("AZURE_", "REQUESTS_CA", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "LITERAUTH_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(identity.azure.environ())
    env.update({
        "LITERAUTH_WSGI_CLOCK": str(tmp_path / "clock"), "LITERAUTH_WSGI_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "NO_PROXY": "127.0.0.1,localhost",
    })
    gunicorn = Gunicorn(env, tmp_path / "gunicorn.log", preload=False)
    try:
        gunicorn.wait_ready()
        answers = _hammer(gunicorn.url)
        pids = {a["pid"] for a in answers}
        assert len(pids) > 1 and all(a["imported_in"] == a["pid"] for a in answers)  # no preload: own providers
        assert identity.azure.request_count == 1  # not one per worker
        assert len({a["token"] for a in answers}) == 1

        _advance(identity, tmp_path, 3600 + 60)  # past expiry: every worker needs a new token at once
        later = _hammer(gunicorn.url)
        assert identity.azure.request_count == 2
        assert len({a["token"] for a in later}) == 1 != answers[0]["token"]
        assert sum(a["token_requests"] for a in {a["pid"]: a for a in answers + later}.values()) <= 2
        assert "Traceback" not in gunicorn.text() and len({a["pid"] for a in answers + later}) <= WORKERS
        assert gunicorn.stop() == 0
    finally:
        gunicorn.close()
