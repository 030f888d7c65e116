"""Connection state recovery across the processes of a cluster (Redis): a client comes
back on another process than the one that held its socket, also after that one was
killed, and carries on with everything it missed, exactly once, in order."""

import signal
import time
import uuid

import pytest

from tests.meeting_helpers import join
from tests.servers import BOUND
from tests.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.redis

WINDOW_S = 4
RECONNECTING = {"reconnection": True, "reconnectionDelay": 300, "reconnectionDelayMax": 300, "randomizationFactor": 0}
TRANSPORTS = {"websocket": {"transports": ["websocket"]}, "polling": {"upgrade": False}}


@pytest.fixture
def three(cluster):
    return cluster(3, SIGNALING_RECOVERY_WINDOW_S=WINDOW_S)


@pytest.fixture
def proxy(three):
    proxy = CuttableProxy(three[0].port)
    yield proxy
    proxy.close()


def a_call(nc, three, proxy, transport="websocket"):
    """Ann through the proxy to the first process, Bob on the second, Cid on the third."""
    room = f"move-{uuid.uuid4().hex[:8]}"
    a = nc.connect("a", proxy.url, **TRANSPORTS[transport], **RECONNECTING)
    b = nc.connect("b", three[1].url, transports=["websocket"])
    c = nc.connect("c", three[2].url, transports=["websocket"])
    for client, who in ((a, "ann"), (b, "bob"), (c, "cid")):
        join(client, room, who, who.title())
    return a, b, c


def traffic(b, c, a_id, tag, n=3):
    """Signals to Ann alone and chat to the whole room, from both other processes."""
    for i in range(n):
        b.emit("signal", a_id, f"{tag} b-{i}")
        c.emit("signal", a_id, f"{tag} c-{i}")
        b.emit("chat-message", {"data": f"{tag} chat-b-{i}", "time": 1})


def expected(tag, n=3) -> tuple:
    signals_b = [f"{tag} b-{i}" for i in range(n)]
    signals_c = [f"{tag} c-{i}" for i in range(n)]
    return signals_b, signals_c, [f"{tag} chat-b-{i}" for i in range(n)]


def received(a, after) -> tuple:
    signals = [args[1] for args in a.events("signal", after=after)]
    chats = [args[0]["data"] for args in a.events("chat-message", after=after)]
    return [s for s in signals if " b-" in s], [s for s in signals if " c-" in s], [m for m in chats if "chat-b" in m]


def reconnected(a, after):
    return a.wait_record(lambda r: r["type"] == "connect", after=after, timeout=15, describe="reconnect")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_client_back_on_another_process_recovers_its_socket(nc, three, proxy, transport):
    a, b, c = a_call(nc, three, proxy, transport)
    first_id, a_mark, b_mark, c_mark = a.id, a.mark(), b.mark(), c.mark()

    proxy.cut(down_for=1.0, then_to=three[1].port)  # back through the "load balancer" elsewhere
    a.wait_disconnect(after=a_mark)
    traffic(b, c, first_id, "away")
    record = reconnected(a, a_mark)

    assert record["recovered"] is True and record["id"] == first_id
    a.wait_event("chat-message", where=lambda args: args[0]["data"] == "away chat-b-2", after=a_mark)
    a.wait_event("signal", where=lambda args: args[1] == "away c-2", after=a_mark)
    assert received(a, a_mark) == expected("away")
    for other, mark in ((b, b_mark), (c, c_mark)):
        other.assert_no_event("user-left", after=mark, within=0.2)
    # Everything reaches the socket on its new process, and what it sends reaches the others.
    traffic(b, c, first_id, "after")
    a.wait_event("signal", where=lambda args: args[1] == "after c-2", after=a_mark)
    a.emit("signal", c.id, "from ann's new home")
    assert c.wait_event("signal", after=c_mark) == [first_id, "from ann's new home"]
    a.emit("chat-message", {"data": "hello again", "time": 1})
    assert b.wait_event("chat-message", where=lambda args: args[0]["socketIdSender"] == first_id, after=b_mark)[0]["data"] == "hello again"
    # The process that held it before let it go without a word: nobody sees Ann leave,
    # also once its window would have ended there.
    time.sleep(WINDOW_S + 1)
    for other, mark in ((b, b_mark), (c, c_mark)):
        other.assert_no_event("user-left", after=mark, within=0.1)
    assert received(a, a_mark) == tuple(away + after for away, after in zip(expected("away"), expected("after")))


def test_the_client_of_a_killed_process_recovers_on_a_survivor(nc, three, proxy):
    a, b, c = a_call(nc, three, proxy)
    first_id, a_mark, b_mark, c_mark = a.id, a.mark(), b.mark(), c.mark()

    three[0].kill(signal.SIGKILL)
    proxy.cut(down_for=1.0, then_to=three[2].port)
    traffic(b, c, first_id, "killed")  # while Ann has no server at all
    record = reconnected(a, a_mark)

    assert record["recovered"] is True and record["id"] == first_id
    a.wait_event("signal", where=lambda args: args[1] == "killed c-2", after=a_mark)
    a.wait_event("chat-message", where=lambda args: args[0]["data"] == "killed chat-b-2", after=a_mark)
    assert received(a, a_mark) == expected("killed")
    # The survivors notice the dead process and leave Ann, who lives on, in the call.
    time.sleep(BOUND + WINDOW_S + 1)
    for other, mark in ((b, b_mark), (c, c_mark)):
        other.assert_no_event("user-left", after=mark, within=0.1)
    a.emit("signal", b.id, "still in the call")
    assert b.wait_event("signal", after=b_mark) == [first_id, "still in the call"]


def test_a_killed_process_client_that_never_returns_leaves_after_the_window(nc, three, proxy):
    a, b, c = a_call(nc, three, proxy)
    first_id, b_mark = a.id, b.mark()
    three[0].kill(signal.SIGKILL)  # and the proxy leads Ann's client nowhere else
    killed_at = time.monotonic()

    b.assert_no_event("user-left", after=b_mark, within=WINDOW_S - 0.5)  # it may still come back
    assert b.wait_event("user-left", after=b_mark, timeout=BOUND + 5) == [first_id, "ann"]
    assert time.monotonic() - killed_at >= WINDOW_S
