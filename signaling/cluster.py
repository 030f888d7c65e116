"""Several daphne processes serving one set of meetings through Redis, without sticky
sessions.

- Every process has a channel of its own on the Channels layer; ids of the sessions and
  sockets it owns end in `.<process id>`, so anyone can tell where one lives.
- A room is a Channels group whose members are the processes with a socket in it: a
  broadcast is one `group_send`, and each process delivers to its own sockets.
- A poll, POST or WebSocket that reaches a process which does not own the session is
  served by the owner: a `RemoteSession` here stands in for the session, a
  `RemoteWebSocket` there stands in for the client's WebSocket.
- Each process keeps a key with a TTL alive; when one dies, another notices, takes its
  participants out of their rooms (`on_process_lost`) and its channel out of the groups.
"""

import asyncio
import hashlib
import logging
import re
import secrets
from typing import Awaitable, Callable

from redis.asyncio import Redis

from signaling.broker import Broker
from signaling.protocol.engineio import PayloadTooLarge, ProtocolError, SessionClosed

log = logging.getLogger("signaling.cluster")

ProcessLost = Callable[[str], Awaitable[None]]


PROCESS_ID = re.compile(r"[0-9a-f]{8}")


def owner_of(some_id: str) -> str | None:
    """The process id at the end of a session or socket id, if it has one."""
    head, dot, process = some_id.rpartition(".")
    return process if dot and head and PROCESS_ID.fullmatch(process) else None


