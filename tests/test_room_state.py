"""The room state behaves the same in memory and in Redis (one suite, both stores)."""

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from signaling.meeting.media import Media
from signaling.meeting.state.redis import RedisRoomState
from signaling.meeting.state.base import CHAT_HISTORY_LIMIT, Link, MeetingInfo, Participant
from signaling.meeting.state.memory import MemoryRoomState
from signaling.engine.broker.redis_pools import waiting_pool


@pytest.fixture(params=["memory", "redis"])
def make_state(request):
    """A factory, so that each test builds its store inside its own event loop."""
    if request.param == "memory":
        return MemoryRoomState
    url = request.getfixturevalue("redis_url")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    return lambda: RedisRoomState(Redis(connection_pool=waiting_pool(url)), prefix)


def member(socket_id: str, **fields) -> Participant:
    return Participant(socket_id, f"user-{socket_id}", f"Name {socket_id}", media=Media(**fields))


def run(make_state, scenario):
    async def main():
        return await scenario(make_state())

    return asyncio.run(main())


def test_the_roster_keeps_join_order_and_a_rejoin_keeps_its_place(make_state):
    async def scenario(state):
        await state.join("r", member("a.p1"))
        await state.join("r", member("b.p2"))
        roster = await state.join("r", member("a.p1", audioEnabled=True))
        return roster

    roster = run(make_state, scenario)
    assert [p.id for p in roster] == ["a.p1", "b.p2"]
    assert roster[0].media.audioEnabled is True


def test_leaving_returns_the_participant_and_the_last_one_out_clears_the_history(make_state):
    async def scenario(state):
        await state.join("r", member("a.p1"))
        await state.join("r", member("b.p1"))
        await state.add_chat("r", {"data": "hi"})
        first = await state.leave("r", "a.p1")
        history_while_b_stays = await state.chat_history("r")
        await state.leave("r", "b.p1")
        return first, history_while_b_stays, await state.chat_history("r"), await state.roster("r"), await state.leave("r", "b.p1")

    first, kept, cleared, roster, again = run(make_state, scenario)
    assert first.id == "a.p1" and first.name == "Name a.p1"
    assert kept == [{"data": "hi"}]
    assert cleared == [] and roster == [] and again is None


def test_the_chat_history_keeps_the_newest_messages(make_state):
    async def scenario(state):
        await state.join("r", member("a.p1"))
        for i in range(CHAT_HISTORY_LIMIT + 5):
            await state.add_chat("r", {"n": i})
        return await state.chat_history("r")

    history = run(make_state, scenario)
    assert [m["n"] for m in history] == list(range(5, CHAT_HISTORY_LIMIT + 5))


def test_media_updates_and_the_meeting_cache(make_state):
    async def scenario(state):
        await state.join("r", member("a.p1"))
        updated = await state.set_media("r", "a.p1", {"videoEnabled": True})
        missing = await state.set_media("r", "nobody", {"videoEnabled": True})
        await state.set_meeting("r", MeetingInfo("host", ["co"], {"audioAllowed": False}))
        return updated, missing, await state.participant("r", "a.p1"), await state.meeting("r")

    updated, missing, stored, meeting = run(make_state, scenario)
    assert updated.media.videoEnabled and stored.media.videoEnabled and missing is None
    assert meeting.privileged("co") and not meeting.privileged("guest") and not meeting.allows("audioAllowed")


def test_the_link_and_joining_time_are_kept_and_a_link_change_reaches_only_who_is_there(make_state):
    async def scenario(state):
        polling = Link("polling", False, "host-a:1/0000a11e")
        await state.join("r", Participant("a.p1", "ann", "Ann", "ann", Media(audioEnabled=True), 1767312000.25, polling))
        await state.join("r", member("b.p1"))
        upgraded = (await state.set_link("r", "a.p1", Link("websocket", False, "host-a:1/0000a11e"))).link
        away = (await state.set_link("r", "a.p1", Link(None, True, "host-a:1/0000a11e"))).link
        stored = await state.participant("r", "a.p1")
        await state.leave("r", "b.p1")
        late = await state.set_link("r", "b.p1", Link("websocket"))
        return upgraded, away, stored, late, await state.roster("r")

    upgraded, away, stored, late, roster = run(make_state, scenario)
    assert upgraded == Link("websocket", False, "host-a:1/0000a11e")
    assert away == Link(None, True, "host-a:1/0000a11e")
    assert stored.joined_at == 1767312000.25 and stored.account == "ann" and stored.media.audioEnabled
    assert stored.link == away
    assert late is None and [p.id for p in roster] == ["a.p1"]


