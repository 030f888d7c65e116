"""The payloads of the events the server sends about participants."""

from signaling.meeting.media import Media
from signaling.meeting.state.base import Participant


def roster_fields(roster: list[Participant]) -> dict:
    """The whole room as every `user-joined` of one join shows it: built once per join."""
    return {
        "clients": [p.id for p in roster],
        "usernamesMap": {p.id: p.username for p in roster},
        "namesMap": {p.id: p.name for p in roster},
    }


def joined(member: Participant, roster: dict) -> dict:
    """`user-joined`: who joined (or, with `existing`, who is there) and the whole room
    (`roster_fields`)."""
    return {
        "id": member.id,
        "username": member.username,
        "name": member.name,
        "verified": member.account is not None,  # the username is an account's, by its token
        **roster,
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
