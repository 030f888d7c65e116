"""Real daphne processes for tests (animomeet.serve): started on a free port, stopped by
process group."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaphneServer:
    """One `daphne` process serving an ASGI application on 127.0.0.1."""

    def __init__(self, app: str = "animomeet.asgi:application", env: dict | None = None, daphne_args: tuple = ()):
        self.app = app
        self.daphne_args = tuple(daphne_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"daphne-{self.port}.log"

    def start(self, timeout: float = 20.0) -> "DaphneServer":
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            # As the README runs it: with the receive deadline, without the access log.
            [sys.executable, "-m", "animomeet.serve", "-v", "0", *self.daphne_args, "-b", "127.0.0.1", "-p", str(self.port), self.app],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited early (exit code {self.process.returncode}):\n{self.log()}")
            try:
                requests.get(self.url + "/", timeout=1)
                return self
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or a loaded machine
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"daphne did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class PrivateRedis:
    """A redis-server of a test's own, so that it can be killed and started again."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port).ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


# The heartbeat of the cluster tests' processes: a dead process's sockets are gone (or,
# with recovery, adopted by a survivor) within BOUND seconds.
CLUSTER_PING_INTERVAL_MS = CLUSTER_PING_TIMEOUT_MS = 1000
BOUND = (CLUSTER_PING_INTERVAL_MS + CLUSTER_PING_TIMEOUT_MS) / 1000
CLUSTER_SETTINGS = ("REDIS_URL", "CHANNEL_LAYER_PREFIX", "SIGNALING_ALLOW_UNKNOWN_ROOMS",
                    "SIGNALING_PING_INTERVAL_MS", "SIGNALING_PING_TIMEOUT_MS", "SIGNALING_RECOVERY_WINDOW_S")
