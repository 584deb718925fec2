"""AWS Signature Version 4: the pure `sign()` and `strict_url()`, and `SigV4Auth` for requests.

`sign()` computes the headers for one request from `AwsCredentials`; `SigV4Auth` signs every
`requests` call, first rewriting its URL to strict RFC 3986 encoding (a Bedrock model id's
``:`` travels as ``%3A``) so the server reads exactly what was signed.
"""

from .aws._sigv4 import ALGORITHM, sign, strict_url
from .integrations.requests import EXPIRED_CREDENTIAL_CODES, SigV4Auth, aws_error_code

__all__ = ["ALGORITHM", "EXPIRED_CREDENTIAL_CODES", "SigV4Auth", "aws_error_code", "sign", "strict_url"]
