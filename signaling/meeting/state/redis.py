"""Room state in Redis, shared by every process of a deployment.

Per room: a hash of participants (socket id -> JSON), a sorted set giving their join
order, the chat history (a capped list), the cached meeting, and the waiting list. Per
process: the rooms where it has participants, so that a survivor can clear them out when
that process dies. One set of the rooms with participants in them, for the admin. Joining and leaving are Lua scripts: atomic, one round trip each.
"""

import orjson
from redis.asyncio import Redis

from signaling.engine.ids import owner_of
from signaling.meeting.state.base import CHAT_HISTORY_LIMIT, MeetingInfo, Participant, RoomState

_JOIN = """
local members, order, seq, process_rooms, live_rooms = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if redis.call('HEXISTS', members, ARGV[1]) == 0 then
  redis.call('ZADD', order, redis.call('INCR', seq), ARGV[1])
end
redis.call('HSET', members, ARGV[1], ARGV[2])
redis.call('SADD', live_rooms, ARGV[3])
if process_rooms ~= '' then redis.call('SADD', process_rooms, ARGV[3]) end
local ids = redis.call('ZRANGE', order, 0, -1)
return redis.call('HMGET', members, unpack(ids))
"""

# Takes a participant (ARGV[4] "member") or a waiter ("waiter") out of a room. KEYS:
# members, order, seq, chat, meeting, waiting, process_rooms, live_rooms. ARGV: socket id,
# room, the socket's process suffix ("" when none), which. An emptied room is deleted with
# its history; a room without participants is no longer live; a process without a member
# or waiter left in the room stops listing it.
_TAKE = """
local members, order, waiting, process_rooms = KEYS[1], KEYS[2], KEYS[6], KEYS[7]
local hash = ARGV[4] == 'waiter' and waiting or members
local gone = redis.call('HGET', hash, ARGV[1])
if not gone then return false end
redis.call('HDEL', hash, ARGV[1])
redis.call('ZREM', order, ARGV[1])
if redis.call('HLEN', members) == 0 then redis.call('SREM', KEYS[8], ARGV[2]) end
if redis.call('HLEN', members) == 0 and redis.call('HLEN', waiting) == 0 then
  redis.call('DEL', order, KEYS[3], KEYS[4], KEYS[5])
end
local suffix = ARGV[3]
if suffix ~= '' then
  local function has_ours(ids)
    for _, id in ipairs(ids) do
      if string.sub(id, -#suffix) == suffix then return true end
    end
    return false
  end
  if not has_ours(redis.call('HKEYS', members)) and not has_ours(redis.call('HKEYS', waiting)) then
    redis.call('SREM', process_rooms, ARGV[2])
  end
end
return gone
"""

# Merges fields into a participant that is still there (never brings one back).
_MERGE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local member = cjson.decode(raw)
for name, value in pairs(cjson.decode(ARGV[2])) do member[name] = value end
local merged = cjson.encode(member)
redis.call('HSET', KEYS[1], ARGV[1], merged)
return merged
"""

# Appends to the history of a room that has people in it, keeping the newest ARGV[2].
_ADD_CHAT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return 1
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
        self._take = redis.register_script(_TAKE)
        self._merge = redis.register_script(_MERGE)
        self._add_chat = redis.register_script(_ADD_CHAT)

    def _keys(self, room: str) -> dict:
        base = f"{self.prefix}:room:{room}"
        return {name: f"{base}:{name}" for name in ("members", "order", "seq", "chat", "meeting", "waiting")}

    @property
    def _live_rooms(self) -> str:
        return f"{self.prefix}:live-rooms"

    def _process_rooms(self, process: str | None) -> str:
        return f"{self.prefix}:rooms-of:{process}" if process else ""

    async def join(self, room, participant):
        k = self._keys(room)
        rows = await self._join(
            keys=[k["members"], k["order"], k["seq"], self._process_rooms(owner_of(participant.id)), self._live_rooms],
            args=[participant.id, _dump(participant), room],
        )
        return [_load(row) for row in rows if row is not None]

    async def _take_out(self, room: str, socket_id: str, which: str) -> Participant | None:
        k = self._keys(room)
        process = owner_of(socket_id)
        gone = await self._take(
            keys=[
                k["members"], k["order"], k["seq"], k["chat"], k["meeting"], k["waiting"],
                self._process_rooms(process), self._live_rooms,
            ],
            args=[socket_id, room, "." + process if process else "", which],
        )
        return _load(gone) if gone else None

    async def leave(self, room, socket_id):
        return await self._take_out(room, socket_id, "member")

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

    async def _merge_into(self, room: str, socket_id: str, changes: dict) -> Participant | None:
        merged = await self._merge(keys=[self._keys(room)["members"]], args=[socket_id, orjson.dumps(changes)])
        return _load(merged) if merged else None

    async def set_media(self, room, socket_id, changes):
        return await self._merge_into(room, socket_id, changes)

    async def set_link(self, room, socket_id, link):
        return await self._merge_into(room, socket_id, link.stored())

    async def live_rooms(self):
        rooms = sorted(room.decode() for room in await self.redis.smembers(self._live_rooms))
        async with self.redis.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.hlen(self._keys(room)["members"])
            sizes = await pipe.execute()
        return {room: size for room, size in zip(rooms, sizes) if size}

    async def add_chat(self, room, message):
        k = self._keys(room)
        await self._add_chat(keys=[k["order"], k["chat"]], args=[orjson.dumps(message), CHAT_HISTORY_LIMIT])

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
        return await self._take_out(room, socket_id, "waiter")

    async def waiting(self, room):
        rows = await self.redis.hvals(self._keys(room)["waiting"])
        return [_load(row) for row in rows]

    async def rooms_of_process(self, process: str) -> list[str]:
        return [room.decode() for room in await self.redis.smembers(self._process_rooms(process))]

    async def forget_process(self, process: str) -> None:
        await self.redis.delete(self._process_rooms(process))
