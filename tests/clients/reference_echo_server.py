"""A known-good python-socketio server to test the Node client harness against.

Serve with daphne: `daphne tests.clients.reference_echo_server:app`.
"""

import socketio

sio = socketio.AsyncServer(async_mode="asgi")
app = socketio.ASGIApp(sio)


@sio.event
async def connect(sid, environ, auth):
    if auth and auth.get("refuse"):
        raise socketio.exceptions.ConnectionRefusedError("refused", {"why": auth["refuse"]})


@sio.event
async def message(sid, *args):
    """Echoes as `message-back`, binary values included."""
    await sio.emit("message-back", args, to=sid)


@sio.on("message-with-ack")
async def message_with_ack(sid, *args):
    return args


@sio.on("disconnect-me")
async def disconnect_me(sid):
    await sio.disconnect(sid)
