"""The payloads of the events the server sends about participants."""

from signaling.meeting.media import Media
from signaling.meeting.state.base import Participant


def joined(member: Participant, roster: list[Participant]) -> dict:
    """`user-joined`: who joined (or, with `existing`, who is there) and the whole room."""
    return {
        "id": member.id,
        "clients": [p.id for p in roster],
        "username": member.username,
        "name": member.name,
        "verified": member.account is not None,  # the username is an account's, by its token
        "usernamesMap": {p.id: p.username for p in roster},
        "namesMap": {p.id: p.name for p in roster},
        **member.media.to_wire(),
    }


def media_update(socket_id: str, media: Media) -> dict:
    """`user-media-update`."""
    return {"userId": socket_id, **media.to_wire()}


def waiter(member: Participant) -> dict:
    """`admit-request`: who knocks."""
    return {"socketId": member.id, "username": member.username, "name": member.name}


def admission(room: str, member: Participant) -> dict:
    """The `admit` command: the room and who enters it."""
    return {"room": room, "member": member.to_dict()}
