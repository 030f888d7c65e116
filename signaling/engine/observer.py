"""What the server tells whoever watches it (its metrics, a product's live status of its
sockets). The server calls these in line with its work, so each must be quick and must
not wait: work that waits goes to a task (engine/tasks.py). The sockets and sessions are
server.Socket and session.Session, untyped here so that this module imports neither
(both import it)."""

import logging

log = logging.getLogger("signaling.observer")


class ServerObserver:
    """Every method does nothing; an observer overrides those it needs."""

    def event_handled(self, socket, event: str, seconds: float) -> None:
        """A client's event with a handler was handled, in `seconds` from its packet's
        dispatch to the handler's end (its emits written to the recipients' transports,
        or handed to the broker for other processes)."""

    def delivered(self, socket) -> None:
        """Messages of one packet were written to `socket` (or kept for it while away)."""

    def socket_removed(self, socket, reason: str) -> None:
        """The socket left its namespace; `socket.away` says whether its client was away."""

    def socket_away(self, socket) -> None:
        """Its transport is gone; the recovery window runs."""

    def recovery_succeeded(self, socket) -> None: ...

    def recovery_failed(self, socket) -> None:
        """Its client came back too late to be given all it missed: the socket ends."""

    def session_upgraded(self, session) -> None:
        """The session moved from long-polling to its WebSocket."""


class Observers(ServerObserver):
    """Several observers as one; one that fails is logged and never stops the server."""

    def __init__(self):
        self._observers: list[ServerObserver] = []
        # Those that watch deliveries: the most frequent call is made to them alone.
        self._delivery_watchers: list[ServerObserver] = []

    def add(self, observer: ServerObserver) -> None:
        self._observers.append(observer)
        if type(observer).delivered is not ServerObserver.delivered:
            self._delivery_watchers.append(observer)

    def _each(self, name: str, *args) -> None:
        for observer in self._observers:
            try:
                getattr(observer, name)(*args)
            except Exception:
                log.exception("observer %s failed in %s", type(observer).__name__, name)

    def event_handled(self, socket, event, seconds):
        self._each("event_handled", socket, event, seconds)

    def delivered(self, socket):
        for observer in self._delivery_watchers:  # without the lookup by name
            try:
                observer.delivered(socket)
            except Exception:
                log.exception("observer %s failed in delivered", type(observer).__name__)

    def socket_removed(self, socket, reason):
        self._each("socket_removed", socket, reason)

    def socket_away(self, socket):
        self._each("socket_away", socket)

    def recovery_succeeded(self, socket):
        self._each("recovery_succeeded", socket)

    def recovery_failed(self, socket):
        self._each("recovery_failed", socket)

    def session_upgraded(self, session):
        self._each("session_upgraded", session)
