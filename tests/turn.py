"""Debian's coturn for tests, and a small TURN client (RFC 5389 / 5766, UDP) to talk to it.

TurnServer starts `turnserver` on 127.0.0.1 with the TURN REST API scheme
(`use-auth-secret`), no configuration file, no CLI, a log and a user database of its own
in a temporary directory, and stops it by its process group. TurnClient makes an
Allocate with the long-term credential mechanism, as a browser does with the
`username` / `credential` of an RTCIceServer, and can relay one datagram through it.
"""

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
REALM = "animo.test"

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS = 0x0001, 0x0101
ALLOCATE_REQUEST, ALLOCATE_SUCCESS, ALLOCATE_ERROR = 0x0003, 0x0103, 0x0113
CREATE_PERMISSION_REQUEST, CREATE_PERMISSION_SUCCESS = 0x0008, 0x0108
SEND_INDICATION, DATA_INDICATION = 0x0016, 0x0017
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, REALM_ATTR, NONCE = 0x0006, 0x0008, 0x0009, 0x0014, 0x0015
XOR_PEER_ADDRESS, DATA, XOR_RELAYED_ADDRESS, REQUESTED_TRANSPORT = 0x0012, 0x0013, 0x0016, 0x0019
UDP_PROTOCOL = 17

# What coturn's moderate verbosity (-v) logs of each allocation.
RELAY_ADDRESS_LOGGED = re.compile(r"Local relay addr: (\d+\.\d+\.\d+\.\d+):(\d+)")
ALLOCATION_LOGGED = re.compile(r"session \d+: new, realm=<[^>]*>, username=<([^>]*)>")


