#!/usr/bin/env python
"""A real-browser meeting: two headless Chromium pages, our server, WebRTC between them.

    python tests/browser/run_call.py [--relay | --blip | --restart] [--screenshot-dir DIR]      (as root)

The outer run creates a network namespace with only loopback up and runs itself inside it
(`ip netns exec <ns> python run_call.py --inside`): daphne, a static file server for the
test page and Chromium then all live in that namespace, so no packet can leave
127.0.0.1. When the inside run ends (or overruns its time), every process left in the
namespace is killed and the namespace deleted; Chromium's fresh profile, Playwright's
artifacts and daphne's log live in a scratch TMPDIR that is removed too.

Inside: daphne serves the project (in-memory MongoDB: a MONGODB_URL or REDIS_URL of the
caller would point at the host's loopback, unreachable from the namespace; NODE_ENV=development,
FRONTEND_URL = the test page's origin) and a static server serves tests/browser/call.html
with the npm socket.io-client browser bundle on another port, so the page talks to the API
cross-origin with credentials, as the web client does. Playwright (with Debian's
/usr/bin/chromium, never a downloaded browser) drives two pages:

  host:  signup, login (HttpOnly cookie), verify-user by cookie, create-meet
  guest: check-meet as a guest (no login)
  both:  socket.io-client with default options (polling, then upgrade) and withCredentials,
         join-call; the joiner offers, SDP and ICE go through the server's `signal` relay;
         remote video frames must advance on both sides and a data channel message must
         arrive both ways; a chat message each way with the sender set by the server;
         the guest emits leave-call and the host gets user-left.

With --relay, Debian's coturn runs in the namespace too (`use-auth-secret`), daphne hands
out credentials for it, each page fetches GET /api/v1/ice-servers (the host by its login
cookie, the guest with the meeting code) and makes its peer connection with those ICE
servers and `iceTransportPolicy: "relay"`: the media can only flow through coturn.

With --blip, the guest's socket.io-client reaches daphne through a CuttableProxy
(tests/tcp_proxy.py, in this process; the REST calls stay direct) and daphne pings every
2 s (recovery window at its default). Once video flows both ways the proxy severs the
guest's connection without a close frame and refuses new ones for a second;
socket.io-client reconnects by itself, the page re-sends join-call as the web client does,
and the socket must come back recovered with its id. Media counters are sampled at the cut,
after the recovery and after an ICE restart: the chat runs after the recovery, then the
guest sends an ICE restart offer through the relay and the host answers. Before the
guest's leave-call, both pages' user-left lists are recorded (they must be empty).

With --restart, the README's deployment runs in the namespace: a redis-server, a
MongoDB-compatible server (tests/wire_mongo.py: the workers share their accounts and
meetings, and a restarted worker finds them again), two daphne workers with the same
settings (pings every 2 s, SIGNALING_DRAIN_S=5, the recovery window at its default) and
the README's nginx in front of them (tests/nginx.py); both pages use nginx's URL for REST
and socket.io. Once video flows both ways, worker 1 gets SIGTERM, is started again on its
port and must answer /readyz 200; then worker 2 the same. After each restart both pages
must be connected again (upgraded, join-call re-sent and answered) and the media is
sampled: before, between and after the restarts. The chat runs after them; how long each
worker took to exit and each page was without a transport are in the JSON, and so are
both pages' user-left lists before the guest's leave-call (they must be empty).

Prints one JSON object on stdout (the facts observed; tests/test_browser_call.py asserts
on them) and exits non-zero if any step failed. On failure, screenshots of both pages go
to /tmp/animo-browser-<ns>-<page>.png; with --screenshot-dir, also on success (with
--blip, -recovered ones after the recovery too; with --restart, -restarted ones after
both restarts).
"""

import argparse
import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHROMIUM = os.environ.get("ANIMO_CHROMIUM", "/usr/bin/chromium")
SOCKET_IO_BUNDLE = ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
TOTAL_SECONDS = 90.0  # the whole run, namespace included
INSIDE_SECONDS = 80.0  # the scenario's own budget, inside that

