"""Memory under churn: repeated join/leave cycles against one worker, its RSS after each.

Starts one worker (in-memory state and database), then runs cycles. In each, a few
hundred python-socketio clients connect (WebSocket only, polling only, polling then the
upgrade; half of them named as a browser, so that the server offers them connection state
recovery), join calls of six, send signals, chat and media toggles, then leave: by
`leave-call`, by a Socket.IO disconnect, or by a TCP connection cut without any close (each
such client goes through a loopback proxy of its own, which is cut and then refuses). One
member of each call stays until it has seen every other member's `user-left`, then leaves
in turn. The script then waits out heartbeat and recovery window, checks with a probe
client that every call of the cycle is empty, and samples the worker's VmRSS. It prints a
table and the growth from the end of the warm-up to the last cycle.

    .venv/bin/python bench/soak.py                               # recovery window 2 s
    .venv/bin/python bench/soak.py --recovery-window 0           # recovery off
    .venv/bin/python bench/soak.py --cycles 30 --clients 300 --trace  # where memory goes

`--trace` runs the worker under tracemalloc and prints, between the end of the warm-up and
the last cycle, the source lines whose live allocations grew most and the object types
whose counts grew. Only loopback; stops by itself after `--cycles` or `--max-seconds`; the
worker is stopped at the end. Exits 1 if an expected event was missing or a call was left
with somebody in it.
"""

import argparse
import asyncio
import collections
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import engineio.payload
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project (for the traced worker) and the tests' helpers

from tests.servers import free_port  # noqa: E402
from tests.tcp_proxy import CuttableProxy  # noqa: E402

CALL_SIZE = 6
TRANSPORTS = (["websocket"], ["polling"], ["polling", "websocket"])
# socket.io-client's way of naming itself does not matter; not naming itself as a Python
# HTTP library does: such clients are offered recovery (signaling/wiring.py).
BROWSER_AGENT = "Mozilla/5.0 (soak) socket.io-client"
# How the members of a call leave, by their place in it; the last one stays until it has
# seen the others leave, and then leaves as LEAVE_MODES[call index % 3].
LEAVE_MODES = ("leave-call", "disconnect", "drop")
MEMBER_MODES = ("leave-call", "disconnect", "drop", "leave-call", "drop")
SIGNAL_MESSAGE = {"type": "offer", "sdp": "v=0 " + "a" * 600}
TRACE_DUMP_SIGNAL = signal.SIGUSR1
# python-engineio's client refuses a polling answer of more than 16 packets (socket.io-client
# has no such limit); a member polling through its proxy in a busy call gets 30 at times.
engineio.payload.Payload.max_decode_packets = 1000


# --- the worker ------------------------------------------------------------------------


def serve_traced(daphne_args: list[str]) -> None:
    """The worker under tracemalloc: on TRACE_DUMP_SIGNAL it collects garbage and writes
    a snapshot and a count of live objects by type to SOAK_TRACE_DIR/<n>.*"""
    import runpy
    import tracemalloc

    tracemalloc.start(int(os.environ.get("SOAK_TRACE_FRAMES", "12")))
    out = Path(os.environ["SOAK_TRACE_DIR"])
    dumps = iter(range(1, 1_000_000))

    def dump(*_):
        n = next(dumps)
        # An exception here would surface in whatever the worker was running.
        try:
            gc.collect()
            counts = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())
            (out / f"{n}.types.json").write_text(json.dumps(counts))
            (out / f"{n}.traced").write_text(str(tracemalloc.get_traced_memory()[0]))
            tracemalloc.take_snapshot().dump(str(out / f"{n}.tracemalloc"))
        except Exception as error:
            (out / f"{n}.failed").write_text(repr(error))
        (out / f"{n}.done").touch()

    signal.signal(TRACE_DUMP_SIGNAL, dump)
    sys.argv = ["animomeet.serve", *daphne_args]
    runpy.run_module("animomeet.serve", run_name="__main__")