class ClusterBroker(Broker):
    def __init__(self, layer, redis: Redis, *, prefix: str, presence_bound: float, process_id: str | None = None):
        self.layer = layer
        self.redis = redis
        self.prefix = prefix
        self.process_id = process_id or secrets.token_hex(4)
        self.id_suffix = "." + self.process_id
        self.channel = self._channel_of(self.process_id)
        # A dead process is noticed within half the bound plus one period.
        self.presence_ttl_ms = int(presence_bound * 1000 / 2)
        self.presence_period = min(5.0, presence_bound / 6)
        self.on_process_lost: list[ProcessLost] = []
        self._pending: dict[str, asyncio.Future] = {}  # request id -> reply
        self._serving: dict[str, asyncio.Task] = {}  # request id -> poll being served here
        self._posts: set[asyncio.Task] = set()  # POSTs being served here: never cancelled
        self._links: dict[str, tuple] = {}  # link id -> (write, close) of a local WebSocket
        self._remote_sockets: dict[str, "RemoteWebSocket"] = {}  # link id -> stand-in here
        self._tasks: list[asyncio.Task] = []

    # --- names -------------------------------------------------------------------------

    def _channel_of(self, process_id: str) -> str:
        return f"{self.prefix}.process.{process_id}"

    def _group(self, namespace: str, room: str) -> str:
        digest = hashlib.sha1(f"{namespace}\0{room}".encode()).hexdigest()
        return f"{self.prefix}.room.{digest}"

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- life --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._receive_loop()),
            asyncio.create_task(self._presence_loop()),
        ]
        log.info("process %s joined the cluster", self.process_id)

    # --- rooms -------------------------------------------------------------------------

    async def room_created(self, namespace, room):
        group = self._group(namespace, room)
        await self.layer.group_add(group, self.channel)
        await self.redis.sadd(self._key("groups", self.process_id), group)

    async def room_emptied(self, namespace, room):
        group = self._group(namespace, room)
        await self.layer.group_discard(group, self.channel)
        await self.redis.srem(self._key("groups", self.process_id), group)

    async def publish_room(self, namespace, room, messages, skip_id):
        await self.layer.group_send(
            self._group(namespace, room),
            {"type": "deliver", "origin": self.process_id, "ns": namespace, "room": room, "messages": messages, "skip": skip_id},
        )

    async def publish_socket(self, namespace, socket_id, messages):
        return await self._to_owner(socket_id, {"type": "deliver", "ns": namespace, "socket": socket_id, "messages": messages})

    async def publish_command(self, namespace, socket_id, name, payload):
        return await self._to_owner(socket_id, {"type": "command", "ns": namespace, "socket": socket_id, "name": name, "payload": payload})

    async def _to_owner(self, some_id: str, message: dict) -> bool:
        """To the process that owns a socket or session; False when that is this one."""
        owner = owner_of(some_id)
        if owner is None or owner == self.process_id:
            return False
        await self.layer.send(self._channel_of(owner), message)
        return True

    # --- sessions owned elsewhere ------------------------------------------------------

    def remote_session(self, sid):
        owner = owner_of(sid)
        if owner is None or owner == self.process_id:
            return None
        return RemoteSession(self, sid, owner)

    async def request(self, owner: str, message: dict, timeout: float) -> dict:
        rid = secrets.token_hex(8)
        future = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self.layer.send(self._channel_of(owner), {**message, "rid": rid, "reply": self.channel})
            return await asyncio.wait_for(future, timeout)
        except asyncio.CancelledError:
            await self.layer.send(self._channel_of(owner), {"type": "cancel", "rid": rid})
            raise
        finally:
            self._pending.pop(rid, None)

    def open_link(self, write, close) -> str:
        link = secrets.token_hex(8)
        self._links[link] = (write, close)
        return link

    def close_link(self, link: str) -> None:
        self._links.pop(link, None)

    # --- receiving ---------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("receiving from the channel layer failed; retrying")
                await asyncio.sleep(1)
                continue
            try:
                await self._dispatch(message)
            except Exception:
                log.exception("handling a %r from another process failed", message.get("type"))

    async def _dispatch(self, message: dict) -> None:
        kind = message["type"]
        if kind == "deliver":
            if message.get("origin") == self.process_id:
                return  # delivered locally already
            namespace = self.server.namespaces.get(message["ns"])
            if namespace is not None:
                await namespace.deliver_local(message["messages"], message.get("room"), message.get("socket"), message.get("skip"))
        elif kind == "command":
            namespace = self.server.namespaces.get(message["ns"])
            if namespace is not None:
                await namespace.command(message["socket"], message["name"], message["payload"])
        elif kind == "reply":
            future = self._pending.get(message["rid"])
            if future is not None and not future.done():
                future.set_result(message)
        elif kind == "poll":
            self._serving[message["rid"]] = asyncio.create_task(self._serve(message))
        elif kind == "post":
            # Packets the client sent are handled to the end even if it stops waiting.
            task = asyncio.create_task(self._serve(message))
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)
        elif kind == "cancel":
            task = self._serving.pop(message["rid"], None)
            if task is not None:
                task.cancel()
        elif kind == "ws-open":
            await self._open_remote_socket(message)
        elif kind == "ws-frame":
            remote = self._remote_sockets.get(message["link"])
            if remote is not None:
                remote.receive(message["frame"])
        elif kind == "ws-gone":
            remote = self._remote_sockets.pop(message["link"], None)
            if remote is not None:
                remote.gone()
        elif kind in ("ws-send", "ws-close"):
            link = self._links.get(message["link"])
            if link is not None:
                write, close = link
                await (write(message["frame"]) if kind == "ws-send" else close())

    async def _serve(self, message: dict) -> None:
        """A poll or POST that reached another process, for a session owned here."""
        status, body = "ok", ""
        try:
            session = self.server.sessions.get(message["sid"])
            if session is None or session.closed:
                raise SessionClosed(message["sid"])
            if message["type"] == "poll":
                body = await session.poll()
            else:
                await session.receive_post(message["body"])
        except PayloadTooLarge:
            status = "too-large"
        except ProtocolError:
            status = "bad-request"
        except SessionClosed:
            status = "unknown"
        finally:
            self._serving.pop(message["rid"], None)
        await self.layer.send(message["reply"], {"type": "reply", "rid": message["rid"], "status": status, "body": body})

    async def _open_remote_socket(self, message: dict) -> None:
        remote = RemoteWebSocket(self, message["reply"], message["link"])
        session = self.server.sessions.get(message["sid"])
        if session is None or not await session.begin_upgrade(remote.write, remote.close):
            await remote.close()
            return
        remote.session = session
        self._remote_sockets[remote.link] = remote

    # --- presence ----------------------------------------------------------------------

    async def _presence_loop(self) -> None:
        alive, members = self._key("alive", self.process_id), self._key("processes")
        while True:
            try:
                await self.redis.set(alive, "1", px=self.presence_ttl_ms)
                await self.redis.sadd(members, self.process_id)
                await self._renew_groups()
                await self._reap_dead(members)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("presence heartbeat failed (%s); retrying", exc)
            await asyncio.sleep(self.presence_period)

    async def _renew_groups(self) -> None:
        """Group memberships live in Redis: renewed here, they outlive a Redis restart
        and channels_redis's group expiry during a long call."""
        for namespace in self.server.namespaces.values():
            for room in tuple(namespace.rooms):
                await self.room_created(namespace.name, room)

    async def _reap_dead(self, members_key: str) -> None:
        for process in await self.redis.smembers(members_key):
            process = process.decode()
            if process == self.process_id or await self.redis.exists(self._key("alive", process)):
                continue
            # One survivor reaps each dead process.
            if not await self.redis.set(self._key("reaping", process), self.process_id, nx=True, px=60_000):
                continue
            log.warning("process %s is gone; its participants leave their calls", process)
            for handler in self.on_process_lost:
                await handler(process)
            groups_key = self._key("groups", process)
            for group in await self.redis.smembers(groups_key):
                await self.layer.group_discard(group.decode(), self._channel_of(process))
            await self.redis.delete(groups_key)
            await self.redis.srem(members_key, process)


