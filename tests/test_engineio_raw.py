"""Engine.IO edge cases driven by hand (raw HTTP and WebSocket) against a real daphne."""

import orjson
import pytest
import requests
import websocket


@pytest.fixture(scope="module")
def conformance(request):
    from tests.conftest import server_env
    from tests.servers import DaphneServer

    server = DaphneServer("tests.conformance.asgi:application", env=server_env()).start()
    request.addfinalizer(server.stop)
    return server.url


def next_frame(ws) -> str:
    """The next frame that is not a heartbeat ping (answered; the app pings every 300 ms)."""
    frame = ws.recv()
    while frame == "2":
        ws.send("3")
        frame = ws.recv()
    return frame


def test_requests_on_the_old_transport_after_an_upgrade_fail_but_the_session_lives_on(conformance):
    base = f"{conformance}/socket.io/?EIO=4&transport=polling"
    sid = orjson.loads(requests.get(base, timeout=5).text[1:])["sid"]
    ws = websocket.create_connection(f"ws://{conformance[7:]}/socket.io/?EIO=4&transport=websocket&sid={sid}", timeout=5)
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
        ws.send("5")
        # Neither a GET nor a POST on the polling transport is served any more...
        assert requests.get(f"{base}&sid={sid}", timeout=5).status_code == 400
        assert requests.post(f"{base}&sid={sid}", data=b"40", timeout=5).status_code == 400
        # ...and the session goes on over the WebSocket.
        ws.send("40")
        assert next_frame(ws).startswith("40{")
    finally:
        ws.close()
