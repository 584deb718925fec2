"""A Flask front for many LLMs, choosing the credentials for each model name from a TOML file.

Needs Flask, and cryptography and PyJWT for the Google entry: ``pip install "literauth[examples]"``.

`literauth.config.load_models()` reads the ``[[models]]`` entries of a file such as
``examples/models.toml`` at start-up: every model gets its credential provider (Azure AD,
AWS STS web identity, a Google service account, or a static key), entries with the same
identity share one, and a bad file or a missing variable stops the app before it serves.
A request names a model; the app resolves that model's credential (cached, refreshed ahead
of expiry) and hands both to the upstream call, trying the entry's ``fallbacks`` when it
fails.

The upstream call here is a dry run that describes what would be sent; put your client
calls in its place (a bearer token goes in ``Authorization``, AWS credentials sign the
request with SigV4)::

    export AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=...
    export AWS_ROLE_ARN=... AWS_WEB_IDENTITY_TOKEN_FILE=... GOOGLE_APPLICATION_CREDENTIALS=...
    export MISTRAL_API_KEY=...
    python examples/flask_models_config.py examples/models.toml
    gunicorn --preload -w 4 'examples.flask_models_config:create_app_from_file()'

Offline, against literauth's FakeIdentityServer::

    python examples/flask_models_config.py --demo
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:
    from flask import Flask, abort, jsonify, request
except ImportError as missing:  # one line that says what to install, not a traceback
    print(f'example: needs {missing.name or "flask"}: pip install "literauth[examples]"', file=sys.stderr)
    sys.exit(2)
try:  # the Google entry of models.toml signs its JWT with them (the vertex-auth extra)
    import cryptography  # noqa: F401
    import jwt  # noqa: F401
except ImportError:  # one line that says what to install, not a traceback
    print('example: needs cryptography and pyjwt: pip install "literauth[examples]"', file=sys.stderr)
    sys.exit(2)

from literauth.config import ModelEntry, ModelTable, load_models
from literauth.credentials import AwsCredentials, BearerToken, Credential
from literauth.errors import LiterAuthError, ModelConfigError

DEFAULT_CONFIG = pathlib.Path(__file__).with_name("models.toml")

_log = logging.getLogger("flask_models_config")


class UpstreamError(Exception):
    """The model's API failed; the app tries the entry's fallbacks."""


#: Sends one request to a model: (entry, its credential, the request body) -> the answer.
Upstream = Callable[[ModelEntry, Credential, Mapping[str, Any]], Mapping[str, Any]]


def dry_run(entry: ModelEntry, credential: Credential, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """Describe the call that would be made, without sending it and without the secret."""
    auth = "aws-sigv4" if isinstance(credential, AwsCredentials) else "bearer"
    expires = credential.expires_at.isoformat() if credential.expires_at else None
    return {
        "would_call": entry.base_url or f"the {entry.provider} API",
        "upstream_model": entry.model,
        "auth": auth,
        "credential_expires_at": expires,
        "timeout_secs": entry.timeout_secs,
    }


def create_app(table: ModelTable, upstream: Upstream = dry_run) -> Flask:
    """The web app: `/v1/models` lists the table, `/v1/chat/completions` serves one request."""
    app = Flask(__name__)
    app.extensions["model_table"] = table

    @app.get("/v1/models")
    def list_models() -> Any:
        return jsonify(data=[
            {"id": e.name, "provider": e.provider, "model": e.model, "fallbacks": list(e.fallbacks)}
            for e in table.values()
        ])

    @app.post("/v1/chat/completions")
    def complete() -> Any:
        body = request.get_json(silent=True) or {}
        name = body.get("model")
        if not isinstance(name, str) or name not in table:
            abort(404, f"unknown model; configured: {', '.join(table)}")
        failures = []
        for candidate in (name, *table[name].fallbacks):
            entry = table[candidate]
            try:
                credential = entry.resolve()  # cached: a token request only when one is due
                answer = upstream(entry, credential, body)
            except (LiterAuthError, UpstreamError) as exc:  # messages carry no secrets
                _log.warning("model %s failed: %s", candidate, exc)
                failures.append({"model": candidate, "error": str(exc)})
                continue
            return jsonify(model=name, served_by=candidate, answer=answer, failures=failures)
        return jsonify(model=name, failures=failures), 502

    @app.get("/healthz")
    def health() -> Any:
        identities = []
        for provider in table.providers:
            stats = getattr(provider, "stats", None)
            users = [e.name for e in table.values() if e.credential_provider is provider]
            snapshot = stats() if stats is not None else None  # static keys keep no statistics
            identities.append({
                "kind": type(provider).__name__,
                "models": users,
                "token_requests": None if snapshot is None else snapshot.token_requests,
            })
        return jsonify(status="ok", identities=identities)

    return app


def create_app_from_file(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Flask:
    """The app for a models file (`LITERAUTH_MODELS`, else examples/models.toml): the gunicorn entry."""
    env = os.environ if environ is None else environ
    config = path or env.get("LITERAUTH_MODELS") or DEFAULT_CONFIG
    return create_app(load_models(pathlib.Path(config), environ=env))


# -- the offline demo ----------------------------------------------------------------------


def _checking_upstream(idp: Any, static_keys: set[str], down: set[str]) -> Upstream:
    """A stand-in for the model APIs: accepts only credentials the fake identity server issued."""

    def send(entry: ModelEntry, credential: Credential, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if entry.name in down:
            raise UpstreamError(f"{entry.name}: HTTP 503 from the model API")
        if isinstance(credential, AwsCredentials):
            valid = any(c.access_key_id == credential.access_key_id for c in idp.sts.issued_credentials)
        elif isinstance(credential, BearerToken):
            token = credential.token.expose_secret()
            valid = idp.azure.check_token(token) or token in idp.google.issued_tokens or token in static_keys
        else:
            valid = False
        if not valid:
            raise UpstreamError(f"{entry.name}: HTTP 401 from the model API")
        prompt = body["messages"][-1]["content"]
        return {"reply": f"[{entry.provider}/{entry.model}] you said: {prompt}"}

    return send


def demo(config: str | os.PathLike[str] = DEFAULT_CONFIG) -> int:
    """Serve every model of `config` offline, with the first model that has fallbacks down."""
    import secrets
    import tempfile

    from literauth.testing import FakeIdentityServer

    with tempfile.TemporaryDirectory() as scratch, FakeIdentityServer() as idp:
        mistral_key = secrets.token_urlsafe(24)
        # AZURE_*, AWS_ROLE_ARN + a web identity token file, a service-account key file: all
        # pointed at the fake server
        env = {**idp.environ(scratch), "MISTRAL_API_KEY": mistral_key}
        with load_models(pathlib.Path(config), environ=env) as table:
            down = {next((e.name for e in table.values() if e.fallbacks), "")}
            client = create_app(table, _checking_upstream(idp, {mistral_key}, down)).test_client()
            served = 0
            for name in table:
                message = {"model": name, "messages": [{"role": "user", "content": "hello"}]}
                reply = client.post("/v1/chat/completions", json=message)
                data = reply.get_json()
                served += reply.status_code == 200
                via = "" if data.get("served_by") == name else f" (down: served by {data.get('served_by')})"
                print(f"{name:16} -> {reply.status_code} {data.get('answer', {}).get('reply')}{via}")
            print("GET /healthz ->", client.get("/healthz").get_json()["identities"])
        counts = (idp.azure.request_count, idp.sts.request_count, idp.google.request_count)
        print(f"token requests: azure {counts[0]}, sts {counts[1]}, google {counts[2]} (for {len(table)} models)")
        return 0 if served == len(table) and max(counts) <= 1 else 1


def _cannot_run(reason: str) -> int:
    """Say in one line, without a traceback, why the example did not run; exit status 2."""
    print(f"example: {' '.join(reason.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=None, help="the models TOML file")
    parser.add_argument("--demo", action="store_true", help="run offline against a fake identity provider")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    if args.demo:
        logging.basicConfig(stream=sys.stdout, format="  (log) %(message)s")
        return demo(args.config or DEFAULT_CONFIG)
    config = args.config or os.environ.get("LITERAUTH_MODELS") or DEFAULT_CONFIG
    try:
        app = create_app_from_file(config)
    except ModelConfigError as exc:  # every problem at once: `literauth check` lists them
        first = str(exc.problems[0]).removeprefix(f"{exc.source}: ")
        return _cannot_run(f"{exc.source}: {len(exc.problems)} problem(s), the first: {first}"
                           f" (all: literauth check {config}; or run it offline with --demo)")
    except (LiterAuthError, OSError) as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    app.run(host="127.0.0.1", port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
