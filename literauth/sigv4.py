"""AWS Signature Version 4: the pure `sign()` and `strict_url()`, and `SigV4Auth` for requests.

`sign()` computes the headers for one request from `AwsCredentials`, for the URL exactly as
it will be sent; `SigV4Auth` signs every `requests` call, first rewriting its URL to strict
RFC 3986 encoding (a Bedrock model id's ``:`` travels as ``%3A``) so no proxy or server
re-encodes what was signed.
"""

from .aws._sigv4 import ALGORITHM, sign, strict_url
from .integrations.requests import SigV4Auth

__all__ = ["ALGORITHM", "SigV4Auth", "sign", "strict_url"]
