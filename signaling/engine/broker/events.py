"""The cluster's event stream: every event for a room or a socket, every command for a
socket, in one order that all processes read (a Redis Stream).

A sender's whole cost is one XADD, whichever process holds the recipients; each process
reads the stream and delivers what concerns its own sockets, its own events included, so
that every socket sees its events in stream order. The entry ids are the offsets a
recovering client names: a socket that comes back on any process, even after the one
that held it died, is replayed what the stream holds for it after that offset
(`replay`), within the window the stream is kept for.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NamedTuple

import msgpack
from redis.asyncio import Redis

from signaling.engine import tasks
from signaling.engine.protocol.socketio import with_offset

ROOM, SOCKET, COMMAND, MOVED = "r", "s", "c", "m"

STREAM_ID = re.compile(r"(\d{1,15})-(\d{1,10})")

# Many XADDs as one command: far less client work per entry than a pipeline of XADDs.
_XADD_ALL = """
local ids = {}
for i = 1, #ARGV do ids[i] = redis.call('XADD', KEYS[1], '*', 'd', ARGV[i]) end
return ids
"""


class Entry(NamedTuple):
    """A tuple: every process builds one per entry it reads, for its sockets or not."""

    kind: str  # ROOM, SOCKET, COMMAND or MOVED
    ns: str
    target: str  # the room (ROOM) or the socket id
    messages: list = ()  # encoded Socket.IO messages (ROOM, SOCKET)
    skip: str | None = None  # a socket of the room left out (ROOM)
    name: str = ""  # the command (COMMAND)
    payload: dict | list | None = None  # the command's (COMMAND); a MembersOnly's fields (SOCKET)
    origin: str = ""  # the process that wrote it (MOVED: the socket's new holder)

    def pack(self) -> bytes:
        return msgpack.packb(self, use_bin_type=True)

    @classmethod
    def unpack(cls, data: bytes) -> "Entry":
        return cls._make(msgpack.unpackb(data, raw=False))


def stream_position(entry_id: str) -> tuple[int, int] | None:
    """An entry id as a comparable pair, or None when it is not one."""
    match = STREAM_ID.fullmatch(entry_id) if isinstance(entry_id, str) else None
    return (int(match[1]), int(match[2])) if match else None


@dataclass(frozen=True, slots=True)
class Listener:
    """What a socket hears of the stream: what is addressed to it (if to a member of a
    room, only as one), and what goes to a room it was in, from the position where it
    entered that room, unless it was skipped."""

    socket_id: str
    rooms: dict  # room -> the stream position where the socket entered it

    def hears(self, entry_id: tuple[int, int], entry: Entry) -> bool:
        if entry.kind == SOCKET:
            return entry.target == self.socket_id and (not entry.payload or self._entered_before(entry.payload[0], entry_id))
        if entry.kind != ROOM or entry.skip == self.socket_id:
            return False
        return self._entered_before(entry.target, entry_id)

    def _entered_before(self, room: str, entry_id: tuple[int, int]) -> bool:
        entered = self.rooms.get(room)
        return entered is not None and entry_id > entered


class EventStream:
    def __init__(self, redis: Redis, key: str, *, retention_ms: int):
        self.redis = redis
        self.key = key
        self.retention_ms = retention_ms  # how long entries are kept for a replay
        self._waiting: list[tuple[bytes, asyncio.Future]] = []  # entries for the next XADDs
        self._writing = False
        self._xadd_all = redis.register_script(_XADD_ALL)

    async def publish(self, entry: Entry) -> str:
        """Its entry id. The entries that handlers publish meanwhile go together, in the
        order they were published, in one command: one round trip for all of them."""
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((entry.pack(), written))
        if not self._writing:
            self._writing = True
            tasks.spawn(self._write(), "event stream writer")
        return await written

    async def _write(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    entry_ids = await self._xadd_all(keys=(self.key,), args=[packed for packed, _ in batch])
                except Exception as exc:
                    for _, written in batch:
                        if not written.done():
                            written.set_exception(exc)
                    continue
                for (_, written), entry_id in zip(batch, entry_ids):
                    if not written.done():
                        written.set_result(entry_id.decode())
        finally:
            self._writing = False

    async def last_id(self) -> str:
        newest = await self.redis.xrevrange(self.key, count=1)
        return newest[0][0].decode() if newest else "0-0"

    async def read(self, after: str, *, block_ms: int, count: int) -> list[tuple[str, Entry]]:
        answer = await self.redis.xread({self.key: after}, count=count, block=block_ms)
        if not answer:
            return []
        return [(entry_id.decode(), Entry.unpack(fields[b"d"])) for entry_id, fields in answer[0][1]]

    async def trim(self, now_ms: int) -> None:
        await self.redis.xtrim(self.key, minid=f"{max(0, now_ms - self.retention_ms)}-0", approximate=True)

    async def replay(self, listener: Listener, after: str, upto: str, *, now_ms: int, max_packets: int, max_bytes: int) -> list | None:
        """The messages of every entry the listener hears in (after, upto], each with its
        entry id as offset; None when some may be gone (`after` older than the stream is
        kept) or they exceed the bounds."""
        start = stream_position(after)
        if start is None or start[0] < now_ms - self.retention_ms:
            return None
        missed, size = [], 0
        async for entry_id, entry in self._range(after, upto):
            if listener.hears(stream_position(entry_id), entry):
                stamped = with_offset(entry.messages, entry_id)
                missed.append(stamped)
                size += sum(map(len, stamped))
                if len(missed) > max_packets or size > max_bytes:
                    return None
        return [message for stamped in missed for message in stamped]

    async def _range(self, after: str, upto: str, chunk: int = 500) -> AsyncIterator[tuple[str, Entry]]:
        while True:
            rows = await self.redis.xrange(self.key, min=f"({after}", max=upto, count=chunk)
            for entry_id, fields in rows:
                yield entry_id.decode(), Entry.unpack(fields[b"d"])
            if len(rows) < chunk:
                return
            after = rows[-1][0].decode()

