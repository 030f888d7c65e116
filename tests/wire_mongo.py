"""A MongoDB-compatible server over the wire for the tests, with no MongoDB installed.

SecantusDB (PyPI `SecantusDB`, pinned in requirements-dev.txt) speaks MongoDB's wire
protocol. It is GPL-2.0 and a test dependency only: nothing outside tests/ imports it, and
it runs as a separate process on a free loopback port, stopped by its process group.

    python -m tests.wire_mongo python -m pytest    # the whole suite against a fresh server

runs the command with MONGODB_URL pointing at a server of its own, and stops the server
when the command ends, with the command's exit status.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymongo
from pymongo.errors import ConnectionFailure

from tests.servers import free_port

# Explicit, so that a secantusd.toml in the working or home directory is never picked up.
CONFIG = Path(__file__).resolve().parent / "secantusd.toml"


class WireMongoServer:
    """One SecantusDB process on 127.0.0.1. Its data lives in `storage` (a temporary
    directory removed by `stop()` unless one is given), so a restart on the same port and
    storage finds the data again, as a restarted MongoDB does."""

    def __init__(self, storage: Path | None = None, durable: bool = False):
        self.port = free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}"
        self._owns_storage = storage is None
        self.storage = storage or Path(tempfile.mkdtemp(prefix="wire-mongo-"))
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"wire-mongo-{self.port}.log"
        self.log_path.write_bytes(b"")  # each start appends: a restart keeps the first run's lines
        # Durable: every commit is synced to disk, so an acknowledged write survives a
        # SIGKILL (as on a journaled MongoDB); by default the last second of writes may not.
        self._durability = ["--sync-on-commit"] if durable else []
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "WireMongoServer":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "secantus", "--config", str(CONFIG),
                "--host", "127.0.0.1", "--port", str(self.port),
                "--storage-path", str(self.storage), "--standalone", *self._durability,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the wire MongoDB server exited early:\n{self.log()}")
            if self.answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the wire MongoDB server did not answer within {timeout}s:\n{self.log()}")

    def answers(self) -> bool:
        with pymongo.MongoClient(self.url, serverSelectionTimeoutMS=500, connectTimeoutMS=500) as client:
            try:
                client.admin.command("ping")
                return True
            except ConnectionFailure:
                return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Ends the process (by default as a crash would); the storage stays for a restart."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        if self._owns_storage:
            shutil.rmtree(self.storage, ignore_errors=True)


def main(command: list[str]) -> int:
    if not command:
        sys.exit("usage: python -m tests.wire_mongo COMMAND [ARG...]")
    # A SIGTERM to this wrapper (CI's timeout) still stops the server, through `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = WireMongoServer().start()
    try:
        print(f"wire MongoDB server (SecantusDB) at {server.url}", flush=True)
        return subprocess.call(command, env={**os.environ, "MONGODB_URL": server.url})
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
