"""The Flask app tests/test_gunicorn.py serves with gunicorn: one provider, created at import time.

Under `gunicorn --preload` this module is imported once, in the master, before the workers
are forked, so every worker inherits the same provider object. The provider is configured
from the `AZURE_*` variables (pointed at a `FakeIdentityServer` by the test); with
`LITERAUTH_WSGI_WARM=1` the master also resolves once at import, so the workers inherit a
cached token. `LITERAUTH_WSGI_CLOCK` names a file holding seconds to add to real time: the
test moves every process's clock at once by rewriting it, instead of sleeping. Responses
carry the worker's pid and a digest of the token, never the token.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import time
from typing import Any

from flask import Flask

from literauth import AzureAdCredentialProvider, BearerToken
from literauth.cache import FileCache

_OFFSET_FILE = os.environ.get("LITERAUTH_WSGI_CLOCK")


def _clock() -> float:
    """Real time plus the offset the test wrote (shared by the master and every worker)."""
    if not _OFFSET_FILE:
        return time.time()
    text = pathlib.Path(_OFFSET_FILE).read_text().strip()
    return time.time() + (float(text) if text else 0.0)


def _make_provider() -> AzureAdCredentialProvider:
    cache_dir = os.environ.get("LITERAUTH_WSGI_CACHE_DIR")  # a FileCache shared by the workers
    if cache_dir:
        made = AzureAdCredentialProvider.from_env(clock=_clock, cache=FileCache(cache_dir))
    else:
        made = AzureAdCredentialProvider.from_env(clock=_clock)
    assert isinstance(made, AzureAdCredentialProvider)  # the test sets no AZURE_AD_TOKEN
    return made


provider = _make_provider()
IMPORTED_IN = os.getpid()
WARM_DIGEST = ""
if os.environ.get("LITERAUTH_WSGI_WARM") == "1":
    _warm = provider.resolve()
    assert isinstance(_warm, BearerToken)
    WARM_DIGEST = hashlib.sha256(_warm.token.expose_secret().encode()).hexdigest()[:16]

app = Flask(__name__)


@app.get("/health")
def health() -> dict[str, Any]:
    """Ready check: answers without touching the provider."""
    return {"pid": os.getpid()}



@app.get("/token")
def token() -> dict[str, Any]:
    """Resolve through the shared provider and say which process did, and which token it got."""
    credential = provider.resolve()
    assert isinstance(credential, BearerToken)
    digest = hashlib.sha256(credential.token.expose_secret().encode()).hexdigest()[:16]
    return {
        "pid": os.getpid(),
        "imported_in": IMPORTED_IN,
        "warm": WARM_DIGEST,
        "token": digest,
        "token_requests": provider.stats().token_requests,
        "refreshing": provider.stats().refreshing,
    }
