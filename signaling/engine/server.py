"""A small Socket.IO server API for event handlers: namespaces, sockets, rooms, acks.

    server = SocketServer(ServerConfig(...))
    chat = server.of("/")

    @chat.on("message")
    async def message(socket, args):            # args: the event's arguments, a list
        await chat.emit("message", *args, room="lobby", skip=socket)
        return "ok"                             # sent as the ack when the client asked for one

Alone, the server delivers to its sockets directly and keeps what a recovering socket
may miss; in a cluster, a sequenced `Broker` carries every event, to sockets of any
process, and keeps it (see broker/base.py).
"""

import asyncio
import inspect
import logging
import secrets
import time
from typing import Any, Awaitable, Callable, Protocol

from signaling.engine import ids, tasks
from signaling.engine.broker.base import Broker, LocalBroker, MembersOnly
from signaling.engine.engine_server import EngineServer, ServerConfig
from signaling.engine.recovery import RECOVERABLE_REASONS, Outbox, UnknownOffset, parse_offset
from signaling.engine.protocol import engineio, socketio
from signaling.engine.protocol.engineio import ProtocolError
from signaling.engine.session import Handshake, Session, SessionEndpoint

__all__ = ["ConnectionRefused", "Namespace", "ServerConfig", "Socket", "SocketServer"]

log = logging.getLogger("signaling.server")

Handler = Callable[..., Awaitable[Any]]

CLIENT_NAMESPACE_DISCONNECT = "client namespace disconnect"
SERVER_NAMESPACE_DISCONNECT = "server namespace disconnect"
RECOVERY_FAILED = "recovery failed"  # its client came back too late to be given all it missed
# The command a sender's socket gets, {"event", "to"}, when `emit_to(..., member_of=)`
# found the recipient in no such room, or gone.
UNDELIVERED = "undelivered"


class ConnectionRefused(Exception):
    """Raised by a connect handler: the client gets CONNECT_ERROR with this message."""

    def __init__(self, message: str = "Connection refused", data: Any = None):
        super().__init__(message)
        self.message = message
        self.data = data


class SocketData(Protocol):
    """How handlers' per-socket data travels with a socket that another process takes
    over (a cluster with recovery): `Namespace.data_keeper`."""

    def dump(self, socket: "Socket") -> dict:
        """What `load` needs, in plain values (msgpack)."""

    async def load(self, socket: "Socket", data: dict) -> None:
        """Set `socket.data` from what `dump` gave on another process."""

    def drop(self, socket: "Socket") -> None:
        """The socket lives on elsewhere now: stop what this process does for it (timers)."""


class Stamped:
    """An event's messages with its offset appended, encoded once for all its recipients."""

    __slots__ = ("offset", "messages")

    def __init__(self, messages: list, offset: int):
        self.offset = offset
        self.messages = socketio.with_offset(messages, offset)


