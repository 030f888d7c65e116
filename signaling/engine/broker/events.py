"""The cluster's event streams: every event for a room or a socket, every command for a
socket, in one order across processes (Redis Streams).

Events for a room go to the stream that every process reads; an event or command for one
socket goes to the stream of the process holding it (its record says which, else its id
does), which only that process reads. A sender's whole cost is one script call, whichever
process holds the recipients, and no process reads and decodes entries for sockets it
does not hold. The script numbers every entry, whatever its stream, from one sequence, so
that a process reading the shared stream and its own delivers both in one order, and the
entry ids are the offsets a recovering client names: a socket that comes back on any
process, even after the one that held it died, is replayed what the streams hold for it
after that offset (`replay`), within the window they are kept for.

The scripts name keys they compute, so the Redis is one server (or a primary with
replicas), not a Redis Cluster.
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

# KEYS: the shared stream, the sequence, the set of process streams (score +inf while the
# process reads it). ARGV: the key prefix, then per entry the socket it is for ('' for
# the shared stream) and the packed entry. Ids are Redis's clock in ms, then a counter
# within the ms, as XADD's own. One call for many entries: far less client work per entry
# than a pipeline. An entry for a socket whose process reads no stream (gone, or not
# heard of since Redis restarted) goes to the shared stream, where the process its id
# names answers for it.
_XADD_ALL = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local last_ms, counter = -1, 0
local last = redis.call('GET', KEYS[2])
if last then
  local dash = string.find(last, '-', 1, true)
  last_ms, counter = tonumber(string.sub(last, 1, dash - 1)), tonumber(string.sub(last, dash + 1))
end
local ids, id = {}, nil
for i = 2, #ARGV, 2 do
  if ms > last_ms then last_ms, counter = ms, 0 else counter = counter + 1 end
  id = string.format('%.0f-%d', last_ms, counter)
  local key = KEYS[1]
  if ARGV[i] ~= '' then
    local holder = redis.call('HGET', ARGV[1] .. 'socket:' .. ARGV[i], 'holder') or string.match(ARGV[i], '%.(%x+)$')
    if holder and redis.call('ZSCORE', KEYS[3], holder) == 'inf' then key = ARGV[1] .. 'events:' .. holder end
  end
  redis.call('XADD', key, id, 'd', ARGV[i + 1])
  ids[#ids + 1] = id
end
redis.call('SET', KEYS[2], id)
return ids
"""


