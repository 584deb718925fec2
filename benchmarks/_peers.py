"""The libraries under test, each behind one small adapter with the same five questions.

An adapter builds the library's idiomatic client pointed at the local identity provider,
exposes its idiomatic "give me a token" call as `call()`, and knows how to put that client
into a named state through the library's public knobs and the token lifetime the identity
provider serves:

- ``fresh``: a token far from its refresh window.
- ``expired``: the library holds a token it will not hand out; the next call must fetch.
- ``stale``: the library holds a token it will still hand out, but inside its refresh window.

After `enter()` the identity provider serves one-hour tokens again, so a refresh yields a
fresh token and every library refreshes exactly as often as its design requires. `STATES`
documents, per library, how each state is reached; the README fragment quotes it.

Third-party modules are imported inside `build()`, never at module level, so importing this
module costs a benchmarked interpreter nothing it would not pay anyway.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from _idp import Control, IdpInfo

LIFETIME = 3600  # what the identity provider serves outside the state set-up
STALE_REMAINING = 200  # literauth: seconds left when "stale" (inside its 300 s margin, outside its 30 s skew)
GOOGLE_STALE_LIFETIME = 200  # google-auth: under its 225 s REFRESH_THRESHOLD, still valid
AZURE_EXPIRED_LIFETIME = 200  # msal: a cached token with under 300 s left is treated as expired
AZURE_REFRESH_IN = 1  # msal: refresh_on = now + refresh_in marks the token "aging" (refresh due)
BOTO_ADVISORY_LIFETIME = 700  # botocore: inside the 900 s advisory window, outside the 600 s mandatory one
BOTO_MANDATORY_LIFETIME = 602  # botocore: crosses into the 600 s mandatory window within seconds
BOTO_MANDATORY = 600  # botocore's mandatory refresh window, to wait for with refresh_needed()
STATE_WAIT = 15.0  # most seconds spent waiting for a library's clock to reach a state

STATES: dict[str, dict[str, str]] = {
    "literauth": {
        "clock": "the provider's public `clock=` option (time.time() plus an offset) and the fake "
        "server's clock are moved forward together, as if the time had passed",
        "expired": "fetch a 1 h token, then move both clocks 3600 s: no usable token remains",
        "stale": f"fetch a 1 h token, then move both clocks so {STALE_REMAINING} s remain: inside the "
        "300 s refresh margin, outside the 30 s expiry skew",
        "refresh": "`resolve(force_refresh=True)`",
    },
    "azure-identity": {
        "expired": f"the endpoint serves a {AZURE_EXPIRED_LIFETIME} s token; MSAL treats a cached "
        "token with under 300 s left as expired, so the next get_token() must fetch",
        "stale": f"the endpoint adds `refresh_in: {AZURE_REFRESH_IN}` to a 1 h token (Entra ID sends "
        "refresh_in for some tokens); after it passes, MSAL's refresh_on is due and the token still valid",
        "refresh": f"the endpoint serves {AZURE_EXPIRED_LIFETIME} s tokens, so every get_token() fetches",
    },
    "botocore": {
        "expired": f"STS serves a {BOTO_MANDATORY_LIFETIME} s credential; wait (polling the public "
        "refresh_needed(600)) until under 600 s remain: botocore's mandatory refresh, every caller blocks",
        "stale": f"STS serves a {BOTO_ADVISORY_LIFETIME} s credential: inside botocore's 900 s advisory "
        "window, outside the 600 s mandatory one",
        "refresh": f"STS serves {BOTO_ADVISORY_LIFETIME} s credentials, so every get_frozen_credentials() "
        "refreshes in the advisory window",
    },
    "google-auth": {
        "expired": "the endpoint serves `expires_in: 0`: the token is expired on arrival",
        "stale": f"the endpoint serves a {GOOGLE_STALE_LIFETIME} s token: inside google-auth's 225 s "
        "REFRESH_THRESHOLD (TokenState.STALE), not yet expired",
        "refresh": "`creds.refresh(request)`",
    },
}


class Library:
    """One library's idiomatic client for one kind of credential, against the local IdP."""

    key = ""  # command-line and JSON name
    label = ""  # table name
    family = ""  # STATES key: how states are reached
    distribution = ""  # whose version is reported
    kind = ""  # which endpoint of the identity provider it talks to
    credential = ""  # the row group: "Azure AD", "AWS STS", "Google"
    modules: tuple[str, ...] = ()  # the provider module(s) whose import is timed
    literauth = False
    call: Callable[[], Any]

    def __init__(self, info: IdpInfo, control: Control, *, time_travel: bool = False) -> None:
        self.info = info
        self.control = control
        self.time_travel = time_travel

    def build(self) -> None:
        """Create the client; sets `self.call`."""
        raise NotImplementedError

    def ident(self, result: Any) -> str:
        """What identifies the token a call returned (to compare tokens, never printed)."""
        raise NotImplementedError

    def enter(self, state: str) -> str:
        """Put the client into `state` ("fresh", "expired", "stale"); the ident of the token it holds."""
        raise NotImplementedError

    def prepare_refresh(self) -> None:
        """Set up so that `refresh()` performs one full token refresh."""
        self.control.configure(self.kind, lifetime=LIFETIME)
        self.call()

    def refresh(self) -> None:
        """One forced refresh, through the library's public API."""
        raise NotImplementedError

    def serve(self, lifetime: float) -> None:
        self.control.configure(self.kind, lifetime=lifetime)