class TurnServer:
    """One coturn process on 127.0.0.1:<free port>, relaying on 127.0.0.1."""

    def __init__(self, secrets_accepted: list[str]):
        self.secrets_accepted = secrets_accepted
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="animo-turn-"))
        self.log_path = self.directory / "turnserver.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def command(self) -> list[str]:
        return [
            TURNSERVER,
            "-n",  # no configuration file: never /etc/turnserver.conf
            "--no-cli", "--no-tls", "--no-dtls",
            "-v",  # logs each allocation: its relayed address and username (allocations())
            "-L", "127.0.0.1", "-E", "127.0.0.1", "-p", str(self.port),
            "--realm", REALM, "--use-auth-secret",
            *[f"--static-auth-secret={secret}" for secret in self.secrets_accepted],
            "--userdb", str(self.directory / "turndb"),  # not /var/lib/turn/turndb
            "--log-file", str(self.log_path), "--simple-log", "--no-stdout-log",
            "--pidfile", str(self.directory / "turnserver.pid"),
            # The tests' peers live on 127.0.0.1, which coturn refuses to relay to by default.
            "--allow-loopback-peers",
        ]

    def start(self, timeout: float = 10.0) -> "TurnServer":
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited early ({self.process.returncode}):\n{self.log()}")
            if self._answers_binding():
                return self
        self.stop()
        raise RuntimeError(f"turnserver did not answer within {timeout}s:\n{self.log()}")

    def _answers_binding(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            try:
                sock.sendto(encode(BINDING_REQUEST, secrets.token_bytes(12), []), ("127.0.0.1", self.port))
                return decode(sock.recv(2048)).type == BINDING_SUCCESS
            except OSError:
                return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def allocations(self) -> dict:
        """From the log: the relayed addresses coturn allocated, and for which usernames."""
        log = self.log()
        return {
            "relay_addresses": sorted({(host, int(port)) for host, port in RELAY_ADDRESS_LOGGED.findall(log)}),
            "usernames": sorted(set(ALLOCATION_LOGGED.findall(log))),
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- STUN messages ------------------------------------------------------------------------


@dataclass
class Message:
    type: int
    transaction: bytes
    attributes: dict[int, bytes]

    def error(self) -> tuple[int, str] | None:
        raw = self.attributes.get(ERROR_CODE)
        if raw is None:
            return None
        return raw[2] * 100 + raw[3], raw[4:].decode(errors="replace")


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def encode(kind: int, transaction: bytes, attributes: list[tuple[int, bytes]], key: bytes | None = None) -> bytes:
    body = b"".join(_attribute(k, v) for k, v in attributes)
    if key is None:
        return struct.pack("!HHI", kind, len(body), MAGIC_COOKIE) + transaction + body
    # MESSAGE-INTEGRITY covers the message with its length already counting the attribute.
    header = struct.pack("!HHI", kind, len(body) + 24, MAGIC_COOKIE) + transaction
    integrity = hmac.new(key, header + body, hashlib.sha1).digest()
    return header + body + _attribute(MESSAGE_INTEGRITY, integrity)


def decode(data: bytes) -> Message:
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != MAGIC_COOKIE:
        raise ValueError("not a STUN message")
    attributes, offset = {}, 20
    while offset < 20 + length:
        attr, size = struct.unpack("!HH", data[offset:offset + 4])
        attributes.setdefault(attr, data[offset + 4:offset + 4 + size])
        offset += 4 + size + (-size % 4)
    return Message(kind, data[8:20], attributes)


def xor_address(raw: bytes) -> tuple[str, int]:
    port = struct.unpack("!H", raw[2:4])[0] ^ (MAGIC_COOKIE >> 16)
    address = struct.unpack("!I", raw[4:8])[0] ^ MAGIC_COOKIE
    return str(ipaddress.IPv4Address(address)), port


def xor_address_value(host: str, port: int) -> bytes:
    address = int(ipaddress.IPv4Address(host)) ^ MAGIC_COOKIE
    return struct.pack("!BBHI", 0, 1, port ^ (MAGIC_COOKIE >> 16), address)


class TurnRefused(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(f"{code} {reason}")
        self.code = code


class TurnClient:
    """A UDP TURN client with the long-term credential mechanism (RFC 5389 §10.2)."""

    def __init__(self, server: tuple[str, int], username: str, credential: str, timeout: float = 2.0):
        self.server = server
        self.username = username
        self.credential = credential
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.bind(("127.0.0.1", 0))
        self.key: bytes | None = None
        self.realm = self.nonce = b""

    def close(self) -> None:
        self.sock.close()

    def _request(self, kind: int, attributes: list[tuple[int, bytes]], signed: bool) -> Message:
        transaction = secrets.token_bytes(12)
        if signed:
            attributes = [*attributes, (USERNAME, self.username.encode()), (REALM_ATTR, self.realm), (NONCE, self.nonce)]
        self.sock.sendto(encode(kind, transaction, attributes, self.key if signed else None), self.server)
        while True:
            answer = decode(self.sock.recv(4096))
            if answer.transaction == transaction:
                return answer

    def allocate(self) -> tuple[str, int]:
        """The relayed address coturn allocated, or TurnRefused with its error code."""
        transport = [(REQUESTED_TRANSPORT, bytes([UDP_PROTOCOL, 0, 0, 0]))]
        challenge = self._request(ALLOCATE_REQUEST, transport, signed=False)
        error = challenge.error()
        if error is None or error[0] != 401:
            raise AssertionError(f"an unsigned Allocate should be challenged with 401, got {challenge}")
        self.realm, self.nonce = challenge.attributes[REALM_ATTR], challenge.attributes[NONCE]
        self.key = hashlib.md5(f"{self.username}:{self.realm.decode()}:{self.credential}".encode()).digest()
        answer = self._request(ALLOCATE_REQUEST, transport, signed=True)
        if answer.type != ALLOCATE_SUCCESS:
            raise TurnRefused(*(answer.error() or (0, f"message type {answer.type:#06x}")))
        return xor_address(answer.attributes[XOR_RELAYED_ADDRESS])

    def send_to(self, peer: tuple[str, int], data: bytes) -> None:
        """Permission for the peer, then the datagram through the relay."""
        peer_address = (XOR_PEER_ADDRESS, xor_address_value(*peer))
        answer = self._request(CREATE_PERMISSION_REQUEST, [peer_address], signed=True)
        if answer.type != CREATE_PERMISSION_SUCCESS:
            raise TurnRefused(*(answer.error() or (0, f"message type {answer.type:#06x}")))
        self.sock.sendto(encode(SEND_INDICATION, secrets.token_bytes(12), [peer_address, (DATA, data)]), self.server)

    def receive(self) -> tuple[tuple[str, int], bytes]:
        """The next Data indication: (the peer it came from, its data)."""
        while True:
            message = decode(self.sock.recv(4096))
            if message.type == DATA_INDICATION:
                return xor_address(message.attributes[XOR_PEER_ADDRESS]), message.attributes[DATA]