class Socket:
    """One client's connection to one namespace. With connection state recovery it can
    outlive its session: while its client is away (`session` None) it stays in its rooms
    and what is sent to it is kept, to be replayed when the client comes back."""

    __slots__ = (
        "id", "namespace", "session", "handshake", "auth", "data", "rooms", "pid", "since",
        "_outbox", "_expiry", "_acks", "_next_ack", "_held", "_accepted", "_replayed_upto", "_taken_at",
    )

    def __init__(self, namespace: "Namespace", session: Session | None, auth: dict, *, socket_id: str | None = None, pid: str | None = None):
        server = namespace.server
        self.id = socket_id or server.new_id()
        self.namespace = namespace
        self.session: Session | None = session
        self.handshake: Handshake | None = session.handshake if session is not None else None
        self.auth = auth
        self.data: Any = None  # whatever the handlers keep per socket
        # room -> where the socket entered it in a sequenced broker's order (else None)
        self.rooms: dict[str, str | None] = {}
        recovery = server.config.recovery
        if pid is None and recovery.enabled and server.config.recovery_capable(session.handshake.headers):
            # The private id a client names to recover this socket; it names the socket,
            # so that any process can find its record (broker/records.py).
            pid = f"{secrets.token_urlsafe(15)}~{self.id}"
        self.pid = pid
        self.since = server.broker.position()  # where it began to hear a sequenced broker
        # What it was sent, kept for a replay; a sequenced broker keeps that itself.
        self._outbox: Outbox | None = Outbox(recovery) if pid is not None and not server.broker.sequenced else None
        self._expiry: asyncio.TimerHandle | None = None
        self._acks: dict[int, Callable] = {}
        self._next_ack = 0
        self._held: list | None = []  # emits that wait for the CONNECT answer (or a replay)
        self._accepted = False
        self._replayed_upto: str | None = None  # the end of its last replay (sequenced brokers)
        # Where in a sequenced broker's order this process took it over from another: the
        # broker may have routed events for it up to there to that one.
        self._taken_at: str | None = None

    @property
    def connected(self) -> bool:
        """In its namespace, also while its client is away and may come back."""
        return self._accepted and self.id in self.namespace.sockets

    @property
    def carried_by_broker(self) -> bool:
        """Its events go through a sequenced broker: it may recover on any process."""
        return self.pid is not None and self.namespace.server.broker.sequenced

    @property
    def away(self) -> bool:
        """Its transport is gone and the recovery window runs."""
        return self.session is None

    @property
    def transport(self) -> str | None:
        """"polling" or "websocket"; None while its client is away."""
        return self.session.engine.transport.value if self.session is not None else None

    async def emit(self, event: str, *args, callback: Callable | None = None) -> None:
        if callback is not None:
            # An event that asks for an ack is not kept for a replay (nor is it in
            # socket.io): its answer would go to a callback that may be gone.
            ack_id = self._next_ack
            self._next_ack += 1
            self._acks[ack_id] = callback
            await self._write(socketio.encode_event(self.namespace.name, [event, *args], ack_id))
            return
        await self.send(socketio.encode_event(self.namespace.name, [event, *args]))

    async def send(self, messages: list) -> None:
        """Already-encoded Socket.IO events, for this socket alone."""
        if self.carried_by_broker and self._accepted:
            try:
                await self.namespace.server.broker.publish_socket(self.namespace.name, self.id, messages)
                return
            except Exception as exc:
                # The broker is down (Redis restarting): the client still hears what is
                # for it alone (often the error saying so), though it could not be replayed.
                log.warning("socket %s: the broker took no event (%s); sent directly", self.id, exc)
        if self._outbox is not None:
            messages = self._keep(messages)
        await self._write(messages)

    def _keep(self, messages: list) -> list:
        """For a client that recovers: the event stamped with a new offset, kept for a
        replay."""
        offset = self.namespace.server.next_offset()
        stamped = socketio.with_offset(messages, offset)
        self._outbox.add(offset, stamped)
        return stamped

    async def deliver(self, messages: list, stamped: "Stamped | None") -> None:
        """An event in its two encodings: plain, and `stamped` with its offset (None
        without recovery) for a client that recovers, shared by every recipient of a
        broadcast."""
        if self.pid is not None and stamped is not None:
            if self._replayed_upto is not None and self.namespace.server.broker.not_after(stamped.offset, self._replayed_upto):
                return  # an event being delivered as the replay began: the replay has it
            if self._outbox is not None:
                self._outbox.add(stamped.offset, stamped.messages)
            messages = stamped.messages
        await self._write(messages)

    def record(self) -> dict:
        """What another process needs to carry this socket on (broker/records.py)."""
        keeper = self.namespace.data_keeper
        return {
            "id": self.id, "pid": self.pid, "ns": self.namespace.name, "rooms": self.rooms, "since": self.since,
            "data": keeper.dump(self) if keeper is not None else None,
        }

    async def save(self) -> None:
        """The handlers changed `data`: a sequenced broker's record of it follows."""
        if self.carried_by_broker and self.connected:
            await self.namespace.server.broker.save_socket(self.record())

    async def _write(self, messages: list) -> None:
        self.namespace.server.observer.delivered(self)
        if self._held is not None:
            self._held.extend(messages)
        elif self.session is not None:  # while away, the outbox keeps what counts
            await self.session.send_messages(messages)

    async def _release(self) -> None:
        held, self._held = self._held, None
        self._accepted = True
        if held and self.session is not None:
            await self.session.send_messages(held)

    def _stop_expiry(self) -> None:
        """The recovery window no longer runs: its client is back, or the socket ends."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    async def _acked(self, ack_id: int, args: list) -> None:
        callback = self._acks.pop(ack_id, None)
        if callback is None:
            return
        result = callback(*args)
        if inspect.isawaitable(result):
            await result

    async def disconnect(self, close: bool = False) -> None:
        """Leave the namespace (the client is told); `close` ends the whole connection."""
        if self.id not in self.namespace.sockets:
            return
        session = self.session
        if session is not None:
            await session.send_messages(session.sio.disconnect(self.namespace.name))
        await self.namespace._remove(self, SERVER_NAMESPACE_DISCONNECT)
        if close and session is not None:
            session.close()

    def __repr__(self):
        return f"<Socket {self.id} {self.namespace.name}>"


class Namespace:
    def __init__(self, server: "SocketServer", name: str):
        self.server = server
        self.name = name
        self.sockets: dict[str, Socket] = {}
        self.rooms: dict[str, dict[str, Socket]] = {}
        self.by_pid: dict[str, Socket] = {}  # the sockets a client may recover
        self.handlers: dict[str, Handler] = {}
        self.commands: dict[str, Handler] = {}
        self.data_keeper: SocketData | None = None

    def on(self, event: str) -> Callable[[Handler], Handler]:
        """Register a handler. Special events: `connect(socket, auth)` (may raise
        ConnectionRefused), `disconnect(socket, reason)`."""

        def register(handler: Handler) -> Handler:
            self.handlers[event] = handler
            return handler

        return register

    def on_command(self, name: str) -> Callable[[Handler], Handler]:
        """Register `handler(socket, payload)`, run by whichever process owns the socket
        that a `command` names (see `command`)."""

        def register(handler: Handler) -> Handler:
            self.commands[name] = handler
            return handler

        return register

    async def command(self, socket_id: str, name: str, payload: dict) -> bool:
        """Run a registered command on a socket, wherever it is connected: what has to
        happen where the socket lives (joining its rooms, disconnecting it). False when
        no process has that socket."""
        socket = self.sockets.get(socket_id)
        if socket is not None:
            await self.commands[name](socket, payload)
            return True
        if not await self.server.broker.holds(socket_id):
            return False
        await self.server.broker.publish_command(self.name, socket_id, name, payload)
        return True

    async def lives(self, socket_id: str) -> bool:
        """Whether some process carries the socket on (this one, or another)."""
        return socket_id in self.sockets or await self.server.broker.holds(socket_id)

    # --- rooms -------------------------------------------------------------------------

    async def enter_room(self, socket: Socket, room: str) -> None:
        self._add_member(socket, room, self.server.broker.position())
        await socket.save()

    async def leave_room(self, socket: Socket, room: str) -> None:
        self._remove_member(socket, room)
        await socket.save()

    def _add_member(self, socket: Socket, room: str, position: str | None) -> None:
        self.rooms.setdefault(room, {})[socket.id] = socket
        socket.rooms[room] = position

    def _remove_member(self, socket: Socket, room: str) -> None:
        socket.rooms.pop(room, None)
        members = self.rooms.get(room)
        if members is None:
            return
        members.pop(socket.id, None)
        if not members:
            del self.rooms[room]

    # --- emitting ----------------------------------------------------------------------

    async def emit(self, event: str, *args, room: str | None = None, skip: Socket | None = None) -> None:
        """To every socket of the namespace, or of `room`, except `skip`."""
        messages = socketio.encode_event(self.name, [event, *args])
        skip_id = skip.id if skip is not None else None
        broker = self.server.broker
        if room is not None and broker.sequenced:
            await broker.publish_room(self.name, room, messages, skip_id)
            return
        members = self.sockets if room is None else self.rooms.get(room, {})
        await self._deliver(messages, members.values(), skip_id)
        if room is not None:
            await broker.publish_room(self.name, room, messages, skip_id)

    async def _deliver(self, messages: list, sockets, skip_id: str | None, offset: str | None = None) -> None:
        """To each socket but `skip_id`, with one offset for all of them (a sequenced
        broker's, else the next of this process); one recipient's failure never starves
        the others."""
        if offset is None:
            offset = self.server.next_offset()
        stamped = Stamped(messages, offset) if offset is not None else None
        for socket in tuple(sockets):
            if socket.id != skip_id:
                try:
                    await socket.deliver(messages, stamped)
                except Exception:
                    log.exception("delivery to %s failed", socket.id)

    async def emit_to(self, socket_id: str, event: str, *args, member_of: str | None = None, sender: Socket | None = None) -> None:
        """To one socket by id, wherever it is connected; with `member_of`, only if it is
        in that room, else `sender` gets the UNDELIVERED command. Whichever process holds
        the recipient decides: the sender's cost is one publish, whatever the answer."""
        messages = socketio.encode_event(self.name, [event, *args])
        only = MembersOnly(member_of, sender.id if sender is not None else None, event) if member_of is not None else None
        socket = self.sockets.get(socket_id)
        if socket is None and self.server.broker.sequenced:
            await self.server.broker.publish_socket(self.name, socket_id, messages, only)
        elif only is not None and (socket is None or only.room not in socket.rooms):
            await self._undelivered(only, socket_id)
        elif socket is not None:
            await socket.send(messages)

    async def _undelivered(self, only: MembersOnly, socket_id: str) -> None:
        if only.sender is not None and UNDELIVERED in self.commands:
            await self.command(only.sender, UNDELIVERED, {"event": only.event, "to": socket_id})

    async def _deliver_local(
        self, messages: list, room: str | None, socket_id: str | None, skip_id: str | None, offset: str | None,
        only: MembersOnly | None = None,
    ) -> None:
        if socket_id is None:
            await self._deliver(messages, self.rooms.get(room, {}).values(), skip_id, offset)
            return
        socket = self.sockets.get(socket_id)
        if only is not None and not (socket is not None and only.room in socket.rooms):
            # The holder answers for a socket it has; for one nobody has, the process its
            # id names does (a socket that moved has a record).
            broker = self.server.broker
            if socket is not None or (ids.owner_of(socket_id) == broker.process_id and not await broker.holds(socket_id)):
                await self._undelivered(only, socket_id)
            return
        if socket is not None:
            await self._deliver(messages, (socket,), None, offset)

    # --- lifecycle ---------------------------------------------------------------------

    async def _connect(self, session: Session, auth: dict) -> None:
        if "pid" in auth:
            pid, raw_offset = auth.get("pid"), auth.get("offset")
            auth = {key: value for key, value in auth.items() if key not in ("pid", "offset")}
            away = self.by_pid.get(pid) if isinstance(pid, str) else None
            if away is None and isinstance(pid, str) and "~" in pid and self.server.broker.sequenced:
                away = await self._take_over(pid)
            if away is not None and await self._recover(away, session, raw_offset):
                return
        socket = Socket(self, session, auth)
        handler = self.handlers.get("connect")
        try:
            if handler is not None:
                await handler(socket, auth)
        except ConnectionRefused as refusal:
            await session.send_messages(session.sio.refuse(self.name, refusal.message, refusal.data))
            return
        except Exception:
            log.exception("connect handler of %s failed", self.name)
            await session.send_messages(session.sio.refuse(self.name, "Server error, try again"))
            return
        if session.closed:
            return
        session.sockets[self.name] = socket
        self._install(socket)
        await session.send_messages(session.sio.accept(self.name, socket.id, socket.pid))
        await socket._release()
        await socket.save()

    def _install(self, socket: Socket) -> None:
        self.sockets[socket.id] = socket
        if socket.pid is not None:
            self.by_pid[socket.pid] = socket

    async def _take_over(self, pid: str) -> Socket | None:
        """The socket `pid` names, from its record, if another process held it (alive or
        dead): it is held here from now on, away until `_recover` gives it the session."""
        record = await self.server.broker.claim_socket(pid.partition("~")[2], pid)
        if record is None:
            return None
        socket = await self._restore(record)
        await self.server.broker.announce_moved(self.name, socket.id)
        return socket

    async def _restore(self, record: dict) -> Socket:
        """A socket carried on from its record, away (no session), in its rooms."""
        socket = Socket(self, None, {}, socket_id=record["id"], pid=record["pid"])
        socket.since = record["since"]
        socket._taken_at = record.get("taken_at")
        socket._held = None
        socket._accepted = True
        if self.data_keeper is not None:
            await self.data_keeper.load(socket, record["data"])
        for room, position in record["rooms"].items():
            self._add_member(socket, room, position)
        self._install(socket)
        return socket

    async def adopt(self, record: dict) -> None:
        """A socket of a dead process: it waits here for its client, within the window."""
        socket = await self._restore(record)
        self.server.observer.socket_away(socket)
        self._start_window(socket, engineio.TRANSPORT_ERROR)
        log.info("socket %s of a lost process waits here for its client", socket.id)

    async def _missed(self, socket: Socket, raw_offset) -> list | None:
        """What the client of `socket` missed after `raw_offset`, or None when some of it
        is no longer kept."""
        broker = self.server.broker
        if broker.sequenced:
            after = raw_offset if raw_offset is not None else socket.since
            if not isinstance(after, str):
                return None
            # An entry up to here may still be on its way to the socket, by the broker's
            # live delivery: from now on the socket takes none of those (the replay has them).
            upto = broker.position()
            if socket._taken_at is not None and not broker.not_after(socket._taken_at, upto):
                upto = socket._taken_at  # events routed to the process it came from
            socket._replayed_upto = upto
            return await broker.replay(socket.id, socket.rooms, after, upto)
        try:
            return socket._outbox.since(parse_offset(raw_offset))
        except UnknownOffset:
            return None

    async def _recover(self, socket: Socket, session: Session, raw_offset) -> bool:
        """The client of `socket` is back on `session`: the socket carries on there and
        gets every event after `raw_offset`, unless some of those are no longer kept
        (then the socket ends as it would have, and the client gets a new one)."""
        socket._held = []  # what is sent from now on waits behind the replay
        missed = await self._missed(socket, raw_offset)
        if missed is None:
            log.info("socket %s cannot be recovered (offset %r); it ends", socket.id, raw_offset)
            self.server.observer.recovery_failed(socket)
            await self._remove(socket, RECOVERY_FAILED)
            return False
        socket._stop_expiry()
        previous = socket.session
        if previous is not None:  # a new transport before the old one was noticed gone
            self._detach(socket, previous)
            if not previous.sockets:
                previous.close()
        socket.session = session
        socket.handshake = session.handshake
        session.sockets[self.name] = socket
        await session.send_messages(session.sio.accept(self.name, socket.id, socket.pid))
        await session.send_messages(missed)
        await socket._release()
        log.info("socket %s recovered (%d messages replayed)", socket.id, len(missed))
        self.server.observer.recovery_succeeded(socket)
        return True

    async def socket_moved(self, socket_id: str) -> None:
        """Another process holds the socket now: the copy here ends without a word."""
        socket = self.sockets.get(socket_id)
        if socket is not None:
            log.info("socket %s: its client came back on another process", socket_id)
            self._drop(socket)

    def _drop(self, socket: Socket) -> None:
        """The socket ends here without its handlers: another process carries it on."""
        self._take_out(socket)
        session = socket.session
        if session is not None and not session.sockets:
            session.close()
        for room in tuple(socket.rooms):
            self._remove_member(socket, room)
        if self.data_keeper is not None:
            self.data_keeper.drop(socket)

    def _take_out(self, socket: Socket) -> bool:
        """Out of the namespace, its window and its session; False when it was out already."""
        if self.sockets.pop(socket.id, None) is None:
            return False
        if socket.pid is not None:
            self.by_pid.pop(socket.pid, None)
        socket._stop_expiry()
        if socket.session is not None:
            self._detach(socket, socket.session)
        return True

    def _detach(self, socket: Socket, session: Session) -> None:
        if session.sockets.get(self.name) is socket:
            del session.sockets[self.name]
            session.sio.forget(self.name)

    def _await_return(self, socket: Socket, reason: str) -> None:
        """The socket's transport is gone: it waits for its client, within the window."""
        self._detach(socket, socket.session)
        socket.session = None
        self.server.observer.socket_away(socket)
        self._start_window(socket, reason)

    def _start_window(self, socket: Socket, reason: str) -> None:
        socket._expiry = tasks.later(
            self.server.config.recovery.window, lambda: self._remove(socket, reason), "recovery window end"
        )

    async def _remove(self, socket: Socket, reason: str) -> None:
        if self.sockets.get(socket.id) is not socket:
            return
        if socket.carried_by_broker and not await self.server.broker.release_socket(socket.id):
            self._drop(socket)  # another process carries it on
            return
        if not self._take_out(socket):
            return
        self.server.observer.socket_removed(socket, reason)
        handler = self.handlers.get("disconnect")
        try:
            if handler is not None:
                await handler(socket, reason)
        finally:
            for room in tuple(socket.rooms):
                await self.leave_room(socket, room)

    async def _dispatch(self, socket: Socket, packet: socketio.Packet) -> None:
        event, *args = packet.data
        handler = self.handlers.get(event)  # never connect/disconnect: the codec refuses those
        if handler is None:
            return
        started = time.perf_counter()
        result = await handler(socket, args)
        self.server.observer.event_handled(socket, event, time.perf_counter() - started)
        if packet.id is not None and socket.connected:
            await socket._write(socketio.encode(socketio.Packet(socketio.ACK, self.name, _ack_args(result), packet.id)))


def _ack_args(result: Any) -> list:
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


class SocketServer(EngineServer):
    """Socket.IO on the Engine.IO server; implements the broker's `LocalEndpoint`."""

    def __init__(self, config: ServerConfig, broker: Broker | None = None):
        broker = broker or LocalBroker()
        super().__init__(config, process_id=broker.process_id)
        self.namespaces: dict[str, Namespace] = {}
        self.broker = broker
        self.broker.bind(self)
        self._starting: asyncio.Future | None = None  # the broker's start
        self._last_offset = 0
        self._recovering_sockets = config.recovery.enabled  # read per event: kept at hand
        self.of(socketio.DEFAULT_NAMESPACE)

    def next_offset(self) -> int | None:
        """The offset of the next event sent (one per event, whatever its recipients);
        None without recovery."""
        if not self._recovering_sockets:
            return None
        self._last_offset += 1
        return self._last_offset

    async def drain(self, timeout: float) -> None:
        """Shutting down: every session closes as recoverable. With a sequenced broker,
        each client comes back on another process and recovers there; what it has not
        received stays in the broker. The broker then leaves the cluster, so that a
        survivor adopts the sockets whose clients have not come back yet."""
        await self.broker.close_forwarded()
        await super().drain(timeout)
        await self.broker.leave()

    async def start(self) -> None:
        """Called by every connection; starts the broker once an event loop runs. Every
        connection waits for that: a socket recovered before a sequenced broker knows
        where it begins to read would miss what comes between."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self.broker.start())
        await self._starting

    def of(self, name: str) -> Namespace:
        namespace = self.namespaces.get(name)
        if namespace is None:
            namespace = self.namespaces[name] = Namespace(self, name)
        return namespace

    # --- sessions, for the transports --------------------------------------------------

    async def session_for(self, sid: str) -> SessionEndpoint | None:
        """The session with this sid: a local one, a stand-in for one that another
        process owns, or None."""
        session = self.sessions.get(sid)
        if session is not None:
            return session
        return await self.broker.remote_session(sid)

    # --- for the broker (LocalEndpoint) ------------------------------------------------

    def local_session(self, sid: str) -> Session | None:
        return self.sessions.get(sid)

    async def deliver_local(self, namespace: str, messages: list, *, room, socket_id, skip_id, offset=None, only=None) -> None:
        """Messages a broker brought, to this process's sockets."""
        target = self.namespaces.get(namespace)
        if target is not None:
            await target._deliver_local(messages, room, socket_id, skip_id, offset, only)

    async def run_command(self, namespace: str, socket_id: str, name: str, payload: dict) -> None:
        target = self.namespaces.get(namespace)
        socket = target.sockets.get(socket_id) if target is not None else None
        if socket is not None:
            await target.commands[name](socket, payload)

    async def socket_moved(self, namespace: str, socket_id: str) -> None:
        target = self.namespaces.get(namespace)
        if target is not None:
            await target.socket_moved(socket_id)

    async def adopt(self, record: dict) -> None:
        await self.of(record["ns"]).adopt(record)

    async def message_received(self, session: Session, data: str | bytes) -> None:
        try:
            packet = session.sio.receive(data)
        except ProtocolError as exc:
            log.info("session %s: malformed packet (%s); closing", session.sid, exc)
            await session.fail(engineio.PARSE_ERROR)
            return
        if packet is not None:
            await self.handle_packet(session, packet)

    async def handle_packet(self, session: Session, packet: socketio.Packet) -> None:
        """Whatever a handler does wrong is logged; it never reaches the transport."""
        try:
            await self._handle_packet(session, packet)
        except Exception:
            log.exception("handling a packet of type %d for %s failed", packet.type, packet.namespace)

    async def _handle_packet(self, session: Session, packet: socketio.Packet) -> None:
        kind = packet.type
        if kind == socketio.EVENT:
            socket = session.sockets[packet.namespace]
            await socket.namespace._dispatch(socket, packet)
        elif kind == socketio.ACK:
            await session.sockets[packet.namespace]._acked(packet.id, packet.data)
        elif kind == socketio.CONNECT:
            namespace = self.namespaces.get(packet.namespace)
            if namespace is None:
                await session.send_messages(session.sio.refuse(packet.namespace, "Invalid namespace"))
            elif packet.namespace in session.sockets:
                await session.send_messages(session.sio.accept(packet.namespace, session.sockets[packet.namespace].id))
            elif packet.namespace not in session.connecting:  # a second CONNECT while one is under way is dropped
                session.connecting.add(packet.namespace)
                try:
                    await namespace._connect(session, packet.data or {})
                finally:
                    session.connecting.discard(packet.namespace)
        elif kind == socketio.DISCONNECT:
            socket = session.sockets.get(packet.namespace)
            if socket is not None:
                await socket.namespace._remove(socket, CLIENT_NAMESPACE_DISCONNECT)

    async def session_closed(self, session: Session, reason: str) -> None:
        await super().session_closed(session, reason)
        for socket in tuple(session.sockets.values()):
            if socket.pid is not None and reason in RECOVERABLE_REASONS:
                socket.namespace._await_return(socket, reason)
                continue
            try:
                await socket.namespace._remove(socket, reason)
            except Exception:
                log.exception("disconnect handler failed")