class Worker:
    def __init__(self, env: dict, trace_dir: Path | None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.trace_dir = trace_dir
        self.dumps = 0
        daphne_args = ["-v", "0", "-b", "127.0.0.1", "-p", str(self.port), "animomeet.asgi:application"]
        command = [sys.executable, "-m", "animomeet.serve", *daphne_args]
        if trace_dir is not None:
            command = [sys.executable, str(Path(__file__).resolve()), "--traced-worker", *daphne_args]
            env = {**env, "SOAK_TRACE_DIR": str(trace_dir)}
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def status(self) -> dict[str, int]:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return {
            "rss_kib": int(fields["VmRSS"].split()[0]),
            "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{self.process.pid}/fd")),
        }

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + 60  # longer under tracemalloc
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise SystemExit(f"the worker exited:\n{self.output()}")
                try:
                    async with session.get(self.url + "/"):
                        return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        raise SystemExit("the worker did not start")

    async def dump_trace(self) -> int:
        """Has the worker collect garbage and write what is live; returns the bytes that
        tracemalloc counts live."""
        self.dumps += 1
        os.kill(self.process.pid, TRACE_DUMP_SIGNAL)
        done = self.trace_dir / f"{self.dumps}.done"
        deadline = time.monotonic() + 120
        while not done.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker wrote no trace:\n{self.output()}")
            await asyncio.sleep(0.2)
        failed = self.trace_dir / f"{self.dumps}.failed"
        if failed.exists():
            raise SystemExit(f"the worker failed to write its trace: {failed.read_text()}")
        return int((self.trace_dir / f"{self.dumps}.traced").read_text())

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


# --- a cuttable path to it ---------------------------------------------------------------


# --- clients -----------------------------------------------------------------------------


