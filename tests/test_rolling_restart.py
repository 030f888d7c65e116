"""Zero-downtime restarts: three workers behind the README's nginx, a six-party call with
signals and chat flowing all along, and every worker restarted in turn, with SIGTERM
(each drains: its clients recover on the others) and with SIGKILL (its clients recover
on the survivors within the window)."""

import signal
import statistics
import threading
import time
import uuid

import pytest
import requests

from tests.meeting_helpers import join
from tests.nginx import nginx_in_front_of
from tests.servers import BOUND

pytestmark = pytest.mark.redis

DRAIN_S = 5
# How long before its client saw the transport close a lost message may have been sent:
# the close frame's way over loopback, and the driver's report of it, on a loaded machine.
CLOSE_IN_FLIGHT_S = 0.25
WORKERS = 3
NAMES = ("ann", "bob", "cid", "dee", "eve", "fay")
# Half of them start on long-polling and upgrade, half are WebSocket only, as browsers
# behind various proxies are.
TRANSPORTS = ({"transports": ["websocket"]}, {})
RECONNECTING = {"reconnection": True, "reconnectionDelay": 200, "reconnectionDelayMax": 500, "randomizationFactor": 0}


@pytest.fixture
def workers(cluster):
    return cluster(WORKERS, SIGNALING_DRAIN_S=DRAIN_S, SIGNALING_RECOVERY_WINDOW_S=30)


@pytest.fixture
def balancer(workers, tmp_path):
    with nginx_in_front_of([w.port for w in workers], tmp_path) as (url, _):
        yield url


