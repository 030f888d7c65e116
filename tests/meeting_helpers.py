"""Helpers for the Socket.IO, meeting and host-control tests.

- `running_server(...)`: a daphne process for a whole test module (the `start_server`
  fixture of conftest.py is per test).
- `Rest`: signup / login / create-meet / PATCH against a daphne process with `requests`
  (with no MONGODB_URL each process has its own in-memory database, so REST calls must
  go to the process the sockets talk to).
- `PyClient`: python-socketio's `AsyncClient` on an event loop of its own thread, with
  the same log-and-wait API as tests/clients/node_client.NodeClient, so that one test can
  drive both kinds of client side by side.
- `callback_application`: a tiny Socket.IO server (ASGI) whose handler emits to the client
  *with a callback*, for the server-to-client ack test.
"""

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import requests
import socketio

from tests.conftest import server_env
from tests.servers import DaphneServer

PASSWORD = "correct horse battery"
MEDIA_ON = {"audioEnabled": True, "audioAvailable": True, "videoEnabled": True, "videoAvailable": True}


def unique(prefix: str) -> str:
    """A name no other test uses: rooms, usernames, meeting codes (lowercase)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def running_server(app: str = "animomeet.asgi:application", **env):
    """A daphne process for a module-scoped fixture: cheap bcrypt, and a sign-up limit
    that the module's many accounts from 127.0.0.1 stay under, unless told otherwise."""
    env.setdefault("BCRYPT_ROUNDS", 4)
    env.setdefault("RATE_LIMIT_SIGNUP", "10000/60")
    server = DaphneServer(app, env=server_env(**env)).start()
    try:
        yield server
    finally:
        server.stop()


# --- REST ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    username: str
    name: str
    token: str
    cookie: str  # the value of the `token` cookie login set

    @property
    def cookie_header(self) -> dict:
        return {"Cookie": f"token={self.cookie}"}


