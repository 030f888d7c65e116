"""The one rule for a client's address, used by the REST API (login throttling, the request
log) and by the Socket.IO endpoint (limits per address). Pure: what the connection says in,
an address out."""


def client_address(peer: str, forwarded_for: str, trusted_proxies: int) -> str:
    """The connection's peer, or with `trusted_proxies` proxies in front, the
    X-Forwarded-For entry that the outermost trusted proxy appended (entries left of it
    are whatever the client sent, so they are not believed)."""
    if trusted_proxies <= 0:
        return peer
    forwarded = [a.strip() for a in forwarded_for.split(",") if a.strip()]
    return forwarded[-trusted_proxies] if len(forwarded) >= trusted_proxies else peer
