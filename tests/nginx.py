"""The README's nginx configuration, run for tests: on a loopback port without TLS, in
front of the given daphne ports (its upstream's `server` lines)."""

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.servers import ROOT, free_port


def readme_nginx_config() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("```nginx\n", 1)[1].split("```", 1)[0]


def require_nginx() -> None:
    if shutil.which("nginx") is None:
        if os.environ.get("CI"):
            pytest.fail("the tests need nginx")
        pytest.skip("nginx is not installed")


@contextlib.contextmanager
def nginx_in_front_of(ports: list[int], workdir: Path):
    """Yields (url, access log path) of an nginx running the README's site."""
    require_nginx()
    port = free_port()
    access_log = workdir / "access.log"
    site = []
    for line in readme_nginx_config().splitlines():
        if "ssl_certificate" in line or line.strip().startswith("# more hosts"):
            continue
        if line.strip().startswith("server 127.0.0.1:8001"):
            line = "\n".join(line.replace("127.0.0.1:8001", f"127.0.0.1:{p}") for p in ports)
        elif line.strip().startswith("server 127.0.0.1:"):
            continue
        line = line.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
        line = line.replace("/var/log/nginx/animo-meet.access.log", str(access_log))
        site.append(line)
    workdir.chmod(0o777)  # nginx's workers run as nobody when the tests run as root
    temp_paths = " ".join(f"{kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"daemon off; worker_processes 1; pid {workdir / 'nginx.pid'}; error_log {workdir / 'error.log'} warn;\n"
        f"events {{ worker_connections 512; }}\nhttp {{ {temp_paths}\n" + "\n".join(site) + "\n}\n"
    )
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(workdir)], stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(url + "/", timeout=1)
            break
        except requests.ConnectionError:
            if nginx.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {nginx.stderr.read().decode(errors='replace')}") from None
            time.sleep(0.1)
    try:
        yield url, access_log
    finally:
        nginx.terminate()
        nginx.wait(10)
