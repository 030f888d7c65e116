"""Prometheus metrics of one SocketServer (one process): what it holds, read when
scraped, and what it did, counted as it happens.

    signaling_engineio_sessions{transport}      open Engine.IO sessions, polling or websocket
    signaling_sockets{state}                    Socket.IO sockets: connected, or away (recovery window)
    signaling_events_received_total{event}      client events with a handler, by name
    signaling_relay_latency_seconds{event}      packet dispatched -> its handler done (its frames written out)
    signaling_deliveries_total                  packets written to a socket (or kept for one that is away)
    signaling_recoveries_total{result}          recovered; refused (back too late); expired (never back)
"""

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from signaling.engine.observer import ServerObserver
from signaling.engine.protocol.engineio import Transport
from signaling.engine.recovery import RECOVERABLE_REASONS

# From a tenth of a millisecond (a relayed signal) to seconds (a join-call that waits for
# the database).
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class EngineMetrics(ServerObserver, Collector):
    def __init__(self, server, registry: CollectorRegistry):
        self.server = server
        self._events = Counter(
            "signaling_events_received", "Client events with a handler, by name.", ["event"], registry=registry
        )
        self._latency = Histogram(
            "signaling_relay_latency_seconds",
            "From a client event's dispatch to the end of its handler, its frames written to the recipients' "
            "transports (or handed to the broker for other processes), by event.",
            ["event"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._recoveries = Counter(
            "signaling_recoveries", "Sockets whose client was away: recovered, refused or expired.", ["result"], registry=registry
        )
        self._by_event: dict[str, tuple] = {}  # event -> its counter and histogram children
        self._deliveries = 0  # a plain int: counted per packet and socket, on the busiest path
        registry.register(self)

    # --- as it happens (ServerObserver) --------------------------------------------------

    def event_handled(self, socket, event, seconds):
        children = self._by_event.get(event)
        if children is None:
            children = self._by_event[event] = (self._events.labels(event), self._latency.labels(event))
        children[0].inc()
        children[1].observe(seconds)

    def delivered(self, socket):
        self._deliveries += 1

    def recovery_succeeded(self, socket):
        self._recoveries.labels("recovered").inc()

    def recovery_failed(self, socket):
        self._recoveries.labels("refused").inc()

    def socket_removed(self, socket, reason):
        if socket.away and reason in RECOVERABLE_REASONS:  # the window ended without its client
            self._recoveries.labels("expired").inc()

    # --- when scraped (Collector) --------------------------------------------------------

    def collect(self):
        sessions = GaugeMetricFamily("signaling_engineio_sessions", "Open Engine.IO sessions, by transport.", labels=["transport"])
        by_transport = {transport.value: 0 for transport in Transport}
        for session in tuple(self.server.sessions.values()):
            by_transport[session.engine.transport.value] += 1
        for transport, count in by_transport.items():
            sessions.add_metric([transport], count)
        sockets = GaugeMetricFamily(
            "signaling_sockets", "Socket.IO sockets: connected, or away in their recovery window.", labels=["state"]
        )
        every = [socket for namespace in tuple(self.server.namespaces.values()) for socket in tuple(namespace.sockets.values())]
        away = sum(1 for socket in every if socket.away)
        sockets.add_metric(["connected"], len(every) - away)
        sockets.add_metric(["away"], away)
        deliveries = CounterMetricFamily("signaling_deliveries", "Packets written to a socket (or kept for one that is away).")
        deliveries.add_metric([], self._deliveries)
        return [sessions, sockets, deliveries]