class RemoteSession:
    """Here, for a session another process owns: the same methods as a Session, carried
    over the channel layer."""

    closed = False

    def __init__(self, broker: ClusterBroker, sid: str, owner: str):
        self.broker = broker
        self.sid = sid
        self.owner = owner
        self.link: str | None = None

    async def _call(self, message: dict, timeout: float) -> str:
        try:
            reply = await self.broker.request(self.owner, {**message, "sid": self.sid}, timeout)
        except asyncio.TimeoutError:
            raise SessionClosed(self.sid) from None  # the owner is gone
        status = reply["status"]
        if status == "too-large":
            raise PayloadTooLarge(self.sid)
        if status == "bad-request":
            raise ProtocolError(self.sid)
        if status == "unknown":
            raise SessionClosed(self.sid)
        return reply["body"]

    async def poll(self) -> str:
        config = self.broker.server.engine_config
        return await self._call({"type": "poll"}, config.ping_interval + config.ping_timeout)

    async def receive_post(self, body: bytes) -> None:
        # Longer than a command may wait for a Redis connection (redis_pools.POOL_TIMEOUT).
        await self._call({"type": "post", "body": body}, 30.0)

    async def begin_upgrade(self, write, close) -> bool:
        self.link = self.broker.open_link(write, close)
        await self.broker._to_owner(self.sid, {"type": "ws-open", "sid": self.sid, "link": self.link, "reply": self.broker.channel})
        return True  # the owner closes this WebSocket if it refuses

    async def receive_ws_frame(self, frame, write, close) -> None:
        await self.broker._to_owner(self.sid, {"type": "ws-frame", "link": self.link, "frame": frame})

    def websocket_gone(self, write) -> None:
        self.broker.close_link(self.link)
        asyncio.ensure_future(self.broker._to_owner(self.sid, {"type": "ws-gone", "link": self.link}))


class RemoteWebSocket:
    """Here, for a client's WebSocket that reached another process: frames the session
    writes travel back there; frames from the client are handled in order, one after the
    other, and nothing cuts one short (the end of the WebSocket waits its turn)."""

    _GONE, _STOP = object(), object()

    def __init__(self, broker: ClusterBroker, channel: str, link: str):
        self.broker = broker
        self.channel = channel
        self.link = link
        self.session = None
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._work())

    async def write(self, frame) -> None:
        await self.broker.layer.send(self.channel, {"type": "ws-send", "link": self.link, "frame": frame})

    async def close(self) -> None:
        """The session closes this WebSocket (perhaps from inside the worker)."""
        self.broker._remote_sockets.pop(self.link, None)
        self._inbox.put_nowait(self._STOP)
        await self.broker.layer.send(self.channel, {"type": "ws-close", "link": self.link})

    def receive(self, frame) -> None:
        self._inbox.put_nowait(frame)

    def gone(self) -> None:
        self._inbox.put_nowait(self._GONE)

    async def _work(self) -> None:
        while True:
            item = await self._inbox.get()
            if item is self._STOP:
                return
            if item is self._GONE:
                if self.session is not None:
                    self.session.websocket_gone(self.write)
                return
            await self.session.receive_ws_frame(item, self.write, self.close)