def test_the_live_rooms_are_those_with_participants_with_how_many(make_state):
    async def scenario(state):
        await state.join("r1", member("a.p1"))
        await state.join("r1", member("b.p1"))
        await state.join("r2", member("c.p1"))
        await state.add_waiting("r3", member("w.p1"))  # waiting only: no call going on
        await state.add_waiting("r1", member("v.p1"))
        before = await state.live_rooms()
        await state.leave("r2", "c.p1")
        await state.leave("r1", "a.p1")
        return before, await state.live_rooms()

    before, after = run(make_state, scenario)
    assert before == {"r1": 2, "r2": 1}
    assert after == {"r1": 1}


def test_waiting_joiners_are_listed_and_taken_once(make_state):
    async def scenario(state):
        await state.add_waiting("r", member("w.p1"))
        listed = await state.waiting("r")
        taken = await state.remove_waiting("r", "w.p1")
        return listed, taken, await state.remove_waiting("r", "w.p1")

    listed, taken, again = run(make_state, scenario)
    assert [p.id for p in listed] == ["w.p1"] and taken.id == "w.p1" and again is None


DEAD, ALIVE = "0000dead", "0000a11e"


def test_redis_tracks_the_rooms_of_each_process_for_reaping(redis_url):
    def make():
        return RedisRoomState(Redis(connection_pool=waiting_pool(redis_url)), f"t{uuid.uuid4().hex[:8]}")

    async def scenario(state):
        await state.join("r1", member(f"a.{DEAD}"))
        await state.join("r2", member(f"b.{DEAD}"))
        await state.join("r2", member(f"c.{ALIVE}"))
        await state.add_waiting("r3", member(f"w.{DEAD}"))
        await state.join("r3", member(f"d.{ALIVE}"))
        await state.leave("r1", f"a.{DEAD}")  # its last member in r1: r1 is no longer its room
        await state.add_waiting("r4", member(f"v.{DEAD}"))
        await state.remove_waiting("r4", f"v.{DEAD}")  # nor is r4, once its waiter is gone
        return sorted(await state.rooms_of_process(DEAD)), sorted(await state.rooms_of_process(ALIVE))

    dead, alive = run(make, scenario)
    assert dead == ["r2", "r3"] and alive == ["r2", "r3"]


def test_a_late_update_never_brings_back_someone_who_left(make_state):
    async def scenario(state):
        await state.join("r", member("a.p1"))
        await state.join("r", member("b.p1"))
        await state.leave("r", "a.p1")
        late = await state.set_media("r", "a.p1", {"audioEnabled": False})
        await state.leave("r", "b.p1")
        await state.add_chat("r", {"data": "into an empty room"})
        await state.join("r", member("c.p1"))
        return late, await state.roster("r"), await state.chat_history("r")

    late, roster, history = run(make_state, scenario)
    assert late is None and [p.id for p in roster] == ["c.p1"] and history == []


def test_a_burst_of_a_thousand_concurrent_operations_waits_for_connections(redis_url):
    """A thousand sockets leaving at once: more commands in flight than connections."""

    def make():
        return RedisRoomState(Redis(connection_pool=waiting_pool(redis_url)), f"t{uuid.uuid4().hex[:8]}")

    async def scenario(state):
        await asyncio.gather(*(state.join(f"room{i % 250}", member(f"s{i}.p1")) for i in range(1000)))
        gone = await asyncio.gather(*(state.leave(f"room{i % 250}", f"s{i}.p1") for i in range(1000)))
        return gone

    gone = run(make, scenario)
    assert all(p is not None for p in gone)
