"""The SDK adapters against each SDK's own credential: per-call overhead and a 32-thread stampede.

    python benchmarks/adapters_azure_google.py           # ~20 s
    python benchmarks/adapters_azure_google.py --quick   # fewer rounds; exit 1 if a stampede count is off

Google: `GoogleCredentials(VertexOAuthCredentialProvider)` vs google-auth's
`service_account.Credentials`, both in `AuthorizedSession`. Azure: `AzureTokenCredential(
AzureAdCredentialProvider)` vs azure-identity's `ClientSecretCredential`, both in azure-core's
`BearerTokenCredentialPolicy`. "auth step" is what the SDK runs per request for the
credential (`before_request`, the policy's `on_request`), on a warm cache; "full call" is one
request to a loopback `FakeLlmServer` through the SDK. The stampede releases 32 threads at
once on one SDK client with a cold cache and counts the token requests the fake identity
provider received. Needs azure-core, azure-identity, google-auth and cryptography.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's literauth first

from literauth.testing import FakeIdentityServer, FakeLlmServer

THREADS = 32
CHAT = "/openai/deployments/gpt-4o/chat/completions"
PREDICT = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini:generateContent"
GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _median_us(call: Callable[[], object], rounds: int) -> float:
    call()  # warm
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def _stampede(call: Callable[[], object], requests: Callable[[], int]) -> int:
    """Token requests for `THREADS` first calls released at once on one client (every call must succeed)."""
    before = requests()
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if failures:
        raise RuntimeError(f"{len(failures)} of {THREADS} stampede calls failed: {failures[0]!r}")
    return requests() - before


# -- Google: AuthorizedSession ----------------------------------------------------------------------


def _google(idp: FakeIdentityServer, llm: FakeLlmServer, folder: str, peer: bool) -> Any:
    from google.auth.transport.requests import Request

    info = idp.google.register_service_account()
    transport = idp.session()  # trusts the fake's CA
    if peer:
        from google.oauth2 import service_account

        path = os.path.join(folder, f"{info['client_email']}.json")
        with open(path, "w", encoding="utf-8") as file:
            json.dump(info, file)
        return service_account.Credentials.from_service_account_file(path, scopes=[GOOGLE_SCOPE]), Request(transport)
    from literauth.adapters.google import GoogleCredentials
    from literauth.google import VertexOAuthCredentialProvider

    provider = VertexOAuthCredentialProvider.from_service_account_json(info, session=transport)
    return GoogleCredentials(provider), Request(transport)


def google_rows(idp: FakeIdentityServer, llm: FakeLlmServer, rounds: int) -> list[dict[str, Any]]:
    from google.auth.transport.requests import AuthorizedSession

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for peer in (False, True):
            credentials, auth_request = _google(idp, llm, folder, peer)
            session = AuthorizedSession(credentials, auth_request=auth_request)
            session.verify = llm.ca_bundle
            session.trust_env = False  # REQUESTS_CA_BUNDLE would win over session.verify
            url = llm.url + PREDICT
            stampede = _stampede(lambda s=session, u=url: s.post(u, json={}), lambda: idp.google.request_count)
            headers: dict[str, str] = {}
            step = _median_us(
                lambda c=credentials, r=auth_request, u=url, h=headers: c.before_request(r, "POST", u, h), rounds
            )
            full = _median_us(lambda s=session, u=url: s.post(u, json={}), max(50, rounds // 20))
            rows.append({
                "sdk": "google-auth AuthorizedSession",
                "credential": "service_account.Credentials" if peer else "GoogleCredentials(literauth)",
                "auth_step_us": step, "full_call_us": full, "stampede_token_requests": stampede,
            })
    return rows


# -- Azure: BearerTokenCredentialPolicy ------------------------------------------------------------


def azure_rows(idp: FakeIdentityServer, llm: FakeLlmServer, rounds: int) -> list[dict[str, Any]]:
    from azure.core import PipelineClient
    from azure.core.pipeline import PipelineContext, PipelineRequest
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy
    from azure.core.pipeline.transport import RequestsTransport
    from azure.core.rest import HttpRequest
    from azure.identity import ClientSecretCredential

    from literauth.adapters.azure import AzureTokenCredential

    scope = "https://cognitiveservices.azure.com/.default"
    app = idp.azure
    rows = []
    for peer in (False, True):
        if peer:
            credential: Any = ClientSecretCredential(
                app.tenant_id, app.client_id, app.client_secret.expose_secret(), authority=idp.url,
                disable_instance_discovery=True, connection_verify=idp.ca_bundle,
            )
        else:
            credential = AzureTokenCredential(idp.azure_provider())
        policy = BearerTokenCredentialPolicy(credential, scope)
        client = PipelineClient(
            llm.url, policies=[policy], transport=RequestsTransport(connection_verify=llm.ca_bundle)
        )

        def send(c: Any = client) -> object:
            return c.send_request(HttpRequest("POST", llm.url + CHAT, json={}))

        stampede = _stampede(send, lambda: app.request_count)
        request = PipelineRequest(HttpRequest("POST", llm.url + CHAT), PipelineContext(None))
        step = _median_us(lambda p=policy, r=request: p.on_request(r), rounds)
        full = _median_us(send, max(50, rounds // 20))
        rows.append({
            "sdk": "azure-core BearerTokenCredentialPolicy",
            "credential": "ClientSecretCredential" if peer else "AzureTokenCredential(literauth)",
            "auth_step_us": step, "full_call_us": full, "stampede_token_requests": stampede,
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds; check the stampede counts")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args(argv)
    rounds = 2000 if args.quick else 20000
    with FakeIdentityServer(https=True) as idp, FakeLlmServer(https=True) as llm:
        rows = google_rows(idp, llm, rounds) + azure_rows(idp, llm, rounds)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("| SDK | credential | auth step (µs, median) | full call (µs, median) | token requests, 32-thread stampede |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['sdk']} | {row['credential']} | {row['auth_step_us']:.1f} | {row['full_call_us']:.0f} "
                  f"| {row['stampede_token_requests']} |")
    ours = [row for row in rows if "literauth" in row["credential"]]
    return 0 if all(row["stampede_token_requests"] == 1 for row in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
