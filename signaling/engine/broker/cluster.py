"""Several daphne processes serving one set of sessions through Redis, without sticky
sessions.

- Events and commands for rooms and sockets go through Redis Streams (broker/events.py):
  room events through one that every process reads, those for one socket through the
  stream of the process holding it; one script call per event, whoever the recipients
  are, and the entry ids, of one sequence, are the offsets that recovering clients name.
- A recoverable socket has a record in Redis (broker/records.py): its client may come
  back on any process, which takes it over and replays the streams from its offset.
- Every process has a channel of its own on the Channels layer; ids of the sessions it
  owns end in `.<process id>` (engine/ids.py). A poll, POST or WebSocket that reaches a
  process which does not own the session is served by the owner (broker/remote.py), with
  the messages of broker/messages.py.
- Each process keeps a key with a TTL alive; when one dies, one survivor adopts its
  recoverable sockets (they wait for their clients there) and tells `on_process_lost`.
"""

import asyncio
import dataclasses
import logging
import secrets
import time
from typing import Awaitable, Callable

from redis.asyncio import Redis

from signaling.engine import ids, tasks
from signaling.engine.broker import messages as m
from signaling.engine.broker.base import Broker, MembersOnly
from signaling.engine.broker.events import COMMAND, MOVED, ROOM, SOCKET, Entry, EventStream, Listener, stream_position
from signaling.engine.broker.records import SocketRecords
from signaling.engine.broker.remote import RemoteSession, RemoteWebSocket
from signaling.engine.protocol.engineio import EngineConfig, PayloadTooLarge, ProtocolError, SessionClosed
from signaling.engine.recovery import RecoveryConfig
from signaling.engine.session import FrameCloser, FrameWriter

log = logging.getLogger("signaling.cluster")

ProcessLost = Callable[[str], Awaitable[None]]


READ_BATCH = 1000  # stream entries read at once
READ_BLOCK_MS = 1000  # well within redis-py's socket timeout (5 s by default)


