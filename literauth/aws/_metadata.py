"""What the AWS metadata sources share: their JSON credentials answer and their error answers.

The ECS / EKS Pod Identity container endpoint and EC2 IMDS both answer
``{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`` (an ISO-8601 time), and both
report errors as small JSON objects (``code``/``message``, or ``Code``/``Message``) or plain text.
"""

from __future__ import annotations

from .._http import ErrorDetails, TokenResponse, _first_line
from .._oauth import parse_json_object
from .._safejson import decode_utf8, loads
from ..credentials import AwsCredentials, parse_rfc3339
from ..errors import TokenTextError
from ..secret import SecretString

__all__ = ["parse_json_credentials", "parse_metadata_error"]

_KEY_FIELDS = ("AccessKeyId", "SecretAccessKey", "Token", "Expiration")


def parse_json_credentials(response: TokenResponse) -> AwsCredentials:
    """`AwsCredentials` from a metadata answer; its `MalformedResponseError` when unusable.

    A ``Code`` other than ``Success`` (IMDS answers 200 with one when the role cannot be
    assumed) is reported with its ``Message``. The expiry is the endpoint's, uncorrected:
    these endpoints send no trustworthy ``Date``.
    """
    data = parse_json_object(response)
    code = data.get("Code")
    if isinstance(code, str) and code != "Success":
        message = data.get("Message")
        said = f": {_first_line(message, 200)}" if isinstance(message, str) and message.strip() else ""
        raise response.malformed(f"answered with Code {code[:60]!r} instead of credentials{said}")
    values = {name: data.get(name) for name in _KEY_FIELDS}
    missing = [name for name, value in values.items() if not isinstance(value, str) or not value.strip()]
    if missing:
        raise response.malformed(f"answered without {', '.join(missing)}")
    expiration = str(values["Expiration"]).strip()
    expires_at = parse_rfc3339(expiration)
    if expires_at is None:
        raise response.malformed(f"answered with an unreadable Expiration {expiration[:40]!r}")
    problem = ""
    try:
        return AwsCredentials(
            SecretString(str(values["AccessKeyId"]).strip()),
            SecretString(str(values["SecretAccessKey"]).strip()),
            SecretString(str(values["Token"]).strip()),
            expires_at,
        )
    except TokenTextError as exc:  # names the field and the character, never the value
        problem = str(exc)
    raise response.malformed(f"answered with unusable keys ({problem})")


def parse_metadata_error(response: TokenResponse) -> ErrorDetails:
    """``{"code", "message"}`` (either case), or the first line of a plain-text answer."""
    data = loads(response.body)
    if isinstance(data, dict):
        code = data.get("code", data.get("Code"))
        message = data.get("message", data.get("Message"))
        return ErrorDetails(
            error_code=code.strip()[:100] if isinstance(code, str) and code.strip() else None,
            description=message.strip() if isinstance(message, str) and message.strip() else None,
        )
    text = decode_utf8(response.body[:2000])
    description = _first_line(text, 200) if isinstance(text, str) and "<" not in text else ""
    return ErrorDetails(error_code=None, description=description or None)
