"""daphne, with what it lacks for this service:

- A request must arrive whole (its request line, headers and body) within
  HTTP_RECEIVE_TIMEOUT_S, else its connection is dropped. daphne hands a request to the
  application only once all of it has arrived and times out only a connection idle for
  60 s, so a client sending a byte now and then would hold a connection for as long as it
  likes (slowloris), unseen by the application.
- A drain on SIGTERM (or SIGINT). daphne speaks no ASGI lifespan: Twisted's signal handler
  stops the reactor, whose "before shutdown" triggers include daphne's, which cancels
  every application instance at once. Here that step first drains: /readyz answers 503,
  the listening sockets close (a load balancer's new connections go elsewhere), and every
  Engine.IO session closes as recoverable, within SIGNALING_DRAIN_S.
- autobahn pretty-prints its whole configuration for a debug line on every WebSocket
  connection, whether debug logging is on or not: 90 µs, 5 % of a join storm's CPU. Its
  debug lines get a plain repr instead (11 µs).
- What was loaded at start (Django, the URL map, the modules: most of the heap) is
  frozen out of every garbage collection. (Collecting the youngest generation every
  20,000 allocations instead of 700 as well made no measurable difference to joins, 0.99×
  in an A/B run, and RSS then grew by 0.7 to 1.1 MiB a cycle in bench/soak.py, where it
  is flat with the default.)

Takes daphne's arguments:

    python -m animomeet.serve -v 0 -b 127.0.0.1 -p 8080 animomeet.asgi:application
"""

import asyncio
import gc
import logging

import autobahn.websocket.protocol
from daphne.cli import CommandLineInterface  # first: it installs Twisted's asyncio reactor
from daphne.http_protocol import WebRequest
from daphne.server import Server
from django.apps import apps
from django.conf import settings
from twisted.internet import defer, reactor

from animomeet import health

log = logging.getLogger("animomeet.serve")


autobahn.websocket.protocol.pformat = repr  # for its debug lines only (see above)


class ReceiveBoundServer(Server):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read once the application is loaded, and with it the settings (and .env).
        self.receive_timeout = settings.HTTP_RECEIVE_TIMEOUT_S
        self.ports = []
        gc.freeze()  # the application is loaded: what lives now lives as long as the process

    def listen_success(self, port):
        super().listen_success(port)
        self.ports.append(port)

    def kill_all_applications(self):
        drained = defer.Deferred.fromFuture(asyncio.ensure_future(self.drain()))
        drained.addErrback(lambda failure: log.error("the drain failed: %s", failure.getErrorMessage()))
        drained.addBoth(lambda _: super(ReceiveBoundServer, self).kill_all_applications())
        return drained

    async def drain(self) -> None:
        started = reactor.seconds()
        for port in self.ports:  # first: a new connection is refused, and tried elsewhere
            port.stopListening()
        health.start_draining()
        signaling = apps.get_app_config("signaling").serving
        if signaling is not None:
            sessions = len(signaling.server.sessions)
            await signaling.drain(settings.SIGNALING_DRAIN_S)
            log.info("drained %d sessions in %.2f s", sessions, reactor.seconds() - started)

    def protocol_connected(self, protocol):
        """daphne makes a WebRequest as soon as a request line has arrived."""
        super().protocol_connected(protocol)
        if isinstance(protocol, WebRequest) and self.receive_timeout > 0:
            reactor.callLater(self.receive_timeout, self._drop_if_still_arriving, protocol)

    def _drop_if_still_arriving(self, request: WebRequest) -> None:
        # daphne starts processing (and sets request_start) once the body is complete.
        details = self.connections.get(request)
        if details is None or "disconnected" in details or hasattr(request, "request_start"):
            return
        log.info("dropped a request from %s still arriving after %s s", request.transport.getPeer().host, self.receive_timeout)
        request.transport.abortConnection()


class CommandLine(CommandLineInterface):
    server_class = ReceiveBoundServer


if __name__ == "__main__":
    CommandLine.entrypoint()
