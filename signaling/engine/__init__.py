"""A generic Socket.IO server (Engine.IO v4, Socket.IO v5) on ASGI.

Layers, each importing only those below it:

- `protocol/`: sans-I/O codecs and session state machines (no I/O, no clock);
- `ids`, `tasks`: socket and session ids that name their owning process; background tasks;
- `session`: the asyncio side of one Engine.IO session;
- `broker/`: what carries deliveries to other processes (one process, or a Redis cluster);
- `server`: namespaces, sockets, rooms, emits, acks, for event handlers;
- `asgi/`: the transports as ASGI applications.

Nothing here knows of meetings, accounts or Django apps (checked by import-linter).
"""
