"""Prometheus metrics of the calls of one process: what its sockets are in, read when
scraped, and the refusals (`call-error`) it answered.

    signaling_calls                           calls with a participant on this process
    signaling_participants                    this process's sockets in a call
    signaling_waiting                         this process's sockets in a waiting room
    signaling_refusals_total{event,reason}    call-error answers (reasons are the server's own messages)
"""

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from signaling.engine.server import Namespace
from signaling.meeting.caller import Caller


class MeetingMetrics(Collector):
    def __init__(self, namespace: Namespace, registry: CollectorRegistry):
        self.namespace = namespace
        self._refusals = Counter(
            "signaling_refusals", "Refused client events (call-error), by event and reason.", ["event", "reason"], registry=registry
        )
        registry.register(self)

    def refused(self, event: str, reason: str) -> None:
        self._refusals.labels(event, reason).inc()

    def collect(self):
        callers = [socket.data for socket in tuple(self.namespace.sockets.values()) if isinstance(socket.data, Caller)]
        rooms = [caller.room for caller in callers if caller.room is not None]
        values = (
            ("signaling_calls", "Calls with a participant on this process.", len(set(rooms))),
            ("signaling_participants", "This process's sockets in a call.", len(rooms)),
            ("signaling_waiting", "This process's sockets in a waiting room.", sum(1 for c in callers if c.waiting is not None)),
        )
        return [GaugeMetricFamily(name, documentation, value=value) for name, documentation, value in values]
