"""Socket records: what any process needs to carry on a recoverable socket whose client
comes back to it, or whose process died (its id, pid, rooms with the stream positions
where it entered them, and its handlers' data).

A record names the process that holds the socket. Taking a socket over (`claim`) and
ending it (`release`) are atomic, so that exactly one process carries it on: the one
its client came back to, or the one that adopted it from a dead process.
"""

import msgpack
from redis.asyncio import Redis

# Outlives any recovery window: a record is deleted when its socket ends; this only
# bounds what a cluster that lost every process at once leaves behind.
RECORD_TTL_S = 24 * 3600

_SAVE = """
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder and holder ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'pid', ARGV[2], 'holder', ARGV[1], 'body', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[5])
return 1
"""

# KEYS: the record, the event sequence. ARGV: the new holder, the pid the client named
# ('' for an adoption), the held-set prefix, the socket id, the dead holder it is adopted
# from ('' when its client claims it). Returns the record and the newest event id: entries
# for the socket up to it may be in the old holder's stream, those after it come here.
_CLAIM = """
local pid = redis.call('HGET', KEYS[1], 'pid')
if not pid or (ARGV[2] ~= '' and pid ~= ARGV[2]) then return false end
local holder = redis.call('HGET', KEYS[1], 'holder')
if ARGV[5] ~= '' and holder ~= ARGV[5] then return false end
redis.call('SREM', ARGV[3] .. holder, ARGV[4])
redis.call('SADD', ARGV[3] .. ARGV[1], ARGV[4])
redis.call('HSET', KEYS[1], 'holder', ARGV[1])
return {redis.call('HGET', KEYS[1], 'body'), redis.call('GET', KEYS[2]) or '0-0'}
"""

_RELEASE = """
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder and holder ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""


class SocketRecords:
    def __init__(self, redis: Redis, prefix: str, process_id: str, *, sequence: str):
        self.redis = redis
        self.prefix = prefix
        self.process_id = process_id
        self.sequence = sequence  # the key of the event streams' newest id
        self._save = redis.register_script(_SAVE)
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def _key(self, socket_id: str) -> str:
        return f"{self.prefix}:socket:{socket_id}"

    def _held_prefix(self) -> str:
        return f"{self.prefix}:held:"

    def _held(self, process: str) -> str:
        return self._held_prefix() + process

    async def save(self, record: dict) -> bool:
        """Written by the holder; False when another process has taken the socket over."""
        body = msgpack.packb(record, use_bin_type=True)
        keys = (self._key(record["id"]), self._held(self.process_id))
        return bool(await self._save(keys=keys, args=(self.process_id, record["pid"], body, RECORD_TTL_S, record["id"])))

    async def claim(self, socket_id: str, pid: str) -> dict | None:
        """Take the socket over for its client, which named `pid`: its record, with
        `taken_at` (where in the event sequence it came here), or None when there is
        none (or the pid does not match)."""
        return await self._take(socket_id, pid, "")

    async def adopt(self, socket_id: str, dead: str) -> dict | None:
        """Take over a socket of the dead process `dead`: None when there is no record,
        or when its client has meanwhile taken it elsewhere."""
        return await self._take(socket_id, "", dead)

    async def _take(self, socket_id: str, pid: str, dead: str) -> dict | None:
        args = (self.process_id, pid, self._held_prefix(), socket_id, dead)
        taken = await self._claim(keys=(self._key(socket_id), self.sequence), args=args)
        if not taken:
            return None
        body, taken_at = taken
        return {**msgpack.unpackb(body, raw=False), "taken_at": taken_at.decode()}

    async def release(self, socket_id: str) -> bool:
        """The socket ends here: False when another process has taken it over."""
        keys = (self._key(socket_id), self._held(self.process_id))
        return bool(await self._release(keys=keys, args=(self.process_id, socket_id)))

    async def held_by(self, process: str) -> list[str]:
        return [socket_id.decode() for socket_id in await self.redis.smembers(self._held(process))]

    async def exists(self, socket_id: str) -> bool:
        return bool(await self.redis.exists(self._key(socket_id)))
