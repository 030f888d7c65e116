"""The one rule for which token a request presents, for the REST API and the socket alike,
and the form in which a token is stored (its digest).

A client presents a token explicitly (`Authorization: Bearer`, or the Socket.IO CONNECT
`auth` payload's `token`), or its browser sends the login cookie by itself. Tokens are
never read from URLs: they would end up in access logs.
"""

import hashlib
import re
from typing import NamedTuple

# What login hands out: 20 random bytes as hex, as the Node backend did.
TOKEN_PATTERN = re.compile(r"[0-9a-f]{40}")


def token_digest(raw_token: str) -> str:
    """The stored form of a token (documents.AuthToken)."""
    return hashlib.sha256(raw_token.encode()).hexdigest()


class Credential(NamedTuple):
    token: str
    from_cookie: bool  # sent by the browser on its own, not asked for by the client's code


def choose_credential(*, presented: object, cookie: str | None) -> Credential | None:
    """The presented token wins when it has a token's shape. The web client sends
    `Bearer null` while it keeps no token itself, and then its cookie must count; with no
    cookie, a presented value of any other shape is judged (and refused) as it is."""
    presented = presented if isinstance(presented, str) else ""
    if presented and (TOKEN_PATTERN.fullmatch(presented) or not cookie):
        return Credential(presented, from_cookie=False)
    if cookie:
        return Credential(cookie, from_cookie=True)
    return None


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header, split as the Node backend
    did; '' when the header is absent or malformed."""
    parts = authorization.split(" ")
    return parts[1] if authorization.startswith("Bearer ") and len(parts) > 1 else ""