def _session(ca_bundle: str) -> Any:
    import requests

    session = requests.Session()
    session.verify = ca_bundle
    return session


# -- literauth ---------------------------------------------------------------------------------


class _Literauth(Library):
    family = "literauth"
    distribution = "literauth"
    literauth = True

    def build(self) -> None:
        self.offset = 0.0
        options: dict[str, Any] = {"session": _session(self.info.ca_bundle)}
        if self.time_travel:  # only the state scenarios: the plain time.time() is cheaper
            options["clock"] = self._clock
        provider = self.provider = self._make(options)

        def call() -> Any:
            return provider.resolve()

        self.call = call

    def _make(self, options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _clock(self) -> float:
        return time.time() + self.offset

    def _advance(self, seconds: float) -> None:
        self.control.advance(seconds)
        self.offset += seconds

    def enter(self, state: str) -> str:
        self.serve(LIFETIME)
        held = self.ident(self.call())
        if state == "expired":
            self._advance(LIFETIME)
        elif state == "stale":
            self._advance(LIFETIME - STALE_REMAINING)
        return held

    def refresh(self) -> None:
        self.provider.resolve(force_refresh=True)

    def ident(self, result: Any) -> str:
        return str(result.token.expose_secret())


class LiterauthAzure(_Literauth):
    key, label, kind, credential = "literauth-azure", "literauth", "azure", "Azure AD"
    modules = ("literauth.azure.client_secret",)

    def _make(self, options: dict[str, Any]) -> Any:
        from literauth.azure import AzureAdCredentialProvider

        azure = self.info.azure
        return AzureAdCredentialProvider(
            azure["tenant_id"], azure["client_id"], azure["client_secret"],
            scope=azure["scope"], authority_host=azure["authority"], **options,
        )


class LiterauthSts(_Literauth):
    key, label, kind, credential = "literauth-sts", "literauth", "sts", "AWS STS"
    modules = ("literauth.aws.web_identity",)

    def _make(self, options: dict[str, Any]) -> Any:
        from literauth.aws import WebIdentityCredentialProvider

        sts = self.info.sts
        return WebIdentityCredentialProvider(
            sts["role_arn"], sts["token_file"], "literauth-bench", sts["region"],
            sts_endpoint=sts["endpoint"], **options,
        )

    def ident(self, result: Any) -> str:
        return str(result.access_key_id.expose_secret())


class LiterauthVertex(_Literauth):
    key, label, kind, credential = "literauth-vertex", "literauth", "google", "Google"
    modules = ("literauth.google.service_account",)

    def _make(self, options: dict[str, Any]) -> Any:
        from literauth.google import VertexOAuthCredentialProvider

        google = self.info.google
        return VertexOAuthCredentialProvider.from_key_file(google["key_file"], scopes=google["scope"], **options)


# -- the peers -----------------------------------------------------------------------------------


class AzureIdentity(Library):
    key = label = family = distribution = "azure-identity"
    kind, credential = "azure", "Azure AD"
    modules = ("azure.identity",)

    def build(self) -> None:
        from azure.identity import ClientSecretCredential

        azure = self.info.azure
        credential = self.credential_object = ClientSecretCredential(
            azure["tenant_id"], azure["client_id"], azure["client_secret"],
            authority=azure["authority"], disable_instance_discovery=True,
            connection_verify=self.info.ca_bundle,
        )
        scope = azure["scope"]

        def call() -> Any:
            return credential.get_token(scope)

        self.call = call

    def ident(self, result: Any) -> str:
        return str(result.token)

    def enter(self, state: str) -> str:
        if state == "expired":
            self.serve(AZURE_EXPIRED_LIFETIME)
            held = self.ident(self.call())
            self.serve(LIFETIME)
            return held
        if state == "stale":
            self.control.configure(self.kind, lifetime=LIFETIME, refresh_in=AZURE_REFRESH_IN)
            fetched = time.time()
            held = self.ident(self.call())
            self.control.configure(self.kind, refresh_in=None)
            # MSAL stores refresh_on = now + refresh_in and treats it as due once strictly past.
            time.sleep(max(0.0, int(fetched) + AZURE_REFRESH_IN + 1.05 - time.time()))
            return held
        self.serve(LIFETIME)
        return self.ident(self.call())

    def prepare_refresh(self) -> None:
        self.serve(AZURE_EXPIRED_LIFETIME)
        self.call()

    def refresh(self) -> None:
        self.call()


class Botocore(Library):
    key = label = family = distribution = "botocore"
    kind, credential = "sts", "AWS STS"
    modules = ("botocore.session",)

    def build(self) -> None:
        sts = self.info.sts
        missing = os.path.join(os.path.dirname(sts["token_file"]), "no-such-aws-file")
        os.environ.update({  # the variables EKS injects, plus the endpoint and CA of the local STS
            "AWS_ROLE_ARN": sts["role_arn"],
            "AWS_WEB_IDENTITY_TOKEN_FILE": sts["token_file"],
            "AWS_ROLE_SESSION_NAME": "botocore-bench",
            "AWS_REGION": sts["region"],
            "AWS_DEFAULT_REGION": sts["region"],
            "AWS_ENDPOINT_URL_STS": sts["endpoint"],
            "AWS_CA_BUNDLE": self.info.ca_bundle,
            "AWS_CONFIG_FILE": missing,
            "AWS_SHARED_CREDENTIALS_FILE": missing,
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        import botocore.session

        credentials = self.credentials = botocore.session.get_session().get_credentials()
        if credentials is None or getattr(credentials, "method", "") != "assume-role-with-web-identity":
            raise RuntimeError(f"botocore did not pick the web identity provider: {credentials!r}")

        def call() -> Any:
            return credentials.get_frozen_credentials()

        self.call = call

    def ident(self, result: Any) -> str:
        return str(result.access_key)

    def enter(self, state: str) -> str:
        if state == "stale":
            self.serve(BOTO_ADVISORY_LIFETIME)
            held = self.ident(self.call())
            self.serve(LIFETIME)
            return held
        if state == "expired":
            self.serve(BOTO_MANDATORY_LIFETIME)
            held = self.ident(self.call())
            self.serve(LIFETIME)
            deadline = time.monotonic() + STATE_WAIT
            while not self.credentials.refresh_needed(BOTO_MANDATORY):
                if time.monotonic() > deadline:
                    raise RuntimeError("botocore's credentials never reached the mandatory window")
                time.sleep(0.05)
            return held
        self.serve(LIFETIME)
        return self.ident(self.call())

    def prepare_refresh(self) -> None:
        self.serve(BOTO_ADVISORY_LIFETIME)
        self.call()

    def refresh(self) -> None:
        self.call()


class GoogleAuth(Library):
    key = label = family = distribution = "google-auth"
    kind, credential = "google", "Google"
    modules = ("google.oauth2.service_account", "google.auth.transport.requests")

    def build(self) -> None:
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        google = self.info.google
        # The idiomatic call: google-auth names Google's public token URI as the audience,
        # which the fake accepts as Google does, and posts to the key file's token_uri.
        self.creds = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            google["key_file"], scopes=[google["scope"]]
        )
        self.request = Request(_session(self.info.ca_bundle))
        self._set_call()

    def _set_call(self) -> None:
        creds, request = self.creds, self.request

        def call() -> Any:
            if not creds.valid:
                creds.refresh(request)
            return creds.token

        self.call = call

    def ident(self, result: Any) -> str:
        return str(result).removeprefix("Bearer ")

    def enter(self, state: str) -> str:
        if state == "expired":
            self.serve(0)
            self.creds.refresh(self.request)
            held = str(self.creds.token)
        elif state == "stale":
            self.serve(GOOGLE_STALE_LIFETIME)
            self.creds.refresh(self.request)
            held = str(self.creds.token)
        else:
            self.serve(LIFETIME)
            held = self.ident(self.call())
        self.serve(LIFETIME)
        return held

    def refresh(self) -> None:
        self.creds.refresh(self.request)


class GoogleAuthNonBlocking(GoogleAuth):
    key, label = "google-auth-nonblocking", "google-auth (non-blocking)"

    def _set_call(self) -> None:
        self.creds.with_non_blocking_refresh()  # opt-in: STALE tokens refresh on a background thread
        creds, request = self.creds, self.request
        url = "https://aiplatform.googleapis.com/v1/projects"

        def call() -> Any:
            headers: dict[str, str] = {}
            creds.before_request(request, "POST", url, headers)
            return headers["authorization"]

        self.call = call


LIBRARIES: dict[str, type[Library]] = {
    cls.key: cls
    for cls in (
        LiterauthAzure, AzureIdentity,
        LiterauthSts, Botocore,
        LiterauthVertex, GoogleAuth, GoogleAuthNonBlocking,
    )
}
LITERAUTH = tuple(key for key, cls in LIBRARIES.items() if cls.literauth)
