"""The cluster's event streams against a real Redis: an event for one socket reaches only
the process holding it, each process hears its own stream and the shared one in one
order, and a replay finds a socket's events in whichever stream they went to."""

import asyncio
import json
import time
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from signaling.engine.broker.events import ROOM, SOCKET, Entry, EventStream, Listener, stream_position
from signaling.engine.broker.records import SocketRecords
from signaling.engine.protocol.socketio import encode_event

RETENTION_MS = 60_000


def run(redis_url, scenario):
    """`scenario(streams)` with `streams(process)` making a started EventStream of one
    process, all under a fresh key prefix."""
    prefix = "streams-" + uuid.uuid4().hex[:8]

    async def main():
        redis = Redis.from_url(redis_url)

        async def streams(process):
            stream = EventStream(redis, prefix, process, retention_ms=RETENTION_MS)
            await stream.start()
            return stream

        try:
            return await scenario(streams, redis, prefix)
        finally:
            await redis.aclose()

    return asyncio.run(main())


def room_entry(room, n):
    return Entry(ROOM, "/", room, encode_event("/", ["note", f"room {n}"]))


def socket_entry(socket_id, n):
    return Entry(SOCKET, "/", socket_id, encode_event("/", ["note", f"socket {n}"]))


def notes(heard):
    """What the read entries say."""
    return [json.loads(entry.messages[0][1:])[1] for _, entry in heard]


async def read_all(stream, after="0-0", count=1000):
    got = []
    while batch := await stream.read(after, block_ms=10, count=count):
        got += batch
        after = batch[-1][0]
    return got


def test_an_event_for_a_socket_reaches_only_the_stream_of_the_process_holding_it(redis_url):
    async def scenario(streams, redis, prefix):
        first, second = await streams("0000aaaa"), await streams("0000bbbb")
        await first.publish(room_entry("call", 1))
        await first.publish(socket_entry("X" * 20 + ".0000bbbb", 2))
        await first.publish(room_entry("call", 3))
        return await read_all(first), await read_all(second)

    heard_by_first, heard_by_second = run(redis_url, scenario)
    assert notes(heard_by_first) == ["room 1", "room 3"]
    assert notes(heard_by_second) == ["room 1", "socket 2", "room 3"]


def test_a_socket_taken_over_gets_its_events_in_its_new_process_stream(redis_url):
    async def scenario(streams, redis, prefix):
        first, second = await streams("0000aaaa"), await streams("0000bbbb")
        socket_id = "Y" * 20 + ".0000aaaa"
        records = SocketRecords(redis, prefix, "0000aaaa", sequence=first.sequence)
        await records.save({"id": socket_id, "pid": "p~" + socket_id, "rooms": {}})
        before = await first.publish(socket_entry(socket_id, 1))
        taken = await SocketRecords(redis, prefix, "0000bbbb", sequence=first.sequence).claim(socket_id, "p~" + socket_id)
        await first.publish(socket_entry(socket_id, 2))
        return before, taken["taken_at"], await read_all(first), await read_all(second)

    before, taken_at, heard_by_first, heard_by_second = run(redis_url, scenario)
    assert taken_at == before  # the events up to here went to the old holder
    assert notes(heard_by_first) == ["socket 1"]
    assert notes(heard_by_second) == ["socket 2"]


def test_an_event_for_a_socket_of_a_process_that_reads_no_stream_goes_to_every_process(redis_url):
    """A process gone (or not heard of since Redis restarted): the process its id names,
    if any, still hears of it and can answer for it."""

    async def scenario(streams, redis, prefix):
        first, gone = await streams("0000aaaa"), await streams("0000dead")
        await gone.forget("0000dead", int(time.time() * 1000))
        await first.publish(socket_entry("Z" * 20 + ".0000dead", 1))
        await first.publish(socket_entry("Z" * 20 + ".0000beef", 2))  # never started
        return await read_all(first)

    assert notes(run(redis_url, scenario)) == ["socket 1", "socket 2"]


@settings(max_examples=25, deadline=None)
@given(kinds=st.lists(st.booleans(), min_size=1, max_size=40), count=st.integers(1, 7))
def test_a_process_hears_both_streams_in_one_order_whatever_the_read_size(redis_url, kinds, count):
    async def scenario(streams, redis, prefix):
        reader = await streams("0000aaaa")
        mine = "M" * 20 + ".0000aaaa"
        for n, for_socket in enumerate(kinds):
            await reader.publish(socket_entry(mine, n) if for_socket else room_entry("call", n))
        return await read_all(reader, count=count)

    heard = run(redis_url, scenario)
    assert [note.split()[1] for note in notes(heard)] == [str(n) for n in range(len(kinds))]
    positions = [stream_position(entry_id) for entry_id, _ in heard]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_a_reader_waiting_for_entries_gets_all_that_one_call_wrote_to_both_streams(redis_url):
    """Entries published at once go in one script call, to the reader's own stream and
    the shared one; the reader, blocked meanwhile, must skip none of them."""

    async def scenario(streams, redis, prefix):
        reader = await streams("0000aaaa")
        mine = "W" * 20 + ".0000aaaa"
        after = await reader.last_id()
        heard = []
        for round_ in range(20):
            waiting = asyncio.create_task(reader.read(after, block_ms=2000, count=100))
            await asyncio.sleep(0.02)
            await asyncio.gather(
                reader.publish(room_entry("call", 3 * round_)),
                reader.publish(socket_entry(mine, 3 * round_ + 1)),
                reader.publish(room_entry("call", 3 * round_ + 2)),
            )
            batch = await waiting
            heard += batch + await read_all(reader, after=batch[-1][0])
            after = heard[-1][0]
        return heard

    assert [note.split()[1] for note in notes(run(redis_url, scenario))] == [str(n) for n in range(60)]


def test_a_replay_gathers_a_sockets_events_from_every_stream_in_order(redis_url):
    async def scenario(streams, redis, prefix):
        first, second = await streams("0000aaaa"), await streams("0000bbbb")
        socket_id = "R" * 20 + ".0000aaaa"
        start = await first.publish(room_entry("elsewhere", 0))
        records = SocketRecords(redis, prefix, "0000aaaa", sequence=first.sequence)
        await records.save({"id": socket_id, "pid": "p~" + socket_id, "rooms": {}})
        await first.publish(socket_entry(socket_id, 1))
        await first.publish(room_entry("call", 2))
        await SocketRecords(redis, prefix, "0000bbbb", sequence=first.sequence).claim(socket_id, "p~" + socket_id)
        await first.publish(socket_entry(socket_id, 3))
        upto = await first.publish(room_entry("call", 4))
        listener = Listener(socket_id, {"call": stream_position(start)})
        now_ms = int(time.time() * 1000)
        replayed = await second.replay(listener, start, upto, now_ms=now_ms, max_packets=100, max_bytes=10_000)
        too_many = await second.replay(listener, start, upto, now_ms=now_ms, max_packets=3, max_bytes=10_000)
        return replayed, too_many

    replayed, too_many = run(redis_url, scenario)
    # Each with its entry id as the offset a client recovers from.
    assert [json.loads(message[1:])[1] for message in replayed] == ["socket 1", "room 2", "socket 3", "room 4"]
    assert all(stream_position(json.loads(message[1:])[2]) for message in replayed)
    assert too_many is None