# Chromium's switches. Playwright adds most of its own (--no-sandbox as root since
# chromium_sandbox defaults to False, a fresh temporary --user-data-dir, --headless,
# --no-first-run, --disable-background-networking, --disable-component-update, ...); the
# ones we rely on are repeated here so that the list says what the tests need.
HEADLESS_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
CHROMIUM_ARGS = [
    *HEADLESS_ARGS,
    "--use-fake-ui-for-media-stream",  # grant camera/microphone without a prompt
    "--use-fake-device-for-media-stream",  # a synthetic camera and microphone
    "--allow-loopback-in-peer-connection",  # ICE host candidates on 127.0.0.1
    "--autoplay-policy=no-user-gesture-required",
]

# The environment variables that would point the server or the browser outside the
# namespace (a MongoDB or Redis on the host's loopback is not reachable from inside).
SCRUBBED_ENV = (
    "MONGODB_URL", "DEVELOPMENT_DB_URL", "PRODUCTION_DB_URL", "REDIS_URL",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY",
)
# The signaling settings the scenarios rely on: the defaults unless a scenario sets them.
SIGNALING_ENV = ("SIGNALING_RECOVERY_WINDOW_S", "SIGNALING_PING_INTERVAL_MS", "SIGNALING_PING_TIMEOUT_MS", "SIGNALING_DRAIN_S")
# --blip and --restart: both sides see a lost transport at once; should either miss it,
# the lost heartbeat shows within 4 s instead of the default 45 and the run stays short.
SHORT_PING_ENV = {"SIGNALING_PING_INTERVAL_MS": "2000", "SIGNALING_PING_TIMEOUT_MS": "2000"}
BLIP_DOWN_SECONDS = 1.0
# --restart: each worker's drain is bounded by this; it must have exited 2 s after it.
RESTART_DRAIN_S = 5
RESTART_WORKERS = 2


def log(*parts) -> None:
    print(f"[run_call {time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


# --- outside: the network namespace -------------------------------------------------------


def namespace_pids(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], check=False, capture_output=True, text=True, timeout=10)
    return [int(p) for p in out.stdout.split()]


def kill_namespace_processes(ns: str) -> list[int]:
    """SIGKILL every process in our namespace (all of them were started by this run)."""
    killed = []
    for _ in range(20):
        pids = [p for p in namespace_pids(ns) if p != os.getpid()]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.1)
    return killed


def delete_namespace(ns: str) -> bool:
    kill_namespace_processes(ns)
    subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True, timeout=10)
    listed = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True, text=True, timeout=10).stdout
    return ns not in listed.split()


