"""The admin as a person sees it: headless Chromium against daphne serving the project
on its embedded defaults, as the README's first command runs it (no `collectstatic`).

The staff account is made the README's way (`manage.py migrate`, `createsuperuser`) in
an SQL database of the test's own, which the daphne process is pointed at. The browser
logs in, opens the meetings list and must get the admin's stylesheets and scripts from
/static/ (200, the right content types) and render with them. A screenshot is left in
the test's temporary folder.

Needs /usr/bin/chromium and the playwright package; without CI set, a missing piece
skips the test, with CI set it fails. Only the server's origin is reachable: every
host name but 127.0.0.1 resolves to nothing.
"""

import importlib.util
import os
import subprocess
import sys

import pytest
import requests

from tests.browser import run_call
from tests.servers import ROOT

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
def admin_server(tmp_path, start_server):
    """daphne on the embedded defaults, with a superuser made as the README says."""
    database_url = f"sqlite:///{tmp_path / 'admin.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD}
    for command in (["migrate", "--noinput"], ["createsuperuser", "--noinput", "--username", STAFF_USERNAME, "--email", "root@example.com"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    server = start_server(DATABASE_URL=database_url, BCRYPT_ROUNDS=4)
    # A meeting to list, made through the API.
    api = f"{server.url}/api/v1"
    account = {"username": "alice", "password": "wonderland-1"}
    assert requests.post(f"{api}/users/signup", json={"name": "Alice", **account}, timeout=10).status_code == 201
    token = requests.post(f"{api}/users/login", json=account, timeout=10).json()["token"]
    created = requests.post(f"{api}/meeting/create-meet/{MEETING_CODE}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert created.status_code == 200
    return server


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
