"""The admin as a person sees it: headless Chromium against daphne serving the project
on its embedded defaults, as the README's first command runs it (no `collectstatic`).

The staff account is made the README's way (`manage.py migrate`, `createsuperuser`) in
an SQL database of the test's own, which the daphne process is pointed at. The browser
logs in, opens the meetings list and must get the admin's stylesheets and scripts from
/static/ (200, the right content types) and render with them. Then the live calls: real
socket.io clients in a call (on both transports, one away in its recovery window, one in
the waiting room), listed with what the admin knows of each, removed and ended from the
meeting's page; and in a cluster, a participant whose socket is on another process,
listed and removed from the first. Screenshots are left in the test's temporary folder.

Needs /usr/bin/chromium and the playwright package; without CI set, a missing piece
skips the test, with CI set it fails. Only the server's origin is reachable: every
host name but 127.0.0.1 resolves to nothing.
"""

import importlib.util
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.browser import run_call
from tests.clients.node_client import NodeClients
from tests.meeting_helpers import join
from tests.servers import ROOT
from tests.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.browser

STAFF_USERNAME = "root"
STAFF_PASSWORD = "pw-root-admin-123"
MEETING_CODE = "adm-inbr-ows"
ONLY_LOOPBACK = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


@pytest.fixture
def browser():
    missing = [] if os.access(run_call.CHROMIUM, os.X_OK) else [f"{run_call.CHROMIUM} (apt-get install chromium)"]
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -r requirements-dev.txt)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("CI is set but the admin browser test cannot run; missing: " + "; ".join(missing), pytrace=False)
        pytest.skip("needs " + "; ".join(missing))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=run_call.CHROMIUM, headless=True, args=[*run_call.HEADLESS_ARGS, ONLY_LOOPBACK], timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def staff_database(tmp_path) -> str:
    """An SQL database with a superuser made as the README says."""
    database_url = f"sqlite:///{tmp_path / 'admin.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD}
    for command in (["migrate", "--noinput"], ["createsuperuser", "--noinput", "--username", STAFF_USERNAME, "--email", "root@example.com"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    return database_url


def host_a_meeting(server, code: str = MEETING_CODE) -> str:
    """Alice signs up and creates the meeting through the API; her token."""
    api = f"{server.url}/api/v1"
    account = {"username": "alice", "password": "wonderland-1"}
    assert requests.post(f"{api}/users/signup", json={"name": "Alice", **account}, timeout=10).status_code == 201
    token = requests.post(f"{api}/users/login", json=account, timeout=10).json()["token"]
    created = requests.post(f"{api}/meeting/create-meet/{code}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert created.status_code == 200
    return token


@pytest.fixture
def admin_server(staff_database, start_server):
    """daphne on the embedded defaults, with a superuser and a meeting to list."""
    server = start_server(DATABASE_URL=staff_database, BCRYPT_ROUNDS=4)
    host_a_meeting(server)
    return server


def log_in(page, origin: str, then: str) -> None:
    page.goto(origin + then)  # to the login page, as staff arrive
    page.fill("#id_username", STAFF_USERNAME)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(origin + then)


def live_rows(page) -> dict:
    """The meeting page's live participants: socket id -> the cells, by header."""
    if page.locator("#live-participants").count() == 0:
        return {}
    headers = [header.strip() for header in page.locator("#live-participants thead th").all_text_contents()]
    rows = {}
    for row in page.locator("#live-participants tbody tr").all():
        cells = [cell.strip() for cell in row.locator("td").all_text_contents()]
        rows[row.get_attribute("data-socket-id")] = dict(zip(headers, cells))
    return rows


def list_row(page, first_cell: str) -> dict:
    """The row of the list page whose first cell is `first_cell`, by header."""
    headers = [header.strip() for header in page.locator("#result_list thead th").all_text_contents()[1:]]  # after the checkboxes
    row = page.locator("#result_list tbody tr").filter(has=page.locator("th a", has_text=first_cell))
    cells = [cell.strip() for cell in row.locator("th, td:not(.action-checkbox)").all_text_contents()]
    assert len(cells) == len(headers), (headers, cells)
    return dict(zip(headers, cells))


def meeting_page(page, origin: str) -> None:
    """From the meetings list to the meeting's page, as staff get there."""
    page.goto(f"{origin}/admin/meetings/")
    page.click(f"#result_list a:text-is('{MEETING_CODE}')")
    page.wait_for_selector("#live-call")


def reload_until(page, check, what: str, timeout: float = 10.0):
    """The page's live participants once `check` accepts them, reloading until then
    (what another process does reaches the room state a moment later)."""
    deadline = time.monotonic() + timeout
    while not check(rows := live_rows(page)):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
        page.reload()
    return rows


def _static(responses: list, origin: str) -> dict:
    return {response.url.removeprefix(origin): response for response in responses if response.url.startswith(origin + "/static/")}


def _styled(page) -> dict:
    """What the stylesheets do: the sheets with rules, the header bar's colour against
    the admin's own --header-bg, and the theme toggle's icon widths (unstyled, each
    would be a 300x150 black box)."""
    return page.evaluate(
        """() => {
            const probe = document.createElement('div');
            probe.style.background = 'var(--header-bg)';
            document.body.append(probe);
            const headerBg = getComputedStyle(probe).backgroundColor;
            probe.remove();
            return {
                sheets: [...document.styleSheets].filter(s => { try { return s.href && s.cssRules.length } catch { return false } }).map(s => new URL(s.href).pathname),
                header: getComputedStyle(document.querySelector('#header')).backgroundColor,
                headerBg,
                icons: [...document.querySelectorAll('.theme-toggle svg')].map(i => i.getBoundingClientRect().width),
            };
        }"""
    )


def test_the_admin_meetings_page_renders_with_its_stylesheets(browser, admin_server, tmp_path):
    origin = admin_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    responses = []
    page.on("response", lambda response: responses.append(response))

    page.goto(f"{origin}/admin/meetings/")  # to the login page, as staff arrive
    login_page, login_style = _static(responses, origin), _styled(page)
    responses.clear()
    page.fill("#id_username", STAFF_USERNAME)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{origin}/admin/meetings/")
    page.wait_for_load_state("load")
    screenshot = tmp_path / "admin-meetings.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
    meetings_page, meetings_style = _static(responses, origin), _styled(page)

    # First loads: each file from /static/, 200, with its type.
    stylesheet = login_page.get("/static/admin/css/base.css")
    assert stylesheet is not None, sorted(login_page)
    assert (stylesheet.status, stylesheet.headers["content-type"]) == (200, 'text/css; charset="utf-8"')
    for path, response in login_page.items():
        kind = "text/css" if path.endswith(".css") else "text/javascript" if path.endswith(".js") else ""
        assert response.status == 200 and response.headers["content-type"].startswith(kind), (path, response.status)
    # The meetings page adds its own and revalidates the rest (304 Not Modified).
    assert {"/static/admin/css/changelists.css", "/static/admin/js/theme.js"} <= set(meetings_page)
    assert all(response.status in (200, 304) for response in meetings_page.values())
    assert MEETING_CODE in page.inner_text("#result_list")
    for style in (login_style, meetings_style):
        assert "/static/admin/css/base.css" in style["sheets"]
        assert style["header"] == style["headerBg"] and style["header"] not in ("rgba(0, 0, 0, 0)", "transparent")
        assert style["icons"] and max(style["icons"]) <= 32, style["icons"]
    assert "/static/admin/css/changelists.css" in meetings_style["sheets"]
    # Every request went to our server.
    assert all(response.url.startswith(origin + "/") for response in responses)


@pytest.fixture
def nc():
    with NodeClients() as clients:
        yield clients


def test_the_admin_shows_a_live_call_and_removes_and_ends_it(browser, staff_database, start_server, nc, tmp_path):
    server = start_server(
        DATABASE_URL=staff_database, BCRYPT_ROUNDS=4, SIGNALING_WAITING_ROOM="true", PROCESS_NAME="admin-test-process",
        SIGNALING_RECOVERY_WINDOW_S=60,
    )
    token = host_a_meeting(server)
    proxy = CuttableProxy(server.port)
    try:
        alice = nc.connect("alice", server.url, transports=["websocket"], auth={"token": token})
        join(alice, MEETING_CODE, "alice", "Alice")
        guests = {}
        for name, options in (("gus", {"upgrade": False}), ("rita", {"transports": ["websocket"]}), ("wendy", {"transports": ["websocket"]})):
            url = proxy.url if name == "rita" else server.url
            guests[name] = nc.connect(name, url, **options)
            guests[name].emit("join-call", {"roomID": MEETING_CODE, "username": name, "name": name.title(), "audioEnabled": name != "gus",
                                            "audioAvailable": True, "videoEnabled": True, "videoAvailable": True})
            guests[name].wait_event("waiting")
        gus, rita, wendy = guests["gus"], guests["rita"], guests["wendy"]
        for guest in (gus, rita):  # wendy stays in the waiting room
            alice.emit("admit-user", {"socketId": guest.id})
            guest.wait_event("user-joined", where=lambda args, g=guest: args[0]["id"] == g.id)
        proxy.cut()  # rita's connection drops: her socket waits for her in its recovery window
        rita.wait_disconnect()

        page = browser.new_page(viewport={"width": 1600, "height": 900})
        log_in(page, server.url, "/admin/meetings/")
        assert list_row(page, MEETING_CODE)["Live call"] == "3 in the call"
        page.goto(f"{server.url}/admin/users/")
        assert list_row(page, "alice")["In a call now"] == MEETING_CODE

        meeting_page(page, server.url)
        rows = reload_until(page, lambda rows: rows.get(rita.id, {}).get("Recovering") == "yes", "rita not shown away")
        page.screenshot(path=str(tmp_path / "admin-live-call.png"), full_page=True)
        assert list(rows) == [alice.id, gus.id, rita.id]  # join order
        assert rows[alice.id] | {"In the call since": ""} == {
            "Name": "Alice", "Username": "alice", "Account or guest": "account", "Transport": "websocket",
            "Process": "admin-test-process", "Camera": "on", "Microphone": "on", "In the call since": "", "Recovering": "no", "": "Remove participant",
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", rows[alice.id]["In the call since"])
        assert (rows[gus.id]["Account or guest"], rows[gus.id]["Transport"], rows[gus.id]["Microphone"]) == ("guest", "polling", "off")
        assert (rows[rita.id]["Transport"], rows[rita.id]["Recovering"]) == ("- (away)", "yes")
        waiting = page.locator("#live-waiting tbody tr")
        assert waiting.count() == 1 and waiting.get_attribute("data-socket-id") == wendy.id
        assert [cell.strip() for cell in waiting.locator("td").all_text_contents()[:3]] == ["Wendy", "wendy", "guest"]

        # Remove Gus.
        page.locator(f"#live-participants tr[data-socket-id='{gus.id}'] button").click()
        page.wait_for_load_state("load")
        assert "The participant was removed from the call." in page.inner_text("ul.messagelist")
        assert gus.wait_event("removed")[0] == {"by": None}
        assert gus.wait_disconnect() == "io server disconnect"
        assert alice.wait_event("user-left", where=lambda args: args[0] == gus.id) == [gus.id, "gus"]
        assert list(live_rows(page)) == [alice.id, rita.id]

        # End the call: everyone leaves, wendy is denied, the meeting stays.
        page.click("#end-call button")
        page.wait_for_load_state("load")
        assert "The call was ended." in page.inner_text("ul.messagelist")
        assert alice.wait_event("meeting-ended")[0] == {"by": None}
        assert wendy.wait_event("denied")[0]["reason"] == "the meeting has ended"
        assert live_rows(page) == {} and page.locator("#live-waiting").count() == 0
        page.goto(f"{server.url}/admin/meetings/")
        assert list_row(page, MEETING_CODE)["Live call"] == "-"
    finally:
        proxy.close()


@pytest.mark.redis
def test_the_admin_of_one_process_removes_a_participant_on_another(browser, staff_database, start_server, redis_url, nc):
    cluster = {
        "DATABASE_URL": staff_database, "BCRYPT_ROUNDS": 4, "REDIS_URL": redis_url, "CHANNEL_LAYER_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "SIGNALING_ALLOW_UNKNOWN_ROOMS": "true",  # with no MONGODB_URL each process has a database of its own
    }
    first = start_server(**cluster, PROCESS_NAME="worker-a")
    second = start_server(**cluster, PROCESS_NAME="worker-b")
    host_a_meeting(first)
    guest = nc.connect("guest", second.url, transports=["websocket"])
    join(guest, MEETING_CODE, "gus", "Gus")
    process_b = guest.id.rpartition(".")[2]

    page = browser.new_page(viewport={"width": 1600, "height": 900})
    log_in(page, first.url, "/admin/meetings/")
    assert list_row(page, MEETING_CODE)["Live call"] == "1 in the call"
    meeting_page(page, first.url)
    row = live_rows(page)[guest.id]
    assert (row["Name"], row["Transport"], row["Process"]) == ("Gus", "websocket", f"worker-b/{process_b}")

    page.locator(f"#live-participants tr[data-socket-id='{guest.id}'] button").click()
    page.wait_for_load_state("load")
    assert guest.wait_event("removed")[0] == {"by": None}
    assert guest.wait_disconnect() == "io server disconnect"
    reload_until(page, lambda rows: rows == {}, "the guest still listed on the first process")
