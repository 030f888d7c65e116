"""A TCP proxy on loopback that can cut every connection through it at once, without a
WebSocket close frame or an HTTP answer: what a network switch or a load balancer
restart does to a client's connection."""

import socket
import threading
import time

from tests.servers import free_port


class CuttableProxy:
    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._down_until = 0.0
        self.refused = 0  # connections turned away while the network was down
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._down_until:  # the network is down: no way through
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            self._drop(end)

    def _drop(self, end: socket.socket) -> None:
        with self._lock:
            self._open.discard(end)
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        end.close()

    def cut(self, down_for: float = 0.5, then_to: int | None = None) -> None:
        """Sever every connection now, and refuse new ones for `down_for` seconds; then
        lead them to port `then_to` if given (a load balancer picking another server)."""
        self._down_until = time.monotonic() + down_for
        if then_to is not None:
            self.target_port = then_to
        with self._lock:
            ends = list(self._open)
        for end in ends:
            self._drop(end)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut(0)