def run_outside(args) -> int:
    ns = args.netns or f"animo-{secrets.token_hex(4)}"
    result: dict = {"ok": False, "netns": ns}
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces)")
    if shutil.which("ip") is None:
        problems.append("`ip` not found (apt-get install iproute2)")
    if args.relay and shutil.which("turnserver") is None:
        problems.append("`turnserver` not found (apt-get install coturn)")
    if args.restart:
        problems += [f"`{tool}` not found (apt-get install {tool.split('-')[0]})" for tool in ("nginx", "redis-server") if shutil.which(tool) is None]
    if problems:
        result["error"] = "; ".join(problems)
        print(json.dumps(result))
        return 2

    started = time.monotonic()
    created = False
    scratch = None
    rc = 1
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=10)
        created = True
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, capture_output=True, timeout=10)
        command = ["ip", "netns", "exec", ns, sys.executable, str(Path(__file__).resolve()), "--inside", "--netns", ns]
        if args.screenshot_dir:
            command += ["--screenshot-dir", args.screenshot_dir]
        if args.relay:
            command.append("--relay")
        if args.blip:
            command.append("--blip")
        if args.restart:
            command.append("--restart")
        log("namespace", ns, "up; running the call inside it")
        # Chromium's profile, Playwright's artifacts and daphne's log go to a directory of
        # this run, removed at the end even when the run had to be killed.
        scratch = tempfile.mkdtemp(prefix="animo-browser-")
        env = {**os.environ, "TMPDIR": scratch}
        inner = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, start_new_session=True)
        try:
            out, _ = inner.communicate(timeout=max(5.0, TOTAL_SECONDS - (time.monotonic() - started)))
            rc = inner.returncode
            lines = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
            try:
                result = json.loads(lines[-1])
            except (IndexError, json.JSONDecodeError):
                result = {"ok": False, "error": f"the inside run printed no JSON (exit {rc})", "stdout": out.decode(errors="replace")[-4000:]}
                rc = rc or 1
        except subprocess.TimeoutExpired:
            result = {"ok": False, "error": f"the run did not finish within {TOTAL_SECONDS:.0f} s; its processes were killed"}
            rc = 1
            kill_namespace_processes(ns)
            inner.kill()
            inner.wait(10)
    except subprocess.CalledProcessError as exc:
        result = {"ok": False, "error": f"{' '.join(exc.cmd)} failed: {exc.stderr.decode(errors='replace').strip()}"}
        rc = 1
    finally:
        if created:
            leftovers = kill_namespace_processes(ns)
            result["netns_leftover_processes_killed"] = len(leftovers)
            result["netns_deleted"] = delete_namespace(ns)
            if not result["netns_deleted"]:
                rc = rc or 1
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        result["netns"] = ns
        result["total_seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(result))
    return rc


# --- inside: servers and browsers ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StaticFiles(BaseHTTPRequestHandler):
    """The test page, its script and the socket.io-client bundle; nothing else."""

    FILES: ClassVar[dict] = {
        "/": (HERE / "call.html", "text/html; charset=utf-8"),
        "/call.js": (HERE / "call.js", "text/javascript; charset=utf-8"),
        "/socket.io.min.js": (SOCKET_IO_BUNDLE, "text/javascript; charset=utf-8"),
    }

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        entry = self.FILES.get(path)
        if entry is None:
            self.send_error(404)
            return
        body = entry[0].read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", entry[1])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def isolation_facts() -> dict:
    """What the namespace looks like from inside: interfaces, and whether the outside is
    reachable at all (it must not be)."""
    links = subprocess.run(["ip", "-o", "link", "show"], check=False, capture_output=True, text=True, timeout=10).stdout
    interfaces = [line.split(":")[1].strip() for line in links.splitlines() if ":" in line]
    with socket.socket() as s:
        s.settimeout(2)
        outside = s.connect_ex(("192.0.2.1", 80))  # TEST-NET-1: never a real host
    return {"interfaces": interfaces, "connect_outside_errno": errno.errorcode.get(outside, str(outside))}


def ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def random_code() -> str:
    letters = string.ascii_lowercase
    part = lambda n: "".join(secrets.choice(letters) for _ in range(n))
    return f"{part(3)}-{part(4)}-{part(3)}"


class Scenario:
    def __init__(self, args):
        self.args = args
        self.deadline = time.monotonic() + INSIDE_SECONDS
        self.result: dict = {"ok": False, "steps": []}
        self.pages: dict = {}
        self.console: dict = {"host": [], "guest": []}
        self.earlier_logs: list = []  # (worker, its log) of each run of a worker before its restart

    def ms_left(self, cap: float = 30.0) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the scenario ran out of time")
        return min(cap, left) * 1000

    def step(self, name: str) -> None:
        log("step:", name)
        self.result["steps"].append(name)

    def wait(self, role: str, expression: str, what: str, cap: float = 30.0):
        """Wait until a JavaScript expression over `s` (the page's state) is truthy."""
        page = self.pages[role]
        try:
            return page.wait_for_function(f"() => {{ const s = window.animo.state; return {expression}; }}", timeout=self.ms_left(cap)).json_value()
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise AssertionError(f"{role}: no {what} ({expression}): {exc.__class__.__name__}: {first_line}") from exc

    def run(self) -> dict:
        for name in SCRUBBED_ENV + SIGNALING_ENV:
            os.environ.pop(name, None)
        sys.path.insert(0, str(ROOT))
        static = turn = proxy = redis_server = mongo = None
        workers: list = []
        balancer = contextlib.ExitStack()
        try:
            from playwright.sync_api import sync_playwright

            from tests.nginx import nginx_in_front_of
            from tests.servers import DaphneServer, PrivateRedis
            from tests.tcp_proxy import CuttableProxy
            from tests.turn import TurnServer
            from tests.wire_mongo import WireMongoServer

            self.result["isolation"] = isolation_facts()
            if not SOCKET_IO_BUNDLE.is_file():
                raise FileNotFoundError(f"{SOCKET_IO_BUNDLE} is missing: run `npm ci` in {ROOT}")
            static_port = free_port()
            static_origin = f"http://127.0.0.1:{static_port}"
            static = ThreadingHTTPServer(("127.0.0.1", static_port), StaticFiles)
            threading.Thread(target=static.serve_forever, daemon=True).start()

            env = {
                "NODE_ENV": "development",
                "FRONTEND_URL": static_origin,
                "MONGODB_DB_NAME": f"animomeet_browser_{secrets.token_hex(6)}",
                # Set, even empty, so that a .env file cannot point the server elsewhere.
                "MONGODB_URL": "",
                "REDIS_URL": "",
                "DEVELOPMENT_DB_URL": "",
                "PRODUCTION_DB_URL": "",
            }
            self.result["relay"] = self.args.relay
            if self.args.relay:
                self.step("start coturn")
                secret = secrets.token_urlsafe(24)
                turn = TurnServer([secret]).start()
                env |= {"STUN_URLS": f"stun:127.0.0.1:{turn.port}", "TURN_URLS": turn.url, "TURN_SECRET": secret}
            self.result["blip"] = self.args.blip
            self.result["restart"] = self.args.restart
            if self.args.blip:
                env |= SHORT_PING_ENV
            if self.args.restart:
                # The workers share the live call state (Redis) and the accounts and meetings
                # (MongoDB's wire protocol), both inside the namespace.
                self.step("start redis-server and a MongoDB-compatible server")
                redis_server = PrivateRedis().start()
                mongo = WireMongoServer().start()
                env |= SHORT_PING_ENV | {
                    "SIGNALING_DRAIN_S": str(RESTART_DRAIN_S),
                    "REDIS_URL": redis_server.url,
                    "CHANNEL_LAYER_PREFIX": f"browser{secrets.token_hex(4)}",
                    "MONGODB_URL": mongo.url,
                }
            self.result["signaling_env"] = {name: env.get(name) for name in SIGNALING_ENV}
            self.step("start daphne" + (f" ({RESTART_WORKERS} workers) and nginx in front" if self.args.restart else ""))
            workers = [DaphneServer("animomeet.asgi:application", env=env) for _ in range(RESTART_WORKERS if self.args.restart else 1)]
            with ThreadPoolExecutor() as starting:  # both workers' start-up at once
                list(starting.map(lambda worker: worker.start(), workers))
            api = workers[0].url
            if self.args.restart:
                api, _ = balancer.enter_context(nginx_in_front_of([w.port for w in workers], Path(tempfile.mkdtemp(prefix="nginx-"))))
            if self.args.blip:
                proxy = CuttableProxy(workers[0].port)
            self.result["servers"] = {
                "api": api, "page": static_origin, "turn": turn.url if turn else None, "guest_socket": proxy.url if proxy else api,
                "workers": [w.url for w in workers],
            }
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=self.ms_left(30), env=dict(os.environ)
                )
                try:
                    self.result["browser_version"] = browser.version
                    self.call(browser, api, static_origin, proxy, workers)
                    if turn is not None:
                        self.result["turn_allocations"] = turn.allocations()
                    self.result["ok"] = True
                except BaseException:
                    self.screenshots(failed=True)
                    raise
                finally:
                    browser.close()
        except Exception as exc:  # noqa: BLE001 - every failure becomes the JSON report
            self.result["error"] = f"{exc.__class__.__name__}: {exc}"
            self.result["traceback"] = traceback.format_exc()[-4000:]
            if workers:
                self.result["daphne_log_tail"] = "".join(
                    f"--- {name}\n{text[-3000:]}\n" for name, text in [*self.earlier_logs, *((w.url, w.log()) for w in workers)]
                )[-8000:]
            if turn is not None:
                self.result["turn_log_tail"] = turn.log()[-4000:]
            if mongo is not None:
                self.result["mongo_log_tail"] = mongo.log()[-2000:]
        finally:
            self.result["console"] = {role: lines[-40:] for role, lines in self.console.items()}
            if proxy is not None:
                proxy.close()
            balancer.close()
            for worker in workers:
                worker.stop()
            for server in (turn, mongo):
                if server is not None:
                    server.stop()
            if redis_server is not None:
                redis_server.kill()
            if static is not None:
                static.shutdown()
                static.server_close()
        return self.result

    def screenshots(self, failed: bool, label: str = "") -> None:
        directory = Path(self.args.screenshot_dir or "/tmp")
        directory.mkdir(parents=True, exist_ok=True)
        shots = self.result.setdefault("screenshots", {})
        for role, page in self.pages.items():
            name = f"{role}-{label}" if label else role
            path = directory / f"animo-browser-{self.args.netns or 'run'}-{name}.png"
            with contextlib.suppress(Exception):
                page.screenshot(path=str(path), timeout=5000)
                shots[name] = str(path)
            if failed:
                with contextlib.suppress(Exception):
                    self.result.setdefault("page_state", {})[role] = page.evaluate("() => window.animo && window.animo.snapshot()")

    def open_page(self, browser, role: str, api: str, origin: str):
        # A context of its own per page: separate cookie jars (the guest has no login).
        context = browser.new_context(permissions=["camera", "microphone"], viewport={"width": 720, "height": 560})
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.on("console", lambda m: self.console[role].append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console[role].append(f"pageerror: {e}"))
        page.goto(f"{origin}/?api={api}&role={role}", timeout=self.ms_left(20))
        page.wait_for_function("() => window.animo && typeof io === 'function'", timeout=self.ms_left(10))
        self.pages[role] = page
        return page

    def media(self) -> dict:
        """Each page's remote video at one moment: the page's frame counters and what the
        decoder and ICE report."""
        return {
            role: {
                "frames": page.evaluate("() => window.animo.snapshot().remoteFrames"),
                "rtc": page.evaluate("() => window.animo.rtcStats()"),
                "ice": page.evaluate("() => window.animo.iceInfo()"),
            }
            for role, page in self.pages.items()
        }

    def call(self, browser, api: str, origin: str, proxy, workers: list) -> None:
        r = self.result
        username = f"host_{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        host_name = "Hannah Host"
        guest_name = "Gus Guest"
        guest_username = f"guest_{secrets.token_hex(3)}"
        code = random_code()
        r["meeting_code"] = code
        r["host"] = {"username": username, "name": host_name}
        r["guest"] = {"username": guest_username, "name": guest_name}

        self.step("open pages")
        host = self.open_page(browser, "host", api, origin)
        guest = self.open_page(browser, "guest", api, origin)

        self.step("host: signup, login, verify-user by cookie, create-meet")
        rest = "([m, p, b]) => window.animo.rest(m, p, b)"
        r["signup"] = host.evaluate(rest, ["POST", "/users/signup", {"name": host_name, "username": username, "password": password}])
        login = host.evaluate(rest, ["POST", "/users/login", {"username": username, "password": password}])
        r["login"] = {"status": login["status"], "message": (login["body"] or {}).get("message"), "token_len": len((login["body"] or {}).get("token") or "")}
        # The page's origin shares the API's host, so a readable cookie would show here.
        r["host_document_cookie"] = host.evaluate("() => document.cookie")
        r["host_cookies"] = [
            {k: c[k] for k in ("name", "domain", "path", "httpOnly", "sameSite")} for c in host.context.cookies() if c["name"] == "token"
        ]
        r["verify_user"] = host.evaluate(rest, ["GET", "/users/verify-user", None])
        r["create_meet"] = host.evaluate(rest, ["POST", f"/meeting/create-meet/{code}", None])

        self.step("guest: check-meet without login")
        r["guest_verify_user"] = guest.evaluate(rest, ["GET", "/users/verify-user", None])
        r["check_meet"] = guest.evaluate(rest, ["GET", f"/meeting/check-meet/{code}", None])
        for key in ("signup", "verify_user", "create_meet", "check_meet"):
            if r[key]["status"] >= 300:
                raise AssertionError(f"{key} answered {r[key]['status']}: {r[key]}")
        if login["status"] != 200:
            raise AssertionError(f"login answered {login['status']}: {login}")

        if self.args.relay:
            self.step("both: ICE servers from the API, relay only")
            queries = {"host": "", "guest": f"?meetingCode={code}"}
            for role, page in self.pages.items():
                answer = page.evaluate(rest, ["GET", f"/ice-servers{queries[role]}", None])
                r.setdefault("ice_servers", {})[role] = answer
                if answer["status"] != 200:
                    raise AssertionError(f"{role}: ice-servers answered {answer['status']}: {answer}")
                page.evaluate("(c) => window.animo.useRtcConfig(c)", {"iceServers": answer["body"]["iceServers"], "iceTransportPolicy": "relay"})

        self.step("both: camera, socket.io connect (polling, then upgrade)")
        socket_urls = {"host": api, "guest": proxy.url if proxy else api}
        for role, page in self.pages.items():
            r.setdefault("local_tracks", {})[role] = page.evaluate("() => window.animo.startMedia()")
            page.evaluate("(url) => window.animo.connect(url)", socket_urls[role])
        for role in self.pages:
            self.wait(role, "s.connected && s.transports.includes('websocket')", "connect and upgrade")

        self.step("host joins, then the guest joins and offers")
        # The host claims another username: the server must take it from the cookie.
        host.evaluate("([c, u, n]) => window.animo.join(c, u, n)", [code.upper(), f"not-{username}", host_name])
        self.wait("host", "s.joined", "own user-joined")
        guest.evaluate("([c, u, n]) => window.animo.join(c, u, n)", [code, guest_username, guest_name])
        self.wait("guest", "s.joined && s.userJoined.some(p => p.existing)", "own user-joined and the roster")
        self.wait("host", "s.userJoined.some(p => p.id !== s.socketId)", "user-joined about the guest")

        self.step("WebRTC: remote video and data channel both ways")
        for role in self.pages:
            self.wait(role, "Object.values(s.remoteFrames).some(f => f.frames >= 10)", "remote video frames", cap=40)
            self.wait(role, "s.dcReceived.length >= 1", "a data channel message", cap=20)
        before = {role: page.evaluate("() => window.animo.snapshot().remoteFrames") for role, page in self.pages.items()}
        time.sleep(2.0)
        after = {role: page.evaluate("() => window.animo.snapshot().remoteFrames") for role, page in self.pages.items()}
        r["frames"] = {role: {"before": before[role], "after": after[role]} for role in self.pages}
        r["rtc_stats"] = {role: page.evaluate("() => window.animo.rtcStats()") for role, page in self.pages.items()}
        if self.args.screenshot_dir:
            self.screenshots(failed=False)  # both tiles live, for a look

        if proxy is not None:
            self.blip(proxy)
        if self.args.restart:
            self.restart_workers(workers)

        self.step("chat both ways, sender set by the server")
        guest.evaluate("([d, f]) => window.animo.chat(d, f)", ["hello from the guest", host_name])
        for role in self.pages:
            self.wait(role, "s.chat.some(m => m.payload.data === 'hello from the guest')", "the guest's chat message", cap=10)
        host.evaluate("([d, f]) => window.animo.chat(d, f)", ["hello from the host", "Somebody Else"])
        for role in self.pages:
            self.wait(role, "s.chat.some(m => m.payload.data === 'hello from the host')", "the host's chat message", cap=10)

        if proxy is not None:
            self.restart_ice()
        if proxy is not None or self.args.restart:
            r["user_left_before_leave"] = {role: page.evaluate("() => window.animo.state.userLeft") for role, page in self.pages.items()}

        self.step("guest leaves the call; the host hears user-left")
        guest.evaluate("() => window.animo.leave()")
        self.wait("host", "s.userLeft.length >= 1", "user-left", cap=10)
        time.sleep(0.5)  # would a stray disconnect or a late event show up?

        r["pages"] = {role: page.evaluate("() => window.animo.snapshot()") for role, page in self.pages.items()}
        for page_state in r["pages"].values():
            page_state["log"] = page_state["log"][-30:]
        r["without_transport_s"] = {role: page_state["withoutTransportS"] for role, page_state in r["pages"].items()}

    def blip(self, proxy) -> None:
        """The guest's signaling connection is cut without a close frame; socket.io-client
        comes back by itself and the page re-sends join-call."""
        r = self.result
        self.step("cut the guest's signaling connection, no way through for a second")
        r["media_at_cut"] = self.media()
        proxy.cut(down_for=BLIP_DOWN_SECONDS)
        cut_at = time.monotonic()
        self.wait("guest", "s.disconnects.length >= 1", "disconnect after the cut", cap=10)
        self.wait("guest", "s.connected && s.connects.length >= 2", "reconnect", cap=20)
        r["reconnected_after_seconds"] = round(time.monotonic() - cut_at, 2)
        # socket.io-client's first retry comes after 0.5 to 1.5 s: it may or may not be refused.
        r["proxy_refused_connections"] = proxy.refused
        self.wait("guest", "s.transports.length >= 4", "upgrade after the reconnect", cap=10)
        self.wait("guest", "s.userJoined.filter(p => p.id === s.socketId && !p.existing).length >= 2", "user-joined answering the re-sent join-call", cap=10)
        time.sleep(2.0)
        r["media_recovered"] = self.media()
        if self.args.screenshot_dir:
            self.screenshots(failed=False, label="recovered")

    def restart_workers(self, workers: list) -> None:
        """A rolling restart as deploy/rolling-restart does it: each worker in turn gets
        SIGTERM (it drains), starts again on its port and must be ready before the next."""
        r = self.result
        r["media_samples"] = {"before the restarts": self.media()}
        r["worker_exit_s"], r["worker_ready_after_s"] = [], []
        for n, worker in enumerate(workers, 1):
            self.step(f"worker {n}: SIGTERM, start it again on its port, wait for /readyz")
            asked = time.monotonic()
            worker.kill(signal.SIGTERM)
            r["worker_exit_s"].append(round(time.monotonic() - asked, 2))
            self.earlier_logs.append((f"{worker.url} before its restart", worker.log()))
            worker.start(timeout=self.ms_left(20) / 1000)
            give_up = time.monotonic() + self.ms_left(20) / 1000
            while not ready(worker.url):
                if time.monotonic() > give_up:
                    raise AssertionError(f"worker {n} was not ready again: /readyz never answered 200")
                time.sleep(0.2)
            r["worker_ready_after_s"].append(round(time.monotonic() - asked, 2))
            # Whichever pages it carried are back through nginx on the other worker: upgraded,
            # and their re-sent join-call answered.
            for role in self.pages:
                self.wait(
                    role,
                    "s.connected && s.connects.length === s.disconnects.length + 1 && s.transports[s.transports.length - 1] === 'websocket'"
                    " && s.userJoined.filter(p => p.id === s.socketId && !p.existing).length === s.connects.length",
                    f"a connected, upgraded socket with its join-call answered after worker {n}'s restart",
                    cap=20,
                )
            time.sleep(2.0)
            r["media_samples"][f"after worker {n}'s restart"] = self.media()
        if self.args.screenshot_dir:
            self.screenshots(failed=False, label="restarted")

    def wait_for_new_ice_session(self, role: str, cap: float = 15.0) -> None:
        """Until the selected candidate pair uses the ICE credentials of the page's current
        local description (the restarted session, not the first one)."""
        page = self.pages[role]
        give_up = time.monotonic() + self.ms_left(cap) / 1000
        while True:
            ice, rtc = page.evaluate("() => window.animo.iceInfo()"), page.evaluate("() => window.animo.rtcStats()")
            if all(rtc[peer]["localUfrag"] == info["localUfrag"] for peer, info in ice.items()):
                return
            if time.monotonic() > give_up:
                raise AssertionError(f"{role}: the selected candidate pair kept the old ICE session: {ice} {rtc}")
            time.sleep(0.2)

    def restart_ice(self) -> None:
        """A renegotiation after the blip: the guest offers new ICE credentials through the
        signal relay, the host answers, and the media must go on over the new session."""
        r = self.result
        host_id = self.pages["host"].evaluate("() => window.animo.state.socketId")
        self.step("guest: an ICE restart offer through the signal relay, the host answers")
        self.pages["guest"].evaluate("(id) => window.animo.restartIce(id)", host_id)
        self.wait("guest", "s.answersReceived.length >= 2", "the answer to the ICE restart", cap=10)
        for role in self.pages:
            self.wait(
                role,
                "Object.values(s.peers).every(p => p.connectionState === 'connected' && ['connected', 'completed'].includes(p.iceConnectionState))",
                "a connected peer connection after the ICE restart",
                cap=15,
            )
            self.wait_for_new_ice_session(role)
        time.sleep(2.0)
        r["media_after_ice_restart"] = self.media()


def run_inside(args) -> int:
    result = Scenario(args).run()
    print(json.dumps(result))
    return 0 if result["ok"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inside", action="store_true", help="run the scenario here (already inside the namespace)")
    parser.add_argument("--netns", help="name of the namespace to create (default: animo-<random>)")
    parser.add_argument("--screenshot-dir", help="also save screenshots of both pages on success, here")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--relay", action="store_true", help="make the call through coturn only (iceTransportPolicy relay)")
    modes.add_argument("--blip", action="store_true", help="cut the guest's signaling connection mid-call; it must recover")
    modes.add_argument("--restart", action="store_true", help="two workers behind nginx, each restarted in turn mid-call")
    args = parser.parse_args()
    return run_inside(args) if args.inside else run_outside(args)


if __name__ == "__main__":
    sys.exit(main())
