"""Azure keyless sources and the default chain, side by side with azure-identity.

    python benchmarks/azure_sources.py            # everything (about a minute: the peer's black hole)
    python benchmarks/azure_sources.py --quick    # literauth only, no black-hole wait for the peer

Three measurements:

- **chain decision off Azure**: how long the default chain takes to say "no credential here"
  when nothing but managed identity could apply and the IMDS address either refuses
  connections or accepts them and never answers (a filtered 169.254.169.254). literauth's
  `default_chain()` against azure-identity's `DefaultAzureCredential().get_token()` (built
  first, then pointed at the loopback address so that its IMDS probe runs, as the design
  notes explain). The peer's black hole is cut at `HOLD` seconds, when the fake drops it.
- **cache hit**: the cost of one call returning the cached token.
- **refresh CPU**: this thread's CPU time for one token request (the fake identity provider
  runs on other threads, so its work is not counted), forced with `force_refresh=True` for
  literauth and with a `claims` challenge, which makes MSAL bypass its cache, for the peer.

Every endpoint is a `FakeIdentityServer` on 127.0.0.1 (HTTPS for the Entra ID fakes, which
azure-identity requires); nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

HOLD = 20.0  # seconds the black hole holds a connection before dropping it
SCOPE = "https://cognitiveservices.azure.com/.default"
CLAIMS = '{"access_token":{"nbf":{"essential":true,"value":"1"}}}'


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """os.environ without any Azure variable and with PATH emptied (no az, azd or pwsh), plus `values`."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("AZURE_", "IDENTITY_", "MSI_")):
            del os.environ[name]
    os.environ["PATH"] = "/nonexistent"
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _time_failure(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    with contextlib.suppress(Exception):  # both libraries signal "nothing here" by raising
        call()
    return time.perf_counter() - started


def chain_decision(peer: bool) -> list[tuple[str, str, float]]:
    from literauth.azure import default_chain
    from literauth.testing import BlackHole, refused_port

    rows = []
    for case in ("refused", "black hole"):
        # a new black hole per library: each gets the whole HOLD before its connections are reset
        with BlackHole(drop_after=HOLD) as hole:
            url = f"http://127.0.0.1:{refused_port()}" if case == "refused" else hole.url
            samples = [_time_failure(default_chain(environ={"PATH": "/nonexistent",
                                                           "AZURE_POD_IDENTITY_AUTHORITY_HOST": url}).resolve)
                       for _ in range(3)]
            rows.append(("literauth default_chain()", case, statistics.median(samples)))
        if not peer:
            continue
        from azure.identity import DefaultAzureCredential

        with BlackHole(drop_after=HOLD) as hole, _environ({}):
            url = f"http://127.0.0.1:{refused_port()}" if case == "refused" else hole.url
            credential = DefaultAzureCredential()
            os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = url  # after construction: the probe runs
            rows.append(("azure-identity DefaultAzureCredential", case,
                         _time_failure(lambda c=credential: c.get_token(SCOPE))))
    return rows


def _hit_ns(call: Callable[[], Any], n: int = 20000) -> float:
    call()
    started = time.perf_counter_ns()
    for _ in range(n):
        call()
    return (time.perf_counter_ns() - started) / n


def _refresh_cpu_ms(call: Callable[[], Any], n: int = 60) -> float:
    call()
    started = time.thread_time()
    for _ in range(n):
        call()
    return (time.thread_time() - started) / n * 1000


def sources(peer: bool) -> list[tuple[str, str, float, float]]:
    from literauth.testing import FakeIdentityServer

    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeIdentityServer(https=True) as server:
        imds = server.endpoint("azure.managed_identity")
        fed = server.endpoint("azure.workload_identity")
        cert = server.endpoint("azure.client_certificate")
        session = server.session()
        ours = {
            "managed identity (IMDS)": imds.make_provider(session=session),
            "workload identity": fed.make_provider(session=session),
            "client certificate": cert.make_provider(session=session),
        }
        for name, provider in ours.items():
            rows.append((name, "literauth", _hit_ns(provider.resolve),
                         _refresh_cpu_ms(lambda p=provider: p.resolve(force_refresh=True))))
            provider.close()
        if not peer:
            return rows
        from azure.identity import (
            CertificateCredential,
            ManagedIdentityCredential,
            WorkloadIdentityCredential,
        )

        env = {"AZURE_POD_IDENTITY_AUTHORITY_HOST": server.url, "REQUESTS_CA_BUNDLE": server.ca_bundle or ""}
        with _environ(env):
            token_file = fed.write_federated_token(os.path.join(tmp, "federated"))
            peers = {
                "managed identity (IMDS)": ManagedIdentityCredential(),
                "workload identity": WorkloadIdentityCredential(
                    tenant_id=fed.tenant_id, client_id=fed.client_id, token_file_path=str(token_file),
                    authority=server.url, connection_verify=server.ca_bundle, disable_instance_discovery=True),
                "client certificate": CertificateCredential(
                    cert.tenant_id, cert.client_id, certificate_path=str(cert.write_certificate(os.path.join(tmp, "c.pem"))),
                    authority=server.url, connection_verify=server.ca_bundle, disable_instance_discovery=True),
            }
            for name, credential in peers.items():
                rows.append((name, "azure-identity", _hit_ns(lambda c=credential: c.get_token(SCOPE), 2000),
                             _refresh_cpu_ms(lambda c=credential: c.get_token(SCOPE, claims=CLAIMS))))
                credential.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="literauth only")
    args = parser.parse_args(argv)
    peer = not args.quick
    logging.getLogger("azure").setLevel(logging.CRITICAL)  # DefaultAzureCredential's failure report
    print("chain decision off Azure (median of 3 for literauth; one run for the peer)")
    print(f"{'library':40} {'IMDS':12} {'seconds':>8}")
    for library, case, seconds in chain_decision(peer):
        print(f"{library:40} {case:12} {seconds:8.3f}")
    print()
    print(f"{'source':26} {'library':16} {'cache hit us':>13} {'refresh CPU ms':>15}")
    for source, library, hit_ns, cpu_ms in sources(peer):
        print(f"{source:26} {library:16} {hit_ns / 1000:13.2f} {cpu_ms:15.2f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    raise SystemExit(main())
