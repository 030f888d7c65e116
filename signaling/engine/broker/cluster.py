"""Several daphne processes serving one set of sessions through Redis, without sticky
sessions.

- Every process has a channel of its own on the Channels layer; ids of the sessions and
  sockets it owns end in `.<process id>` (engine/ids.py), so anyone can tell where one lives.
- A room is a Channels group whose members are the processes with a socket in it: a
  broadcast is one `group_send`, and each process delivers to its own sockets.
- A poll, POST or WebSocket that reaches a process which does not own the session is
  served by the owner (broker/remote.py). The messages are in broker/messages.py.
- Each process keeps a key with a TTL alive; when one dies, another notices, tells
  `on_process_lost` and takes its channel out of the groups.
"""

import asyncio
import dataclasses
import hashlib
import logging
import secrets
from typing import Awaitable, Callable

from redis.asyncio import Redis

from signaling.engine import ids, tasks
from signaling.engine.broker import messages as m
from signaling.engine.broker.base import Broker
from signaling.engine.broker.remote import RemoteSession, RemoteWebSocket
from signaling.engine.protocol.engineio import EngineConfig, PayloadTooLarge, ProtocolError, SessionClosed
from signaling.engine.session import FrameCloser, FrameWriter

log = logging.getLogger("signaling.cluster")

ProcessLost = Callable[[str], Awaitable[None]]


class ClusterBroker(Broker):
    def __init__(self, layer, redis: Redis, *, prefix: str, presence_bound: float, process_id: str | None = None):
        self.layer = layer
        self.redis = redis
        self.prefix = prefix
        self.process_id = process_id or ids.new_process_id()
        self.channel = self._channel_of(self.process_id)
        # A dead process is noticed within half the bound plus one period.
        self.presence_ttl_ms = int(presence_bound * 1000 / 2)
        self.presence_period = min(5.0, presence_bound / 6)
        self.on_process_lost: list[ProcessLost] = []
        self._pending: dict[str, asyncio.Future] = {}  # request id -> reply
        self._serving: dict[str, asyncio.Task] = {}  # request id -> poll being served here
        self._links: dict[str, tuple] = {}  # link id -> (write, close) of a local WebSocket
        self._remote_sockets: dict[str, RemoteWebSocket] = {}  # link id -> stand-in here
        self._loops: list[asyncio.Task] = []
        self._live: set[str] = set()  # processes whose presence key the last heartbeat saw
        self._handlers = {
            m.Deliver: self._on_deliver,
            m.Command: self._on_command,
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

    def _group(self, namespace: str, room: str) -> str:
        digest = hashlib.sha1(f"{namespace}\0{room}".encode()).hexdigest()
        return f"{self.prefix}.room.{digest}"

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- life --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._loops:
            return
        self._loops = [
            tasks.spawn(self._receive_loop(), "cluster receive loop"),
            tasks.spawn(self._presence_loop(), "cluster presence loop"),
        ]
        log.info("process %s joined the cluster", self.process_id)

    # --- sending -----------------------------------------------------------------------

    async def send_to(self, channel: str, message: m.Message) -> None:
        await self.layer.send(channel, message.to_wire())

    async def send_to_process(self, process: str, message: m.Message) -> None:
        await self.send_to(self._channel_of(process), message)

    async def _to_owner(self, some_id: str, message: m.Message) -> bool:
        """To the process that owns a socket or session; False when that is this one."""
        owner = ids.owner_of(some_id)
        if owner is None or owner == self.process_id:
            return False
        await self.send_to_process(owner, message)
        return True

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
        message = m.Deliver(namespace, messages, room=room, skip=skip_id, origin=self.process_id)
        await self.layer.group_send(self._group(namespace, room), message.to_wire())

    async def publish_socket(self, namespace, socket_id, messages):
        return await self._to_owner(socket_id, m.Deliver(namespace, messages, socket=socket_id))

    async def publish_command(self, namespace, socket_id, name, payload):
        return await self._to_owner(socket_id, m.Command(namespace, socket_id, name, payload))

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

    async def _on_deliver(self, message: m.Deliver) -> None:
        if message.origin == self.process_id:
            return  # delivered locally already
        await self.endpoint.deliver_local(
            message.ns, message.messages, room=message.room, socket_id=message.socket, skip_id=message.skip
        )

    async def _on_command(self, message: m.Command) -> None:
        await self.endpoint.run_command(message.ns, message.socket, message.name, message.payload)

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
        for namespace, room in tuple(self.endpoint.hosted_rooms()):
            await self.room_created(namespace, room)

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
            log.warning("process %s is gone; its participants leave their calls", process)
            for handler in self.on_process_lost:
                await handler(process)
            groups_key = self._key("groups", process)
            for group in await self.redis.smembers(groups_key):
                await self.layer.group_discard(group.decode(), self._channel_of(process))
            await self.redis.delete(groups_key)
            await self.redis.srem(members_key, process)
        self._live = live
