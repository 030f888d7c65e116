"""Room state in Redis, shared by every process of a deployment.

Per room: a hash of participants (socket id -> JSON), a sorted set giving their join
order, the chat history (a capped list), the cached meeting, and the waiting list. Per
process: the rooms where it has participants, so that a survivor can clear them out when
that process dies. Joining and leaving are Lua scripts: atomic, one round trip each.
"""

import orjson
from redis.asyncio import Redis

from signaling.cluster import owner_of
from signaling.meeting.state import CHAT_HISTORY_LIMIT, MeetingInfo, Participant, RoomState

_JOIN = """
local members, order, seq, process_rooms = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HEXISTS', members, ARGV[1]) == 0 then
  redis.call('ZADD', order, redis.call('INCR', seq), ARGV[1])
end
redis.call('HSET', members, ARGV[1], ARGV[2])
if process_rooms ~= '' then redis.call('SADD', process_rooms, ARGV[3]) end
local ids = redis.call('ZRANGE', order, 0, -1)
return redis.call('HMGET', members, unpack(ids))
"""

# KEYS: members, order, seq, chat, meeting, waiting, process_rooms. ARGV: socket id,
# room, the socket's process suffix ("" when none).
_LEAVE = """
local gone = redis.call('HGET', KEYS[1], ARGV[1])
if not gone then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 and redis.call('HLEN', KEYS[6]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
end
if ARGV[3] ~= '' then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if string.sub(id, -#ARGV[3]) == ARGV[3] then return gone end
  end
  redis.call('SREM', KEYS[7], ARGV[2])
end
return gone
"""

# KEYS: waiting, members, order, seq, chat, meeting. ARGV: socket id.
_UNWAIT = """
local gone = redis.call('HGET', KEYS[1], ARGV[1])
if not gone then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 and redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6])
end
return gone
"""


def _dump(participant: Participant) -> bytes:
    return orjson.dumps(participant.to_dict())


def _load(raw) -> Participant:
    return Participant.from_dict(orjson.loads(raw))


class RedisRoomState(RoomState):
    def __init__(self, redis: Redis, prefix: str):
        self.redis = redis
        self.prefix = prefix
        self._join = redis.register_script(_JOIN)
        self._leave = redis.register_script(_LEAVE)
        self._unwait = redis.register_script(_UNWAIT)

    def _keys(self, room: str) -> dict:
        base = f"{self.prefix}:room:{room}"
        return {name: f"{base}:{name}" for name in ("members", "order", "seq", "chat", "meeting", "waiting")}

    def _process_rooms(self, process: str | None) -> str:
        return f"{self.prefix}:rooms-of:{process}" if process else ""

    async def join(self, room, participant):
        k = self._keys(room)
        rows = await self._join(
            keys=[k["members"], k["order"], k["seq"], self._process_rooms(owner_of(participant.id))],
            args=[participant.id, _dump(participant), room],
        )
        return [_load(row) for row in rows if row is not None]

    async def leave(self, room, socket_id):
        k = self._keys(room)
        process = owner_of(socket_id)
        gone = await self._leave(
            keys=[k["members"], k["order"], k["seq"], k["chat"], k["meeting"], k["waiting"], self._process_rooms(process)],
            args=[socket_id, room, "." + process if process else ""],
        )
        return _load(gone) if gone else None

    async def roster(self, room):
        k = self._keys(room)
        ids = await self.redis.zrange(k["order"], 0, -1)
        if not ids:
            return []
        rows = await self.redis.hmget(k["members"], ids)
        return [_load(row) for row in rows if row is not None]

    async def participant(self, room, socket_id):
        raw = await self.redis.hget(self._keys(room)["members"], socket_id)
        return _load(raw) if raw else None

    async def set_media(self, room, socket_id, media):
        # Only the socket's own process writes its record (or a host's force-mute, which
        # wins anyway): a read-modify-write is enough.
        member = await self.participant(room, socket_id)
        if member is None:
            return None
        for name, value in media.items():
            setattr(member, name, value)
        await self.redis.hset(self._keys(room)["members"], socket_id, _dump(member))
        return member

    async def add_chat(self, room, message):
        key = self._keys(room)["chat"]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, orjson.dumps(message))
            pipe.ltrim(key, -CHAT_HISTORY_LIMIT, -1)
            await pipe.execute()

    async def chat_history(self, room):
        return [orjson.loads(raw) for raw in await self.redis.lrange(self._keys(room)["chat"], 0, -1)]

    async def meeting(self, room):
        raw = await self.redis.get(self._keys(room)["meeting"])
        return MeetingInfo.from_dict(orjson.loads(raw)) if raw else None

    async def set_meeting(self, room, info):
        await self.redis.set(self._keys(room)["meeting"], orjson.dumps(info.to_dict()))

    async def add_waiting(self, room, participant):
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys(room)["waiting"], participant.id, _dump(participant))
            process_rooms = self._process_rooms(owner_of(participant.id))
            if process_rooms:
                pipe.sadd(process_rooms, room)
            await pipe.execute()

    async def remove_waiting(self, room, socket_id):
        k = self._keys(room)
        gone = await self._unwait(
            keys=[k["waiting"], k["members"], k["order"], k["seq"], k["chat"], k["meeting"]], args=[socket_id]
        )
        return _load(gone) if gone else None

    async def waiting(self, room):
        rows = await self.redis.hvals(self._keys(room)["waiting"])
        return [_load(row) for row in rows]

    async def rooms_of_process(self, process: str) -> list[str]:
        return [room.decode() for room in await self.redis.smembers(self._process_rooms(process))]

    async def forget_process(self, process: str) -> None:
        await self.redis.delete(self._process_rooms(process))
