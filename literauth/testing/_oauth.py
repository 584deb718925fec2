"""`OAuthTokenEndpoint`: the shared frame of fake OAuth 2.0 token endpoints (Azure AD, Google).

It routes ``POST <token path>``, checks the form against a table of `FormField`s in order,
issues JSON token answers and answers `Refusal`s as OAuth JSON errors. Fakes add only what
their service checks beyond the table and the shape of their answers.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

from ._server import Endpoint, RecordedRequest, Refusal, Reply, Route

__all__ = ["FormField", "OAuthTokenEndpoint", "b64url", "b64url_decode"]

JSON_TYPE = "application/json; charset=utf-8"


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2), as in JWTs."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded base64url text; `ValueError` when it is not base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclasses.dataclass(frozen=True)
class FormField:
    """One row of a form check: the field, the refusal when it is absent, the values accepted.

    `missing` builds the refusal for an absent or empty field (None: the field is optional);
    `values` lists what is accepted (None: anything), and `wrong` builds the refusal for
    another value (default: `missing`'s).
    """

    name: str
    missing: Callable[[], Refusal] | None
    values: frozenset[str] | None = None
    wrong: Callable[[str], Refusal] | None = None

    def check(self, form: Mapping[str, str]) -> None:
        """Raise this row's `Refusal` when `form` does not satisfy it."""
        value = form.get(self.name)
        if not value:
            if self.missing is not None:
                raise self.missing()
            return
        if self.values is not None and value not in self.values:
            if self.wrong is not None:
                raise self.wrong(value)
            if self.missing is not None:
                raise self.missing()


class OAuthTokenEndpoint(Endpoint):
    """A fake OAuth 2.0 token endpoint: a form table, JSON token answers, JSON errors.

    Subclasses set `token_route`, `form_fields` and `reply_headers`, and implement
    `respond()` (usually `check_form()`, their own checks, then `token_reply()`).
    """

    form_fields: ClassVar[tuple[FormField, ...]] = ()  #: checked in order by `check_form()`
    reply_headers: ClassVar[Mapping[str, str]] = {}  #: sent with every JSON answer
    token_type: ClassVar[str] = "Bearer"

    @classmethod
    def token_route(cls, path: str = "/token") -> tuple[Route, ...]:
        """The usual routing: ``POST path``."""
        return (Route(frozenset({"POST"}), path),)

    # -- checking -----------------------------------------------------------------------

    def check_form(self, form: Mapping[str, str], fields: Sequence[FormField] | None = None) -> None:
        """Raise the `Refusal` of the first row of `fields` (default `form_fields`) that `form` fails."""
        for row in self.form_fields if fields is None else fields:
            row.check(form)

    # -- answering ------------------------------------------------------------------------

    def json_reply(self, status: int, body: Mapping[str, object], headers: Mapping[str, str] | None = None) -> Reply:
        """A JSON answer with `reply_headers` (and `headers`)."""
        merged = {**self.reply_headers, **(headers or {})}
        return Reply(status, json.dumps(body).encode("utf-8"), merged, content_type=JSON_TYPE)

    def token_fields(self, lifetime: int) -> dict[str, object]:
        """The fields of a token answer besides `access_token` (Azure adds `ext_expires_in`)."""
        return {"token_type": self.token_type, "expires_in": lifetime}

    def token_reply(self, access_token: str, headers: Mapping[str, str] | None = None) -> Reply:
        """The 200 answer carrying `access_token`, valid for `lifetime` seconds."""
        return self.json_reply(200, {**self.token_fields(int(self.lifetime)), "access_token": access_token}, headers)

    def error_body(self, refusal: Refusal, request: RecordedRequest | None) -> dict[str, object]:
        """The JSON of an error answer: RFC 6749's `error` and `error_description`."""
        return {"error": refusal.error, "error_description": refusal.description}

    def refusal_reply(self, refusal: Refusal, request: RecordedRequest | None) -> Reply:
        return self.json_reply(refusal.status, self.error_body(refusal, request))

    # -- scripted trouble -------------------------------------------------------------------

    def fail_with(
        self, error: str, description: str = "", *, status: int = 400, code: int | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` requests with this OAuth error, in the service's JSON shape."""
        reply = self.refusal_reply(Refusal(error, description, status=status, code=code), None)
        self.fail_with_reply(reply, times=times)

    # -- bodies for the campaigns ----------------------------------------------------------------

    def success_body(self) -> bytes:
        placeholder = ".".join(b64url(json.dumps(part).encode()) for part in ({"typ": "JWT"}, {}))
        body = {**self.token_fields(int(self.default_lifetime)), "access_token": f"{placeholder}.{b64url(b'sig')}"}
        return json.dumps(body).encode()

    def no_token_body(self) -> bytes:
        return json.dumps(self.token_fields(int(self.default_lifetime))).encode()


def random_b64url(size: int) -> str:
    """`size` random bytes as unpadded base64url."""
    return b64url(secrets.token_bytes(size))
