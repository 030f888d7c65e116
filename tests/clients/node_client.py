"""Drive the official npm `socket.io-client` from pytest, through tests/clients/sio_driver.mjs.

    with NodeClients() as nc:
        a = nc.connect("a", server.url, transports=["websocket"], auth={"token": token})
        a.emit("join-call", {"room": "r1"})
        joined = a.wait_event("user-joined", where=lambda args: args[0]["id"] == a.id)

Every client keeps the log of all it received (connects, disconnects, upgrades, events,
acks), in order. Waits look at the whole log by default, so an event that arrived before
the wait began still counts; to look only at what comes later, take `mark = a.mark()`
first and pass `after=mark`. Binary values are `bytes` on the Python side.
"""

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().with_name("sio_driver.mjs")

# How much of the log a failure message shows, and how much of each record.
SHOWN_RECORDS = 40
SHOWN_RECORD_CHARS = 300


class DriverError(RuntimeError):
    """The Node driver rejected a command, or died."""


class ConnectError(Exception):
    """The client reported `connect_error` instead of connecting."""

    def __init__(self, message: str, data=None):
        super().__init__(message if data is None else f"{message} {data!r}")
        self.message = message
        self.data = data


class AckTimeout(AssertionError):
    """The server did not acknowledge an emit in time (or the socket disconnected first)."""


