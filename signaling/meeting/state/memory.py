"""Room state of one process: plain dictionaries."""

import dataclasses
from collections import deque
from dataclasses import dataclass, field

from signaling.meeting.state.base import CHAT_HISTORY_LIMIT, Link, MeetingInfo, Participant, RoomState


@dataclass
class _Room:
    members: dict = field(default_factory=dict)  # socket id -> Participant, join order
    history: deque = field(default_factory=lambda: deque(maxlen=CHAT_HISTORY_LIMIT))
    waiting: dict = field(default_factory=dict)
    meeting: MeetingInfo | None = None


class MemoryRoomState(RoomState):
    def __init__(self):
        self._rooms: dict[str, _Room] = {}

    def _room(self, room: str) -> _Room:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _Room()
        return state

    async def join(self, room, participant):
        members = self._room(room).members
        members[participant.id] = participant
        return list(members.values())

    def _take(self, room: str, socket_id: str, waiting: bool) -> Participant | None:
        state = self._rooms.get(room)
        if state is None:
            return None
        gone = (state.waiting if waiting else state.members).pop(socket_id, None)
        if not state.members and not state.waiting:
            del self._rooms[room]
        return gone

    async def leave(self, room, socket_id):
        return self._take(room, socket_id, waiting=False)

    async def roster(self, room):
        state = self._rooms.get(room)
        return list(state.members.values()) if state else []

    async def participant(self, room, socket_id):
        state = self._rooms.get(room)
        return state.members.get(socket_id) if state else None

    async def set_media(self, room, socket_id, changes):
        member = await self.participant(room, socket_id)
        if member is not None:
            member.media = dataclasses.replace(member.media, **changes)
        return member

    async def set_link(self, room, socket_id, link: Link):
        member = await self.participant(room, socket_id)
        if member is not None:
            member.link = link
        return member

    async def live_rooms(self):
        return {room: len(state.members) for room, state in self._rooms.items() if state.members}

    async def add_chat(self, room, message):
        state = self._rooms.get(room)
        if state is not None and state.members:  # an emptied room keeps no history
            state.history.append(message)

    async def chat_history(self, room):
        state = self._rooms.get(room)
        return list(state.history) if state else []

    async def meeting(self, room):
        state = self._rooms.get(room)
        return state.meeting if state else None

    async def set_meeting(self, room, info):
        self._room(room).meeting = info

    async def add_waiting(self, room, participant):
        self._room(room).waiting[participant.id] = participant

    async def remove_waiting(self, room, socket_id):
        return self._take(room, socket_id, waiting=True)

    async def waiting(self, room):
        state = self._rooms.get(room)
        return list(state.waiting.values()) if state else []