class Entry(NamedTuple):
    """A tuple: a process builds one per entry it reads."""

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
    """The shared stream and this process's own, read as one."""

    def __init__(self, redis: Redis, prefix: str, process_id: str, *, retention_ms: int):
        self.redis = redis
        self.prefix = prefix
        self.shared = f"{prefix}:events"
        self.own = self.stream_of(process_id)
        self.process_id = process_id
        self.sequence = f"{prefix}:events-last"  # the id of the newest entry of any stream
        self.processes = f"{prefix}:event-streams"  # process -> +inf while read, else when it expires
        self.retention_ms = retention_ms  # how long entries are kept for a replay
        self._waiting: list[tuple[str, bytes, asyncio.Future]] = []  # entries for the next call
        self._writing = False
        self._xadd_all = redis.register_script(_XADD_ALL)

    def stream_of(self, process_id: str) -> str:
        return f"{self.prefix}:events:{process_id}"

    async def publish(self, entry: Entry) -> str:
        """Its entry id. The entries that handlers publish meanwhile go together, in the
        order they were published, in one command: one round trip for all of them."""
        written = asyncio.get_running_loop().create_future()
        socket = entry.target if entry.kind in (SOCKET, COMMAND) else ""
        self._waiting.append((socket, entry.pack(), written))
        if not self._writing:
            self._writing = True
            tasks.spawn(self._write(), "event stream writer")
        return await written

    async def _write(self) -> None:
        keys = (self.shared, self.sequence, self.processes)
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                args = [self.prefix + ":"]
                for socket, packed, _ in batch:
                    args += (socket, packed)
                try:
                    entry_ids = await self._xadd_all(keys=keys, args=args)
                except Exception as exc:
                    for _, _, written in batch:
                        if not written.done():
                            written.set_exception(exc)
                    continue
                for (_, _, written), entry_id in zip(batch, entry_ids):
                    if not written.done():
                        written.set_result(entry_id.decode())
        finally:
            self._writing = False

    async def last_id(self) -> str:
        newest = await self.redis.get(self.sequence)
        return newest.decode() if newest else "0-0"

    async def start(self) -> None:
        """From now on, entries for this process's sockets come to its own stream."""
        await self.redis.zadd(self.processes, {self.process_id: "+inf"})

    async def read(self, after: str, *, block_ms: int, count: int) -> list[tuple[str, Entry]]:
        """The entries of both streams after `after`, in order. When a stream returned
        `count` entries it may hold more: the other's are taken only up to its last, and
        the rest come with the next read."""
        streams = {self.shared: after, self.own: after}
        answer = await self.redis.xread(streams, count=count)
        if not answer:
            # A blocked XREAD is answered with the entries of the stream that woke it
            # alone, though one script call may have written to both: it only waits,
            # and what both hold is read again, at one instant.
            if not await self.redis.xread(streams, count=1, block=block_ms):
                return []
            answer = await self.redis.xread(streams, count=count)
        if len(answer) == 1:
            return [(entry_id.decode(), Entry.unpack(fields[b"d"])) for entry_id, fields in answer[0][1]]
        full = [stream_position(stream_rows[-1][0].decode()) for _, stream_rows in answer if len(stream_rows) >= count]
        bound = min(full) if full else None
        rows = sorted((stream_position(entry_id.decode()), entry_id, fields) for _, stream_rows in answer for entry_id, fields in stream_rows)
        return [(entry_id.decode(), Entry.unpack(fields[b"d"])) for position, entry_id, fields in rows if bound is None or position <= bound]

    async def trim(self, now_ms: int) -> None:
        """Entries older than the window go; so do the streams of processes gone for
        longer than it."""
        oldest = f"{max(0, now_ms - self.retention_ms)}-0"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xtrim(self.shared, minid=oldest, approximate=True)
            pipe.xtrim(self.own, minid=oldest, approximate=True)
            pipe.zadd(self.processes, {self.process_id: "+inf"})  # back after a Redis restart
            pipe.zremrangebyscore(self.processes, "-inf", now_ms)
            await pipe.execute()

    async def forget(self, process_id: str, now_ms: int) -> None:
        """The process reads its stream no more: entries for its sockets go to the shared
        stream, and its own stays for the window, for replays."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.processes, {process_id: now_ms + self.retention_ms})
            pipe.pexpire(self.stream_of(process_id), self.retention_ms)
            await pipe.execute()

    async def replay(self, listener: Listener, after: str, upto: str, *, now_ms: int, max_packets: int, max_bytes: int) -> list | None:
        """The messages of every entry the listener hears in (after, upto], in any stream
        (the socket may have been held by other processes), each with its entry id as
        offset; None when some may be gone (`after` older than the streams are kept) or
        they exceed the bounds."""
        start = stream_position(after)
        if start is None or start[0] < now_ms - self.retention_ms:
            return None
        streams = [self.shared, *(self.stream_of(process.decode()) for process in await self.redis.zrange(self.processes, 0, -1))]
        heard, packets, size = [], 0, 0
        for stream in streams:
            async for entry_id, entry in self._range(stream, after, upto):
                position = stream_position(entry_id)
                if listener.hears(position, entry):
                    stamped = with_offset(entry.messages, entry_id)
                    heard.append((position, stamped))
                    packets, size = packets + 1, size + sum(map(len, stamped))
                    if packets > max_packets or size > max_bytes:
                        return None
        heard.sort(key=lambda item: item[0])
        return [message for _, stamped in heard for message in stamped]

    async def _range(self, stream: str, after: str, upto: str, chunk: int = 500) -> AsyncIterator[tuple[str, Entry]]:
        while True:
            rows = await self.redis.xrange(stream, min=f"({after}", max=upto, count=chunk)
            for entry_id, fields in rows:
                yield entry_id.decode(), Entry.unpack(fields[b"d"])
            if len(rows) < chunk:
                return
            after = rows[-1][0].decode()
