"""How a burst of logins delays the other REST calls of one worker.

Starts one daphne worker (in-memory database), signs a user up, then repeats: 40 logins
at once, and while they run, check-meet calls one after the other. Prints the latency of
those check-meets (and of check-meets on an idle worker, for reference).

    .venv/bin/python bench/login_burst.py                    # this checkout
    .venv/bin/python bench/login_burst.py --root /other/checkout --bursts 10

Needs aiohttp (requirements-dev.txt). Only loopback; the worker is stopped at the end.
"""

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

CREDENTIALS = {"username": "bench", "password": "bench password"}
CODE = "abc-defg-hij"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def start_worker(root: Path, port: int, bcrypt_rounds: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "NODE_ENV": "development",
        "BCRYPT_ROUNDS": str(bcrypt_rounds),
        # The benchmark's own check-meets, all from 127.0.0.1, are not what it measures.
        "RATE_LIMIT_MEETING_LOOKUP": "1000000/60",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), "animomeet.asgi:application"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def wait_for(url: str, session: aiohttp.ClientSession) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(url + "/"):
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    raise SystemExit("the worker did not start")


async def check_meet(session: aiohttp.ClientSession, api: str) -> float:
    started = time.perf_counter()
    async with session.get(f"{api}/meeting/check-meet/{CODE}") as response:
        await response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - started) * 1000


async def login(session: aiohttp.ClientSession, api: str) -> dict:
    async with session.post(f"{api}/users/login", json=CREDENTIALS) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def measure(url: str, logins: int, bursts: int) -> None:
    api = url + "/api/v1"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_for(url, session)
        async with session.post(f"{api}/users/signup", json={"name": "Bench", **CREDENTIALS}) as response:
            assert response.status == 201, await response.text()
        token = (await login(session, api))["token"]
        async with session.post(f"{api}/meeting/create-meet/{CODE}", headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200, await response.text()

        idle = [await check_meet(session, api) for _ in range(200)]
        during, burst_seconds = [], []
        for _ in range(bursts):
            started = time.perf_counter()
            burst = asyncio.gather(*(login(session, api) for _ in range(logins)))
            await asyncio.sleep(0.01)  # the logins reach the worker first
            while not burst.done():
                during.append(await check_meet(session, api))
            await burst
            burst_seconds.append(time.perf_counter() - started)
            await asyncio.sleep(0.5)

    print(f"check-meet, idle worker:      p50 {percentile(idle, 0.5):6.1f} ms  p99 {percentile(idle, 0.99):6.1f} ms")
    print(
        f"check-meet, during {logins} logins: p50 {percentile(during, 0.5):6.1f} ms  p99 {percentile(during, 0.99):6.1f} ms"
        f"  max {max(during):6.1f} ms  ({len(during)} calls)"
    )
    print(f"a burst of {logins} logins takes {statistics.median(burst_seconds):.2f} s (median of {bursts})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent, help="checkout to serve")
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--bcrypt-rounds", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    worker = start_worker(args.root, port, args.bcrypt_rounds)
    try:
        asyncio.run(measure(f"http://127.0.0.1:{port}", args.logins, args.bursts))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(10)


if __name__ == "__main__":
    main()