class Rest:
    def __init__(self, base_url: str):
        self.base = base_url + "/api/v1"

    def account(self, prefix: str = "user", name: str | None = None) -> Account:
        """Sign a fresh user up and log in; the token from the body and the cookie."""
        username = unique(prefix).replace("-", "_")
        name = name or prefix.capitalize()
        response = requests.post(
            f"{self.base}/users/signup", json={"name": name, "username": username, "password": PASSWORD}, timeout=10
        )
        assert response.status_code == 201, response.text
        session = requests.Session()
        response = session.post(f"{self.base}/users/login", json={"username": username, "password": PASSWORD}, timeout=10)
        assert response.status_code == 200, response.text
        cookie = response.cookies.get("token")
        assert cookie, f"login set no `token` cookie: {response.headers}"
        return Account(username, name, response.json()["token"], cookie)

    def create_meeting(self, host: Account, code: str | None = None) -> str:
        code = code or unique("meet")
        response = requests.post(
            f"{self.base}/meeting/create-meet/{code}", headers={"Authorization": f"Bearer {host.token}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        return code

    def patch_meeting(self, host: Account, code: str, body: dict) -> dict:
        response = requests.patch(
            f"{self.base}/meeting/{code}", json=body, headers={"Authorization": f"Bearer {host.token}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()["meeting"]


# --- meeting events --------------------------------------------------------------------


def join_payload(room: str, username: str | None = None, name: str | None = None, **media) -> dict:
    payload = {"roomID": room, "username": username, "name": name, **MEDIA_ON}
    payload.update(media)
    return {key: value for key, value in payload.items() if value is not None}


def is_own_join(client) -> Callable[[list], bool]:
    """For wait_event("user-joined"): the event announcing `client` itself."""
    return lambda args: args[0]["id"] == client.id and not args[0].get("existing")


def join(client, room: str, username: str | None = None, name: str | None = None, timeout: float = 5.0, **media) -> dict:
    """Emit join-call and return the user-joined that announces this client, once the
    roster entries (`existing: true`) about everyone already there have arrived too."""
    mark = client.mark()
    client.emit("join-call", join_payload(room, username, name, **media))
    own = client.wait_event("user-joined", where=is_own_join(client), after=mark, timeout=timeout)[0]
    for other in own["clients"]:
        if other != client.id:
            client.wait_event(
                "user-joined", where=lambda args, other=other: args[0]["id"] == other and args[0].get("existing"),
                after=mark, timeout=timeout,
            )
    return own


def call_error(client, event: str, *, after: int = 0, timeout: float = 5.0) -> str:
    """The message of the first call-error about `event` since `after`."""
    return client.wait_event("call-error", where=lambda args: args[0]["event"] == event, after=after, timeout=timeout)[0][
        "message"
    ]


def event_names(client, *, after: int = 0) -> list[str]:
    return [record["event"] for record in client.records("event", after=after)]


# --- python-socketio AsyncClient, driven synchronously -----------------------------------


class PyClient:
    """python-socketio's AsyncClient on a loop in its own thread.

    Its log holds records shaped like the Node driver's: {"type": "connect" | "disconnect"
    | "connect_error" | "event", "namespace", "event", "args", "id", "reason"}."""

    def __init__(self, name: str = "py", **client_options):
        self.name = name
        self._log: list[dict] = []
        self._changed = threading.Condition()
        self._answers: dict[str, Callable] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"pyclient-{name}", daemon=True)
        self._thread.start()
        self.sio: socketio.AsyncClient = self._run(self._make(client_options))

    async def _make(self, options: dict) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=options.pop("reconnection", False), **options)

        async def on_connect(namespace):
            self._record({"type": "connect", "namespace": namespace, "id": sio.get_sid(namespace)})

        async def on_disconnect(namespace, reason=None):
            self._record({"type": "disconnect", "namespace": namespace, "reason": reason})

        async def on_connect_error(namespace, data=None):
            self._record({"type": "connect_error", "namespace": namespace, "data": data})

        async def on_any(event, namespace, *args):
            self._record({"type": "event", "namespace": namespace, "event": event, "args": list(args)})
            answer = self._answers.get(event)
            return answer(*args) if answer is not None else None

        sio.on("connect", on_connect, namespace="*")
        sio.on("disconnect", on_disconnect, namespace="*")
        sio.on("connect_error", on_connect_error, namespace="*")
        sio.on("*", on_any, namespace="*")
        return sio

    def _run(self, coroutine, timeout: float = 15.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _record(self, record: dict) -> None:
        with self._changed:
            self._log.append(record)
            self._changed.notify_all()

    # Connecting.

    def connect(self, url: str, *, namespaces: list[str] | None = None, timeout: float = 5.0, **options) -> "PyClient":
        self._run(self.sio.connect(url, namespaces=namespaces, wait_timeout=timeout, **options), timeout + 5)
        return self

    def answer(self, event: str, reply: Callable) -> None:
        """Reply to server emits of `event` that ask for an ack with `reply(*args)`."""
        self._answers[event] = reply

    @property
    def id(self) -> str | None:
        return self.sid("/")

    def sid(self, namespace: str = "/") -> str | None:
        return self.sio.get_sid(namespace)

    def transport(self) -> str | None:
        return self.sio.transport()

    @property
    def connected(self) -> bool:
        return self.sio.connected

    def emit(self, event: str, *args, namespace: str = "/") -> None:
        self._run(self.sio.emit(event, tuple(args) if len(args) != 1 else args[0], namespace=namespace))

    def call(self, event: str, *args, namespace: str = "/", timeout: float = 5.0):
        """Emit with an ack and return what the server acknowledged with."""
        data = tuple(args) if len(args) != 1 else args[0]
        return self._run(self.sio.call(event, data, namespace=namespace, timeout=timeout), timeout + 5)

    def disconnect(self) -> None:
        self._run(self.sio.disconnect())

    def close(self) -> None:
        try:
            if self.sio.connected or self.sio.eio.state != "disconnected":
                self._run(self.sio.disconnect(), 5)
        except Exception:  # noqa: BLE001 -- tearing down whatever is left
            pass
        finally:
            http = self.sio.eio.http
            if http is not None and not http.closed:
                self._run(http.close(), 5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # The log.

    def mark(self) -> int:
        with self._changed:
            return len(self._log)

    def records(self, kind: str | None = None, *, after: int = 0) -> list[dict]:
        with self._changed:
            return [r for r in self._log[after:] if kind is None or r["type"] == kind]

    def events(self, event: str, *, after: int = 0, namespace: str = "/") -> list[list]:
        return [r["args"] for r in self.records("event", after=after) if r["event"] == event and r["namespace"] == namespace]

    def wait_record(self, accept: Callable[[dict], bool], *, after: int = 0, timeout: float = 5.0, describe: str = "record") -> dict:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((r for r in self._log[after:] if accept(r)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    shown = "\n".join(f"  #{i} {r!r}"[:300] for i, r in enumerate(self._log))
                    raise AssertionError(f"{self.name}: no {describe} within {timeout}s (from #{after}); log:\n{shown}")
                self._changed.wait(remaining)

    def wait_event(self, event: str, *, where=None, after: int = 0, timeout: float = 5.0, namespace: str = "/") -> list:
        return self.wait_record(
            lambda r: r["type"] == "event" and r["event"] == event and r["namespace"] == namespace and (where is None or where(r["args"])),
            after=after,
            timeout=timeout,
            describe=f"{event!r} event",
        )["args"]

    def assert_no_event(self, event: str, *, where=None, after: int = 0, within: float = 0.5, namespace: str = "/") -> None:
        try:
            args = self.wait_event(event, where=where, after=after, timeout=within, namespace=namespace)
        except AssertionError:
            return
        raise AssertionError(f"{self.name}: unexpected {event!r} event {args!r}")

    def wait_disconnect(self, *, after: int = 0, timeout: float = 5.0) -> str | None:
        return self.wait_record(lambda r: r["type"] == "disconnect", after=after, timeout=timeout, describe="disconnect")["reason"]


# --- a server that emits with a callback -----------------------------------------------

_callback_app = None


def _build_callback_app():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animomeet.settings")
    import django

    django.setup()
    from signaling.engine.asgi.routing import engine_application
    from signaling.engine.server import ServerConfig, SocketServer

    server = SocketServer(ServerConfig(ping_interval=1.0, ping_timeout=1.0))
    main = server.of("/")

    @main.on("ask")
    async def ask(socket, args):
        # Asks the client `question` with the given args, and reports its ack as `answer`.
        async def answered(*answer):
            await socket.emit("answer", *answer)

        await socket.emit("question", *args, callback=answered)

    async def not_found(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return engine_application(server, not_found)


async def callback_application(scope, receive, send):
    """ASGI entry point (daphne tests.meeting_helpers:callback_application), built lazily
    so that importing this module from pytest starts no server."""
    global _callback_app
    if _callback_app is None:
        _callback_app = _build_callback_app()
    await _callback_app(scope, receive, send)
