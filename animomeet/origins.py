"""The one rule for which browser pages may act on this server, used by the REST API's
cookie check and by the Socket.IO endpoint. Pure: headers in, a decision out."""

from collections.abc import Collection, Mapping
from urllib.parse import urlsplit


def page_origin(headers: Mapping[str, str]) -> str:
    """The origin of the page that sent a request: its Origin header or, when a browser
    left that out, the origin of its Referer; '' when neither says."""
    origin = headers.get("origin", "")
    if not origin:
        referer = urlsplit(headers.get("referer", ""))
        origin = f"{referer.scheme}://{referer.netloc}" if referer.netloc else ""
    return origin.rstrip("/")


def origin_allowed(headers: Mapping[str, str], trusted: Collection[str] | str, *, unknown_allowed: bool) -> bool:
    """Whether the page behind a request is one of `trusted` origins ("*": any) or served
    by this very host. `unknown_allowed` decides for a request that names no page: a
    native client or server may connect a socket, but a cookie alone must not change state."""
    origin = page_origin(headers)
    if not origin:
        return unknown_allowed
    if trusted == "*" or origin in trusted:
        return True
    return urlsplit(origin).netloc == headers.get("host", "")
