"""The ICE servers a participant's browser uses: STUN, and TURN with short-lived credentials.

The credentials follow the TURN REST API scheme that coturn checks with `use-auth-secret`:
the username is `<expiry>:<user>` (expiry in Unix seconds) and the credential is
base64(HMAC-SHA1(secret, username)). The TURN server needs no call to us: it recomputes
the credential from the secret it shares with us and refuses it once the expiry is past.

The user part names who asked, for the TURN server's logs: an account's username, or a
random `guest-...` id for a guest (never the meeting code, which is all it takes to join,
nor anything secret). No Django request in here and the time is passed in, so that the
REST view and the socket's join can both use it, and tests can pick the clock.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings


@dataclass(frozen=True)
class IceConfig:
    stun_urls: tuple[str, ...]
    turn_urls: tuple[str, ...]
    turn_secret: str
    ttl_s: int

    @classmethod
    def from_settings(cls) -> "IceConfig":
        return cls(tuple(settings.STUN_URLS), tuple(settings.TURN_URLS), settings.TURN_SECRET, settings.TURN_TTL_S)


def turn_user(account: str | None) -> str:
    """The user part of a TURN username. Usernames made here hold no ':' (the separator
    coturn splits on); accounts made by the Node backend may, hence the quoting."""
    return quote(account, safe="") if account is not None else f"guest-{secrets.token_hex(8)}"


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def ice_servers(config: IceConfig, user: str, now: float) -> dict:
    """`{iceServers, ttl}`: RTCIceServer entries, valid for `ttl` seconds from `now`."""
    servers = [{"urls": list(config.stun_urls)}] if config.stun_urls else []
    if config.turn_urls:
        username = f"{int(now) + config.ttl_s}:{user}"
        servers.append(
            {"urls": list(config.turn_urls), "username": username, "credential": turn_credential(config.turn_secret, username)}
        )
    return {"iceServers": servers, "ttl": config.ttl_s}


def ice_servers_for(account: str | None, now: float) -> dict:
    """The list from the settings, for a logged-in `account` or (None) a guest."""
    return ice_servers(IceConfig.from_settings(), turn_user(account), now)
