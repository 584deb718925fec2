"""Fake AWS container credentials endpoint: EKS Pod Identity (``/v1/credentials``) and ECS (``/v2/credentials/<id>``).

The Pod Identity path requires ``Authorization: <authorization_token>`` verbatim (400 without
it, 401 for another value), as the Pod Identity agent does; the ECS path needs none.
"""

from __future__ import annotations

import os
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from ...aws.container import ContainerCredentialsProvider
from ...secret import SecretString
from .._server import RecordedRequest, Refusal, Reply, Route
from ._metadata import MetadataCredentialsEndpoint

__all__ = ["POD_IDENTITY_PATH", "ContainerCredentialsEndpoint"]

POD_IDENTITY_PATH = "/v1/credentials"
_ECS_PATH = re.compile(r"/v2/credentials/[0-9a-f-]{8,64}")


class ContainerCredentialsEndpoint(MetadataCredentialsEndpoint):
    """The credentials endpoint an ECS task or an EKS pod with Pod Identity reads.

    `authorization_token` is what the Pod Identity path accepts (`require_authorization =
    False` accepts any request); `relative_uri` is a valid ECS path. Faults as in
    `MetadataCredentialsEndpoint`.
    """

    name = "aws_container"
    routes = (Route(frozenset({"GET"}), POD_IDENTITY_PATH), Route(frozenset({"GET"}), _ECS_PATH))

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self.authorization_token = SecretString("eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(48))
        self.relative_uri = f"/v2/credentials/{uuid.uuid4()}"
        self.require_authorization = True

    def reset(self) -> None:
        super().reset()
        self.require_authorization = True

    @property
    def full_uri(self) -> str:
        """What ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` holds for this fake."""
        return self.server.url + POD_IDENTITY_PATH

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        if request.path == POD_IDENTITY_PATH and self.require_authorization:
            sent = request.header("Authorization")
            if sent is None:
                raise Refusal("MissingAuthorization", "Authorization header is missing", status=400)
            if SecretString(sent) != self.authorization_token:
                raise Refusal("InvalidToken", "the service account token is not valid", status=401)
        elif request.path != POD_IDENTITY_PATH and request.path != self.relative_uri:
            raise Refusal("InvalidIdInRequest", "no credentials for this id", status=400)
        reply = self.issue()
        return reply

    def credentials_fields(self, credentials: Any) -> dict[str, object]:
        fields = super().credentials_fields(credentials)
        return {**fields, "AccountId": "123456789012", "RoleArn": "arn:aws:iam::123456789012:role/literauth-pod"}

    def write_token_file(self, path: str | os.PathLike[str]) -> str:
        """Write `authorization_token` (with a trailing newline, as mounted files have) to `path`."""
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.authorization_token.expose_secret() + "\n")
        return os.fspath(path)

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """Pod Identity's variables: the full URI and a token file in `directory` (else the literal token)."""
        env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.full_uri}
        if directory is None:
            env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = self.authorization_token.expose_secret()
        else:
            env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = self.write_token_file(
                os.path.join(directory, "eks-pod-identity-token"))
        return env

    def make_provider(self, **options: Any) -> ContainerCredentialsProvider:
        """A provider for this endpoint's Pod Identity path; keyword arguments override."""
        if "authorization_token_file" not in options:
            options.setdefault("authorization_token", self.authorization_token)
        if "relative_uri" not in options:
            options.setdefault("full_uri", self.full_uri)
        return ContainerCredentialsProvider(**options)