@dataclass
class Member:
    name: str
    room: str
    transports: list[str]
    browser: bool
    leave_mode: str
    sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False, handle_sigint=False))
    proxy: CuttableProxy | None = None
    sid: str = ""
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    left: set = field(default_factory=set)  # sids of the user-left events it received
    duplicate_left: int = 0
    signals: int = 0
    chats: int = 0
    media_updates: int = 0
    call_errors: list = field(default_factory=list)
    gone: bool = False  # it was disconnected or cut on purpose
    lost: bool = False  # it was disconnected without being told to
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self):
        self.sio.on("user-joined", self._user_joined)
        self.sio.on("user-left", self._user_left)
        self.sio.on("signal", self._count("signals"))
        self.sio.on("chat-message", self._count("chats"))
        self.sio.on("user-media-update", self._count("media_updates"))
        self.sio.on("call-error", lambda *args: self.call_errors.append(args[0]))
        self.sio.on("disconnect", self._disconnected)

    # A browser-named client is sent each event's offset as one more argument: *args.
    async def _user_joined(self, payload, *_):
        if payload["id"] == self.sid:
            self.joined.set()
            self._notify()

    async def _user_left(self, sid, *_):
        if sid in self.left:
            self.duplicate_left += 1
        self.left.add(sid)
        self._notify()

    def _count(self, counter: str):
        async def handler(*_):
            setattr(self, counter, getattr(self, counter) + 1)
            self._notify()

        return handler

    async def _disconnected(self, *_):
        if not self.gone:
            self.lost = True

    def _notify(self):
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait_until(self, condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                return condition()
        return True

    async def connect(self, port: int) -> None:
        if self.leave_mode == "drop":
            self.proxy = CuttableProxy(port)
            port = self.proxy.port
        headers = {"User-Agent": BROWSER_AGENT} if self.browser else {}
        await self.sio.connect(f"http://127.0.0.1:{port}", headers=headers, transports=self.transports, wait_timeout=20)
        self.sid = self.sio.get_sid()

    async def join(self) -> None:
        await self.sio.emit("join-call", join_payload(self.room, self.name))

    async def leave(self, mode: str) -> None:
        if mode == "leave-call":
            await self.sio.emit("leave-call")
            return
        self.gone = True
        if mode == "disconnect":
            await asyncio.wait_for(self.sio.disconnect(), 10)
        else:
            self.proxy.close()

    async def close(self) -> None:
        """After the cycle: a clean disconnect for those still connected, and for a cut
        one, the client side of what is left (its session is dead on the server)."""
        self.gone = True
        if self.proxy is not None:
            self.proxy.close()
        try:
            await asyncio.wait_for(self.sio.disconnect(), 10)
        except (TimeoutError, socketio.exceptions.SocketIOError, aiohttp.ClientError, OSError):
            pass


def join_payload(room: str, name: str) -> dict:
    return {
        "roomID": room,
        "username": name,
        "name": name,
        "audioEnabled": True,
        "audioAvailable": True,
        "videoEnabled": False,
        "videoAvailable": True,
    }


# --- a cycle -----------------------------------------------------------------------------


@dataclass
class CycleResult:
    seconds: float = 0.0
    connect_failures: int = 0
    join_failures: int = 0
    traffic_missing: int = 0
    user_left_missing: int = 0
    user_left_duplicated: int = 0
    unexpected_disconnects: int = 0
    call_errors: int = 0
    left_over: int = 0  # participants the probe found in this cycle's calls


def members_of_cycle(cycle: int, clients: int) -> list[list[Member]]:
    calls = []
    for call in range(clients // CALL_SIZE):
        room = f"soak-{cycle}-{call}"
        modes = [*MEMBER_MODES, LEAVE_MODES[call % len(LEAVE_MODES)]]
        calls.append(
            [
                Member(
                    name=f"c{cycle}r{call}m{place}",
                    room=room,
                    transports=TRANSPORTS[(call + place) % len(TRANSPORTS)],
                    browser=(call * CALL_SIZE + place) % 2 == 0,
                    leave_mode=modes[place],
                )
                for place in range(CALL_SIZE)
            ]
        )
    return calls


async def gather_limited(coroutines, limit: int) -> list:
    gate = asyncio.Semaphore(limit)

    async def run(coroutine):
        async with gate:
            return await coroutine

    return await asyncio.gather(*(run(c) for c in coroutines), return_exceptions=True)


async def run_call(members: list[Member], result: CycleResult, leave_timeout: float) -> None:
    """Traffic, then the leaves; counts what did not arrive."""
    # One signal to the next member, two chat messages and a media toggle from each.
    for i, member in enumerate(members):
        await member.sio.emit("signal", (members[(i + 1) % len(members)].sid, SIGNAL_MESSAGE))
        for n in range(2):
            await member.sio.emit("chat-message", {"data": f"message {n} from {member.name}", "time": time.time()})
        await member.sio.emit(
            "toggle-media",
            {"roomId": member.room, "peerVideoEnabled": True, "peerVideoAvailable": True, "peerAudioEnabled": True, "peerAudioAvailable": True},
        )
    everything = len(members) * 2
    for member in members:
        arrived = await member.wait_until(
            lambda m=member: m.signals >= 1 and m.chats >= everything and m.media_updates >= len(members) - 1, 10
        )
        result.traffic_missing += 0 if arrived else 1

    *leavers, stayer = members
    await asyncio.gather(*(member.leave(member.leave_mode) for member in leavers))
    others = {member.sid for member in leavers}
    if not await stayer.wait_until(lambda: others <= stayer.left, leave_timeout):
        result.user_left_missing += len(others - stayer.left)
    await stayer.leave(stayer.leave_mode)


async def probe(url: str, rooms: list[str]) -> int:
    """Joins each room in turn; counts the participants it finds there besides itself."""
    found = 0
    roster: asyncio.Queue = asyncio.Queue()
    sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    sio.on("user-joined", lambda payload, *_: roster.put_nowait(payload))
    await sio.connect(url, transports=["websocket"])
    try:
        for room in rooms:
            await sio.emit("join-call", join_payload(room, "probe"))
            while (payload := await asyncio.wait_for(roster.get(), 10))["id"] != sio.get_sid():
                pass
            found += len(payload["clients"]) - 1
            await sio.emit("leave-call")
    finally:
        await sio.disconnect()
    return found


async def run_cycle(worker: Worker, cycle: int, args, settle: float) -> CycleResult:
    result = CycleResult()
    started = time.monotonic()
    calls = members_of_cycle(cycle, args.clients)
    members = [m for call in calls for m in call]
    outcomes = await gather_limited((m.connect(worker.port) for m in members), 50)
    connected = [m for m, outcome in zip(members, outcomes) if outcome is None]
    result.connect_failures = len(members) - len(connected)
    try:
        await gather_limited((m.join() for m in connected), 50)
        joined = await asyncio.gather(*(m.wait_until(m.joined.is_set, 10) for m in connected))
        result.join_failures = joined.count(False)
        complete = [call for call in calls if all(m.joined.is_set() for m in call)]
        leave_timeout = settle + 10
        await asyncio.gather(*(run_call(call, result, leave_timeout) for call in complete))
    finally:
        await asyncio.sleep(settle)  # the last members that were cut leave their calls
        await asyncio.gather(*(m.close() for m in members))
    result.user_left_duplicated = sum(m.duplicate_left for m in members)
    result.unexpected_disconnects = sum(m.lost for m in members)
    result.call_errors = sum(len(m.call_errors) for m in members)
    result.left_over = await probe(worker.url, [call[0].room for call in calls])
    result.seconds = time.monotonic() - started
    return result


# --- the run -----------------------------------------------------------------------------


def slope(points: list[tuple[int, int]]) -> float:
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def print_trace_diff(trace_dir: Path, first: int, last: int, top: int) -> None:
    import tracemalloc

    # Not what the dumps themselves allocate.
    own = [tracemalloc.Filter(False, str(Path(__file__).resolve()), all_frames=True), tracemalloc.Filter(False, tracemalloc.__file__)]
    before = tracemalloc.Snapshot.load(str(trace_dir / f"{first}.tracemalloc")).filter_traces(own)
    after = tracemalloc.Snapshot.load(str(trace_dir / f"{last}.tracemalloc")).filter_traces(own)
    before_total = sum(s.size for s in before.statistics("filename"))
    after_total = sum(s.size for s in after.statistics("filename"))
    print(f"\ntracemalloc: traced memory {before_total / 1024:,.0f} KiB -> {after_total / 1024:,.0f} KiB")
    print("source lines whose live allocations grew most:")
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  {frame.filename}:{frame.lineno}")
    print(f"the same, by full traceback (the {min(3, top)} largest):")
    for stat in after.compare_to(before, "traceback")[: min(3, top)]:
        print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
        for line in stat.traceback.format(most_recent_first=True)[:16]:
            print("      " + line)
    types_before = json.loads((trace_dir / f"{first}.types.json").read_text())
    types_after = json.loads((trace_dir / f"{last}.types.json").read_text())
    grown = sorted(((types_after[t] - types_before.get(t, 0), t) for t in types_after), reverse=True)
    print("object types whose live counts grew most (gc-tracked objects):")
    for diff, name in grown[:top]:
        if diff > 0:
            print(f"  {diff:+8d}  {name}  ({types_after[name]} live)")


async def soak(args) -> bool:
    env = {
        **os.environ,
        "NODE_ENV": "development",
        "PYTHONUNBUFFERED": "1",
        "SIGNALING_ALLOW_UNKNOWN_ROOMS": "true",
        "SIGNALING_MAX_SESSIONS_PER_ADDRESS": "0",
        "SIGNALING_RECOVERY_WINDOW_S": str(args.recovery_window),
        # A cut polling client is noticed only by its missed heartbeat: short ones keep a
        # cycle short.
        "SIGNALING_PING_INTERVAL_MS": str(int(args.ping_interval * 1000)),
        "SIGNALING_PING_TIMEOUT_MS": str(int(args.ping_timeout * 1000)),
    }
    env.pop("REDIS_URL", None)
    trace_dir = Path(tempfile.mkdtemp(prefix="soak-trace-")) if args.trace else None
    worker = Worker(env, trace_dir)
    settle = args.ping_interval + args.ping_timeout + args.recovery_window + 1.5
    rows: list[tuple[int, dict, CycleResult]] = []
    ok = True
    try:
        await worker.wait_ready()
        print(
            f"soak: {args.clients // CALL_SIZE * CALL_SIZE} clients per cycle in calls of {CALL_SIZE}, recovery window "
            f"{args.recovery_window} s, heartbeat {args.ping_interval}+{args.ping_timeout} s, worker pid {worker.process.pid}"
            + (", under tracemalloc" if args.trace else "")
        )
        start = worker.status()
        print(f"worker at start: RSS {start['rss_kib']:,} KiB, {start['fds']} fds, {start['threads']} threads")
        header = "cycle  seconds  RSS KiB  delta KiB  fds  threads  connect/join failed  traffic missing  user-left missing/dup  lost  call-errors  left over"
        print(header + ("  traced KiB" if args.trace else ""))
        began = time.monotonic()
        previous = start["rss_kib"]
        for cycle in range(1, args.cycles + 1):
            if time.monotonic() - began > args.max_seconds:
                print(f"stopped after {cycle - 1} cycles: --max-seconds {args.max_seconds} reached")
                break
            result = await run_cycle(worker, cycle, args, settle)
            status = worker.status()
            if args.trace:
                status["traced_kib"] = await worker.dump_trace() // 1024
            rows.append((cycle, status, result))
            print(
                f"{cycle:5d}  {result.seconds:7.1f}  {status['rss_kib']:7,}  {status['rss_kib'] - previous:+9,}  {status['fds']:3d}  {status['threads']:7d}"
                f"  {result.connect_failures:>9}/{result.join_failures:<9}  {result.traffic_missing:15d}"
                f"  {result.user_left_missing:>11}/{result.user_left_duplicated:<9}  {result.unexpected_disconnects:4d}"
                f"  {result.call_errors:11d}  {result.left_over:9d}"
                + (f"  {status['traced_kib']:10,}" if args.trace else ""),
                flush=True,
            )
            previous = status["rss_kib"]
        all_rooms = [f"soak-{cycle}-{call}" for cycle, _, _ in rows for call in range(args.clients // CALL_SIZE)]
        final_left_over = await probe(worker.url, all_rooms)
    finally:
        worker.stop()

    failures = {
        name: sum(getattr(r, name) for _, _, r in rows)
        for name in ("connect_failures", "join_failures", "traffic_missing", "user_left_missing", "user_left_duplicated", "unexpected_disconnects", "call_errors", "left_over")
    }
    failures["left_over_at_the_end"] = final_left_over
    print(f"\nfinal probe: {len(all_rooms)} calls joined, {final_left_over} participants found in them")
    for name, count in failures.items():
        if count:
            ok = False
            print(f"FAIL: {name.replace('_', ' ')}: {count}")
    if len(rows) > args.warmup:
        measured = [(cycle, status["rss_kib"]) for cycle, status, _ in rows if cycle >= args.warmup]
        growth = measured[-1][1] - measured[0][1]
        churned = args.clients // CALL_SIZE * CALL_SIZE
        # A leak grows by the same amount every cycle; the allocator settling in grows by
        # less and less: the second half of the measured cycles tells them apart.
        late = measured[len(measured) // 2 :]
        print(
            f"RSS from cycle {args.warmup} to {measured[-1][0]}: {measured[0][1]:,} -> {measured[-1][1]:,} KiB, growth {growth:+,} KiB,"
            f" slope {slope(measured):+.1f} KiB/cycle ({slope(measured) * 1024 / churned:+.0f} bytes per client per cycle);"
            f" from cycle {late[0][0]}: {slope(late):+.1f} KiB/cycle"
        )
        flat = slope(late) <= args.max_slope
        print(f"verdict: RSS {'flat' if flat else 'GROWS'} (limit {args.max_slope} KiB/cycle from cycle {late[0][0]})")
        ok = ok and flat
    else:
        print(f"fewer cycles than the warm-up ({args.warmup}): no verdict on memory")
        ok = False
    if args.trace and len(rows) > args.warmup:
        measured = [(cycle, status["traced_kib"]) for cycle, status, _ in rows if cycle >= args.warmup]
        print(f"tracemalloc, live after a collection: slope {slope(measured):+.1f} KiB/cycle from cycle {args.warmup}")
        print_trace_diff(trace_dir, args.warmup, len(rows), args.top)
    print(f"verdict: {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> None:
    if sys.argv[1:2] == ["--traced-worker"]:
        serve_traced(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--max-seconds", type=float, default=240, help="start no cycle after this long")
    parser.add_argument("--clients", type=int, default=300, help="clients per cycle (whole calls of 6)")
    parser.add_argument("--warmup", type=int, default=3, help="the cycle whose RSS growth is measured from")
    parser.add_argument("--recovery-window", type=int, default=2, help="SIGNALING_RECOVERY_WINDOW_S (0: recovery off)")
    parser.add_argument("--ping-interval", type=float, default=2.5, help="seconds")
    parser.add_argument("--ping-timeout", type=float, default=2.5, help="seconds")
    parser.add_argument("--max-slope", type=float, default=100, help="KiB per cycle beyond which RSS counts as growing")
    parser.add_argument("--trace", action="store_true", help="run the worker under tracemalloc, show what grew")
    parser.add_argument("--top", type=int, default=15, help="lines and types shown with --trace")
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(soak(args)) else 1)


if __name__ == "__main__":
    main()