class ClusterBroker(Broker):
    sequenced = True

    def __init__(
        self, layer, redis: Redis, *, prefix: str, presence_bound: float, recovery: RecoveryConfig = RecoveryConfig(),
        process_id: str | None = None,
    ):
        self.layer = layer
        self.redis = redis
        self.prefix = prefix
        self.process_id = process_id or ids.new_process_id()
        self.channel = self._channel_of(self.process_id)
        # A dead process is noticed within half the bound plus one period.
        self.presence_ttl_ms = int(presence_bound * 1000 / 2)
        self.presence_period = min(5.0, presence_bound / 6)
        self.recovery = recovery
        # Kept for a replay: a client may come back a window after its transport was
        # noticed gone (within the presence bound), or after its dead process was.
        retention = recovery.window + 2 * presence_bound + 10 if recovery.enabled else 10
        self.events = EventStream(redis, prefix, self.process_id, retention_ms=int(retention * 1000))
        self.records = SocketRecords(redis, prefix, self.process_id, sequence=self.events.sequence)
        self._position = "0-0"  # the last stream entry handed to this process's sockets
        self._reading = False  # whether `_position` is where this process began to read
        self.on_process_lost: list[ProcessLost] = []
        self._pending: dict[str, asyncio.Future] = {}  # request id -> reply
        self._serving: dict[str, asyncio.Task] = {}  # request id -> poll being served here
        self._links: dict[str, tuple] = {}  # link id -> (write, close) of a local WebSocket
        self._remote_sockets: dict[str, RemoteWebSocket] = {}  # link id -> stand-in here
        self._loops: list[asyncio.Task] = []
        self._presence: asyncio.Task | None = None
        self._live: set[str] = set()  # processes whose presence key the last heartbeat saw
        self._handlers = {
            m.Reply: self._on_reply,
            m.Poll: self._on_poll,
            m.Post: self._on_post,
            m.Cancel: self._on_cancel,
            m.WsOpen: self._on_ws_open,
            m.WsFrame: self._on_ws_frame,
            m.WsGone: self._on_ws_gone,
            m.WsSend: self._on_ws_send,
            m.WsClose: self._on_ws_close,
        }

    @property
    def engine_config(self) -> EngineConfig:
        return self.endpoint.engine_config

    # --- names -------------------------------------------------------------------------

    def _channel_of(self, process_id: str) -> str:
        return f"{self.prefix}.process.{process_id}"

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- life --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._loops:
            return
        try:
            await self._begin_reading()
        except Exception as exc:  # Redis unreachable: the reader tries again
            log.warning("the event streams cannot be read yet (%s)", exc)
        self._presence = tasks.spawn(self._presence_loop(), "cluster presence loop")
        self._loops = [
            tasks.spawn(self._read_loop(), "cluster event stream reader"),
            tasks.spawn(self._receive_loop(), "cluster receive loop"),
            self._presence,
        ]
        log.info("process %s joined the cluster", self.process_id)

    # --- sending -----------------------------------------------------------------------

    async def send_to(self, channel: str, message: m.Message) -> None:
        await self.layer.send(channel, message.to_wire())

    async def send_to_process(self, process: str, message: m.Message) -> None:
        await self.send_to(self._channel_of(process), message)

    async def close_forwarded(self) -> None:
        for _, close in tuple(self._links.values()):
            await close()

    async def leave(self) -> None:
        """No more heartbeats: a survivor's next one adopts this process's sockets."""
        if self._presence is not None:
            self._presence.cancel()
        await self.redis.delete(self._key("alive", self.process_id))
        await self.events.forget(self.process_id, int(time.time() * 1000))
        log.info("process %s left the cluster", self.process_id)

    # --- events and commands, through the stream --------------------------------------

    def position(self) -> str:
        return self._position

    async def publish_room(self, namespace, room, messages, skip_id):
        await self.events.publish(Entry(ROOM, namespace, room, messages, skip_id))

    async def publish_socket(self, namespace, socket_id, messages, only=None):
        await self.events.publish(Entry(SOCKET, namespace, socket_id, messages, payload=list(only) if only else None))

    async def publish_command(self, namespace, socket_id, name, payload):
        await self.events.publish(Entry(COMMAND, namespace, socket_id, name=name, payload=payload))

    async def announce_moved(self, namespace, socket_id):
        await self.events.publish(Entry(MOVED, namespace, socket_id, origin=self.process_id))

    async def _start_position(self) -> str:
        """Entries before this process started concern none of its sockets; the stream's
        clock (Redis's) says where that is, also when the stream is empty."""
        seconds, micros = await self.redis.time()
        newest = await self.events.last_id()
        return max(newest, f"{seconds * 1000 + micros // 1000}-0", key=stream_position)

    async def _begin_reading(self) -> None:
        await self.events.start()
        self._position = await self._start_position()
        self._reading = True

    async def _read_loop(self) -> None:
        while True:
            try:
                if not self._reading:
                    await self._begin_reading()
                batch = await self.events.read(self._position, block_ms=READ_BLOCK_MS, count=READ_BATCH)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading the event stream failed (%s); retrying", exc)
                await asyncio.sleep(1)
                continue
            for entry_id, entry in batch:
                # Set before the delivery: a socket entering a room meanwhile hears from
                # the next entry on (see `Listener`).
                self._position = entry_id
                try:
                    await self._handle_entry(entry_id, entry)
                except Exception:
                    log.exception("handling a stream entry of kind %r failed", entry.kind)

    async def _handle_entry(self, entry_id: str, entry: Entry) -> None:
        endpoint = self.endpoint
        if entry.kind == ROOM:
            await endpoint.deliver_local(entry.ns, entry.messages, room=entry.target, socket_id=None, skip_id=entry.skip, offset=entry_id)
        elif entry.kind == SOCKET:
            only = MembersOnly(*entry.payload) if entry.payload else None
            await endpoint.deliver_local(entry.ns, entry.messages, room=None, socket_id=entry.target, skip_id=None, offset=entry_id, only=only)
        elif entry.kind == COMMAND:
            # A command may wait on storage: the stream goes on meanwhile.
            tasks.spawn(endpoint.run_command(entry.ns, entry.target, entry.name, entry.payload), "stream command")
        elif entry.kind == MOVED and entry.origin != self.process_id:
            await endpoint.socket_moved(entry.ns, entry.target)

    # --- recoverable sockets -----------------------------------------------------------

    async def save_socket(self, record):
        await self.records.save(record)

    async def claim_socket(self, socket_id, pid):
        return await self.records.claim(socket_id, pid)

    async def release_socket(self, socket_id):
        return await self.records.release(socket_id)

    async def holds(self, socket_id):
        """Its record says so (a recoverable socket, wherever it lives now), or the live
        process its id names owns it (asked of Redis, not of the last heartbeat: this
        decides whether a lost process's participants leave)."""
        if await self.records.exists(socket_id):
            return True
        owner = ids.owner_of(socket_id)
        return owner not in (None, self.process_id) and bool(await self.redis.exists(self._key("alive", owner)))

    def not_after(self, offset, upto):
        return stream_position(offset) <= stream_position(upto)

    async def replay(self, socket_id, rooms, after, upto):
        entered = {room: stream_position(position) for room, position in rooms.items()}
        return await self.events.replay(
            Listener(socket_id, entered), after, upto, now_ms=int(time.time() * 1000),
            max_packets=self.recovery.max_packets, max_bytes=self.recovery.max_bytes,
        )

    # --- sessions owned elsewhere ------------------------------------------------------

    async def remote_session(self, sid):
        owner = ids.owner_of(sid)
        if owner is None or owner == self.process_id or not await self._alive(owner):
            return None
        return RemoteSession(self, sid, owner)

    async def _alive(self, process: str) -> bool:
        """Whether a process of that id is in the cluster: known from the last heartbeat,
        else asked of Redis once. A request naming a made-up process is refused at once
        and forwards nothing (a send to a channel nobody reads waits in Redis)."""
        if process in self._live:
            return True
        if await self.redis.exists(self._key("alive", process)):
            self._live.add(process)
            return True
        return False

    async def request(self, owner: str, message: m.Poll | m.Post, timeout: float) -> m.Reply:
        rid = secrets.token_hex(8)
        future = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self.send_to_process(owner, dataclasses.replace(message, rid=rid, reply=self.channel))
            return await asyncio.wait_for(future, timeout)
        except asyncio.CancelledError:
            await self.send_to_process(owner, m.Cancel(rid))
            raise
        finally:
            self._pending.pop(rid, None)

    def open_link(self, write: FrameWriter, close: FrameCloser) -> str:
        link = secrets.token_hex(8)
        self._links[link] = (write, close)
        return link

    def close_link(self, link: str) -> None:
        self._links.pop(link, None)

    def forget_remote_socket(self, link: str) -> None:
        self._remote_sockets.pop(link, None)

    # --- receiving ---------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            try:
                raw = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("receiving from the channel layer failed; retrying")
                await asyncio.sleep(1)
                continue
            try:
                await self._dispatch(raw)
            except Exception:
                log.exception("handling a %r from another process failed", raw.get("type"))

    async def _dispatch(self, raw: dict) -> None:
        try:
            message = m.from_wire(raw)
        except (KeyError, TypeError):
            log.warning("dropped a message of unknown kind or shape: %r", raw.get("type"))
            return
        await self._handlers[type(message)](message)

    async def _on_reply(self, message: m.Reply) -> None:
        future = self._pending.get(message.rid)
        if future is not None and not future.done():
            future.set_result(message)

    async def _on_poll(self, message: m.Poll) -> None:
        self._serving[message.rid] = tasks.spawn(self._serve(message), "forwarded poll")

    async def _on_post(self, message: m.Post) -> None:
        # Packets the client sent are handled to the end even if it stops waiting.
        tasks.spawn(self._serve(message), "forwarded post")

    async def _on_cancel(self, message: m.Cancel) -> None:
        task = self._serving.pop(message.rid, None)
        if task is not None:
            task.cancel()

    async def _serve(self, message: m.Poll | m.Post) -> None:
        """A poll or POST that reached another process, for a session owned here."""
        status, body = m.REPLY_OK, ""
        try:
            session = self.endpoint.local_session(message.sid)
            if session is None or session.closed:
                raise SessionClosed(message.sid)
            if isinstance(message, m.Poll):
                body = await session.poll()
            else:
                await session.receive_post(message.body)
        except PayloadTooLarge:
            status = m.REPLY_TOO_LARGE
        except ProtocolError:
            status = m.REPLY_BAD_REQUEST
        except SessionClosed:
            status = m.REPLY_UNKNOWN
        finally:
            self._serving.pop(message.rid, None)
        await self.send_to(message.reply, m.Reply(message.rid, status, body))

    async def _on_ws_open(self, message: m.WsOpen) -> None:
        remote = RemoteWebSocket(self, message.reply, message.link)
        session = self.endpoint.local_session(message.sid)
        if session is None or not await session.begin_upgrade(remote.write, remote.close):
            await remote.close()
            return
        remote.session = session
        self._remote_sockets[remote.link] = remote

    async def _on_ws_frame(self, message: m.WsFrame) -> None:
        remote = self._remote_sockets.get(message.link)
        if remote is not None:
            remote.receive(message.frame)

    async def _on_ws_gone(self, message: m.WsGone) -> None:
        remote = self._remote_sockets.pop(message.link, None)
        if remote is not None:
            remote.gone(message.code)

    async def _on_ws_send(self, message: m.WsSend) -> None:
        link = self._links.get(message.link)
        if link is not None:
            write, _ = link
            await write(message.frame)

    async def _on_ws_close(self, message: m.WsClose) -> None:
        link = self._links.get(message.link)
        if link is not None:
            _, close = link
            await close()

    # --- presence ----------------------------------------------------------------------

    async def _presence_loop(self) -> None:
        alive, members = self._key("alive", self.process_id), self._key("processes")
        while True:
            try:
                await self.redis.set(alive, "1", px=self.presence_ttl_ms)
                await self.redis.sadd(members, self.process_id)
                await self.events.trim(int(time.time() * 1000))
                await self._reap_dead(members)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("presence heartbeat failed (%s); retrying", exc)
            await asyncio.sleep(self.presence_period)

    async def _reap_dead(self, members_key: str) -> None:
        live = set()
        for process in await self.redis.smembers(members_key):
            process = process.decode()
            if process == self.process_id or await self.redis.exists(self._key("alive", process)):
                live.add(process)
                continue
            # One survivor reaps each dead process.
            if not await self.redis.set(self._key("reaping", process), self.process_id, nx=True, px=60_000):
                continue
            log.warning("process %s is gone; its sockets wait here for their clients, or end", process)
            for socket_id in await self.records.held_by(process):
                record = await self.records.adopt(socket_id, process)
                if record is not None:
                    await self.endpoint.adopt(record)
            await self.events.forget(process, int(time.time() * 1000))
            for handler in self.on_process_lost:
                await handler(process)
            await self.redis.srem(members_key, process)
        self._live = live