def ready(worker) -> bool:
    try:
        return requests.get(worker.url + "/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def restart(worker, sig: int, asked_at: list) -> float:
    """Stop the worker with `sig`, start it again on its port, wait until it is ready (as
    deploy/rolling-restart does); returns how long it took to exit."""
    asked = time.monotonic()
    asked_at.append(asked)
    worker.kill(sig)
    exited = time.monotonic() - asked
    worker.start()
    deadline = time.monotonic() + 20
    while not ready(worker):
        assert time.monotonic() < deadline, "the restarted worker did not get ready"
        time.sleep(0.2)
    return exited


class Traffic:
    """Every participant, in turn, sends a chat message to the call and a signal to the
    next one, numbered, until stopped: what each one should have received is known."""

    def __init__(self, members: dict, ids: dict):
        self.members = members  # name -> client
        self.ids = ids  # name -> socket id
        self.sent_chats: dict[str, list[str]] = {name: [] for name in members}
        self.sent_signals: dict[tuple[str, str], list[str]] = {}
        self.sent_at: dict[str, float] = {}  # message -> when it was emitted
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        names, n = list(self.members), 0
        while not self._stop.is_set():
            for i, name in enumerate(names):
                client, to = self.members[name], names[(i + 1) % len(names)]
                chat, sig = f"{name} chat {n}", f"{name} to {to} {n}"
                self.sent_at[chat] = self.sent_at[sig] = time.monotonic()
                client.emit("chat-message", {"data": chat, "time": 1})
                client.emit("signal", self.ids[to], sig)
                self.sent_chats[name].append(chat)
                self.sent_signals.setdefault((name, to), []).append(sig)
            n += 1
            time.sleep(0.1)

    def check_delivered(self, marks: dict, timeout: float = 15) -> list[str]:
        """Each message at most once, in each sender's order, at every recipient; returns
        what never arrived (the caller says what may be missing)."""
        for name, client in self.members.items():
            last = self.sent_chats[name][-1]
            for other in self.members.values():
                arrived(other, "chat-message", lambda args, last=last: args[0]["data"] == last, marks[other.name], timeout)
        missing = []
        for (sender, to), sent in self.sent_signals.items():
            recipient = self.members[to]
            arrived(recipient, "signal", lambda args, last=sent[-1]: args[1] == last, marks[to], timeout)
            got = [args[1] for args in recipient.events("signal", after=marks[to]) if args[0] == self.ids[sender]]
            missing += in_order_at_most_once(got, sent)
        for name, client in self.members.items():
            chats = [args[0]["data"] for args in client.events("chat-message", after=marks[name])]
            for sender, sent in self.sent_chats.items():
                missing += in_order_at_most_once([c for c in chats if c.startswith(f"{sender} chat ")], sent)
        return missing


def arrived(client, event: str, where, after: int, timeout: float) -> None:
    """Wait for the last message of a sender; if it never comes, what is missing is
    reported by the checks that follow."""
    try:
        client.wait_event(event, where=where, after=after, timeout=timeout)
    except AssertionError:
        pass


def lost_for_everyone(missing: list[str], traffic: "Traffic", how: str) -> list[str]:
    """The messages that never arrived, in the order they were sent, after checking that
    a chat message that is missing is missing at every participant: it never reached the
    call, rather than reaching part of it."""
    chats_lost = [m for m in missing if " chat " in m]
    partial = sorted({m for m in chats_lost if chats_lost.count(m) != len(NAMES)})
    assert not partial, f"chat messages that reached some but not all: {partial}"
    lost = sorted(set(missing), key=traffic.sent_at.get)
    print(f"lost with {how}: {len(lost)} of {len(traffic.sent_at)}: {lost}")
    return lost


def in_order_at_most_once(got: list[str], sent: list[str]) -> list[str]:
    """What of `sent` is not in `got`, after checking that `got` is `sent` in order, less
    some, with no duplicates."""
    assert len(set(got)) == len(got), f"duplicates: {got}"
    position = {message: n for n, message in enumerate(sent)}
    assert [position[m] for m in got] == sorted(position[m] for m in got), f"out of order: {got}"
    return [m for m in sent if m not in set(got)]


def a_call(nc, balancer):
    room = f"deploy-{uuid.uuid4().hex[:8]}"
    members = {}
    for i, name in enumerate(NAMES):
        members[name] = nc.connect(name, balancer, **TRANSPORTS[i % 2], **RECONNECTING)
        join(members[name], room, name, name.title())
    return room, members


def restart_all_during_a_call(nc, workers, balancer, sig: int) -> list[float]:
    room, members = a_call(nc, balancer)
    ids = {name: client.id for name, client in members.items()}
    marks = {name: client.mark() for name, client in members.items()}
    exits, stopped_at = [], []
    with Traffic(members, ids) as traffic:
        time.sleep(0.5)
        for n, worker in enumerate(workers):
            restarting = threading.Thread(target=lambda w=worker: exits.append(restart(w, sig, stopped_at)))
            restarting.start()
            time.sleep(0.3)
            # Somebody new can join at every moment of it.
            newcomer = nc.connect(f"new-{n}", balancer, transports=["websocket"], timeout=10)
            joined = join(newcomer, room, f"new-{n}", f"New {n}", timeout=10)
            assert set(ids.values()) <= set(joined["clients"])
            newcomer.disconnect()
            restarting.join(40)
            time.sleep(1.0)
    missing = traffic.check_delivered(marks)
    for name, client in members.items():
        assert client.id == ids[name], f"{name} got a new socket"
        newcomers = {f"new-{n}" for n in range(WORKERS)}
        left = [args[1] for args in client.events("user-left", after=marks[name])]
        assert set(left) <= newcomers, f"{name} saw {left} leave"
        reconnects = client.records("connect", after=marks[name])
        assert all(r["recovered"] for r in reconnects), f"{name} reconnected without recovering"
    gaps = sorted(transportless(client, marks[name]) for name, client in members.items())
    gaps = [gap for per_client in gaps for gap in per_client]
    if gaps:
        print(f"without a transport: median {statistics.median(gaps):.2f} s, worst {max(gaps):.2f} s, {len(gaps)} times")
    return exits, missing, traffic, stopped_at


def transportless(client, after: int) -> list[float]:
    """How long the client was without a transport, each time it lost one."""
    gaps, lost_at = [], None
    for record in client.records(after=after):
        if record["type"] == "disconnect":
            lost_at = record["at"]
        elif record["type"] == "connect" and lost_at is not None:
            gaps.append(record["at"] - lost_at)
            lost_at = None
    return gaps


def test_restarting_every_worker_with_sigterm_drops_nobody_and_loses_nothing(nc, workers, balancer):
    exits, missing, traffic, _ = restart_all_during_a_call(nc, workers, balancer, signal.SIGTERM)
    # The one gap the protocol leaves: what a client emits while the server's WebSocket
    # close frame is on its way is discarded by the client's own WebSocket (it never
    # reaches a server). Only such messages may be missing, and then for everyone alike.
    for message in lost_for_everyone(missing, traffic, "SIGTERM"):
        sender = traffic.members[message.split(" ")[0]]
        lost_transport_at = [r["at"] for r in sender.records("disconnect")]
        assert any(0 <= at - traffic.sent_at[message] <= CLOSE_IN_FLIGHT_S for at in lost_transport_at), message
    assert all(exited < DRAIN_S + 3 for exited in exits), exits
    print(f"drains took {', '.join(f'{e:.2f}' for e in exits)} s")


def test_killing_every_worker_in_turn_drops_nobody(nc, workers, balancer):
    # What was for the killed worker's clients is replayed from Redis on the survivors.
    # Lost: what their clients had sent to it and it had not handled yet, and what a
    # client whose WebSocket another worker forwards to the killed one sent until the
    # cluster noticed the death (BOUND): such a message reaches no recipient at all (it
    # never reached the call), and it was sent around a kill.
    _, missing, traffic, killed_at = restart_all_during_a_call(nc, workers, balancer, signal.SIGKILL)
    for message in lost_for_everyone(missing, traffic, "SIGKILL"):
        assert any(kill - 0.5 <= traffic.sent_at[message] <= kill + BOUND + 1 for kill in killed_at), message