def to_json(value):
    """Python values as the driver reads them: bytes become {"$binary": base64}."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$binary": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def from_json(value):
    """Driver output as Python values: {"$binary": base64} becomes bytes."""
    if isinstance(value, list):
        return [from_json(item) for item in value]
    if isinstance(value, dict):
        if value.keys() == {"$binary"} and isinstance(value["$binary"], str):
            return base64.b64decode(value["$binary"])
        return {key: from_json(item) for key, item in value.items()}
    return value


class NodeClients:
    """One `node sio_driver.mjs` process and the named clients it drives."""

    def __init__(self):
        self._logs: dict[str, list[dict]] = {}
        self._driver_errors: list[dict] = []
        self._changed = threading.Condition()
        self._send_lock = threading.Lock()
        self._request_ids = itertools.count(1)
        self._process: subprocess.Popen | None = None
        self._stderr = None
        self._reader: threading.Thread | None = None

    def start(self) -> "NodeClients":
        node = shutil.which("node")
        if node is None:
            raise DriverError("`node` is not on PATH; the Node client tests need Node.js 20")
        if not (ROOT / "node_modules" / "socket.io-client").is_dir():
            raise DriverError(f"socket.io-client is not installed: run `npm ci` in {ROOT}")
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [node, str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read_events, name="sio-driver-reader", daemon=True)
        self._reader.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Disconnect every client and end the driver (killing it if it does not end)."""
        if self._process is None:
            return
        try:
            self._send({"cmd": "exit"})
            self._process.stdin.close()
        except (DriverError, OSError):
            pass  # it is gone already
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout)
        self._stderr.close()
        self._process = None

    def __enter__(self) -> "NodeClients":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def connect(
        self, name: str, url: str, *, namespace: str = "/", wait: bool = True, timeout: float = 5.0, **options
    ) -> "NodeClient":
        """Open client `name` on `url` + `namespace`; `options` go to `io()` as they are.

        The driver sets `forceNew: true, reconnection: false` unless `options` say otherwise.
        With `wait`, returns once connected or raises ConnectError on `connect_error`.
        (`timeout` is how long to wait; socket.io-client's own `timeout` option cannot be
        given here.)
        """
        with self._changed:
            if name in self._logs:
                raise ValueError(f"a client named {name!r} already exists")
            self._logs[name] = []
        client = NodeClient(self, name)
        self._send({"cmd": "connect", "client": name, "url": url, "namespace": namespace, "options": options})
        if wait:
            client.wait_connect(timeout=timeout)
        return client

    # Internals shared with NodeClient.

    def _send(self, command: dict) -> None:
        line = json.dumps(to_json(command)) + "\n"
        with self._send_lock:
            try:
                self._process.stdin.write(line)
                self._process.stdin.flush()
            except (BrokenPipeError, OSError) as error:
                raise DriverError(f"the driver is gone ({error}).{self._stderr_tail()}") from error

    def _read_events(self) -> None:
        for line in self._process.stdout:
            record = from_json(json.loads(line))
            record["at"] = time.monotonic()  # when the driver reported it
            with self._changed:
                if record["type"] == "error":
                    self._driver_errors.append(record)
                else:
                    self._logs[record["client"]].append(record)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()  # the driver ended: wake the waiters so they fail now

    def _wait_for_record(self, name: str, accept: Callable[[dict], bool], after: int, timeout: float) -> dict | None:
        """The first record of `name`'s log from index `after` that `accept`s, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((record for record in self._logs[name][after:] if accept(record)), None)
                if found is not None:
                    return found
                if self._driver_errors:
                    raise DriverError(f"the driver rejected commands: {self._driver_errors}")
                # The reader ends only after the last line the driver wrote, so nothing is missed.
                if not self._reader.is_alive():
                    raise DriverError(f"the driver stopped (exit code {self._process.poll()}).{self._stderr_tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def _records(self, name: str, after: int) -> list[dict]:
        with self._changed:
            return self._logs[name][after:]

    def _log_length(self, name: str) -> int:
        with self._changed:
            return len(self._logs[name])

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")[-2000:]
        return f" Its stderr:\n{text}" if text else ""


class NodeClient:
    """A handle on one named client of a NodeClients driver."""

    def __init__(self, clients: NodeClients, name: str):
        self._clients = clients
        self.name = name

    def __repr__(self) -> str:
        return f"<NodeClient {self.name} id={self.id}>"

    @property
    def id(self) -> str | None:
        """The socket id of the latest connection (it changes on reconnection)."""
        connects = self.records("connect")
        return connects[-1]["id"] if connects else None

    # Sending.

    def emit(self, event: str, *args) -> None:
        self._send("emit", event=event, args=list(args), ack=None)

    def emit_with_ack(self, event: str, *args, timeout: float = 5.0) -> list:
        """Emit and return the arguments the server acknowledged with.

        Raises AckTimeout when socket.io-client gives up after `timeout` seconds."""
        ack_id = str(next(self._clients._request_ids))
        mark = self.mark()
        self._send("emit", event=event, args=list(args), ack=ack_id, timeout_ms=round(timeout * 1000))
        # socket.io-client's own timer decides; ours is only a backstop in case it never reports.
        record = self.wait_record(
            lambda r: r["type"] in ("ack", "ack_error") and r["ack"] == ack_id,
            after=mark,
            timeout=timeout + 2,
            describe=f"ack of {event!r}",
        )
        if record["type"] == "ack_error":
            raise AckTimeout(f"{self.name}: no ack for {event!r} ({record['message']})\n{self._describe_log()}")
        return record["args"]

    def disconnect(self) -> None:
        """socket.disconnect(): reported as a `disconnect` with reason "io client disconnect"."""
        self._send("disconnect")

    def close_engine(self) -> None:
        """Close the Engine.IO connection under the socket, as if the network dropped it."""
        self._send("close_engine")

    # The log.

    def mark(self) -> int:
        """A position in the log, for `after=` in the methods below."""
        return self._clients._log_length(self.name)

    def records(self, kind: str | None = None, *, after: int = 0) -> list[dict]:
        """The raw driver records received since `after`, optionally of one type only."""
        return [r for r in self._clients._records(self.name, after) if kind is None or r["type"] == kind]

    def events(self, event: str, *, after: int = 0) -> list[list]:
        """The args of every `event` the server sent since `after`."""
        return [r["args"] for r in self.records("event", after=after) if r["event"] == event]

    def wait_record(
        self, accept: Callable[[dict], bool], *, after: int = 0, timeout: float = 5.0, describe: str = "record"
    ) -> dict:
        """The first record since `after` that `accept`s; AssertionError listing the log if none comes."""
        record = self._clients._wait_for_record(self.name, accept, after, timeout)
        if record is None:
            raise AssertionError(
                f"{self.name}: no {describe} within {timeout}s (looking from record #{after}).\n{self._describe_log()}"
            )
        return record

    def wait_event(
        self, event: str, *, where: Callable[[list], bool] | None = None, after: int = 0, timeout: float = 5.0
    ) -> list:
        """The args of the first `event` since `after` (that `where(args)` accepts)."""
        record = self.wait_record(
            _is_event(event, where),
            after=after,
            timeout=timeout,
            describe=f"{event!r} event" + (" matching `where`" if where else ""),
        )
        return record["args"]

    def assert_no_event(
        self, event: str, *, where: Callable[[list], bool] | None = None, after: int = 0, within: float = 0.5
    ) -> None:
        """Fail if an `event` (matching `where`) has come since `after`, or comes `within` seconds."""
        record = self._clients._wait_for_record(self.name, _is_event(event, where), after, within)
        if record is not None:
            raise AssertionError(f"{self.name}: unexpected {event!r} event {record['args']!r}\n{self._describe_log()}")

    def wait_connect(self, *, after: int = 0, timeout: float = 5.0) -> str:
        """The socket id of the first connection since `after`; ConnectError on `connect_error`."""
        record = self.wait_record(
            lambda r: r["type"] in ("connect", "connect_error"), after=after, timeout=timeout, describe="connect"
        )
        if record["type"] == "connect_error":
            raise ConnectError(record["message"], record["data"])
        return record["id"]

    def wait_disconnect(self, *, after: int = 0, timeout: float = 5.0) -> str:
        """The reason of the first disconnect since `after`, e.g. "io server disconnect"."""
        return self.wait_record(
            lambda r: r["type"] == "disconnect", after=after, timeout=timeout, describe="disconnect"
        )["reason"]

    def wait_upgrade(self, *, after: int = 0, timeout: float = 5.0) -> str:
        """The transport name of the first Engine.IO upgrade since `after` ("websocket")."""
        return self.wait_record(
            lambda r: r["type"] == "upgrade", after=after, timeout=timeout, describe="transport upgrade"
        )["transport"]

    # Asking the driver.

    def state(self, timeout: float = 5.0) -> dict:
        """The socket as socket.io-client sees it now: {"connected", "id", "transport"}."""
        request_id = str(next(self._clients._request_ids))
        mark = self.mark()
        self._send("state", req=request_id)
        record = self.wait_record(
            lambda r: r["type"] == "state" and r["req"] == request_id, after=mark, timeout=timeout, describe="state"
        )
        return {key: record[key] for key in ("connected", "id", "transport")}

    def transport(self) -> str | None:
        """The current Engine.IO transport: "polling", "websocket", or None before any connection."""
        return self.state()["transport"]

    def _send(self, cmd: str, **fields) -> None:
        self._clients._send({"cmd": cmd, "client": self.name, **fields})

    def _describe_log(self) -> str:
        log = self.records()
        shown = log[-SHOWN_RECORDS:]
        lines = [f"{self.name} received {len(log)} records" + (", the last ones:" if len(shown) < len(log) else ":")]
        first = len(log) - len(shown)
        for index, record in enumerate(shown, start=first):
            fields = {key: value for key, value in record.items() if key not in ("type", "client", "at")}
            text = f"  #{index} {record['type']} {fields!r}"
            lines.append(text if len(text) <= SHOWN_RECORD_CHARS else text[: SHOWN_RECORD_CHARS - 3] + "...")
        return "\n".join(lines)


def _is_event(event: str, where: Callable[[list], bool] | None) -> Callable[[dict], bool]:
    return lambda r: r["type"] == "event" and r["event"] == event and (where is None or where(r["args"]))
