// Drives many named clients of the official `socket.io-client` for the Python tests
// (tests/clients/node_client.py). One process, many clients, newline-delimited JSON:
// commands on stdin, events on stdout (one object per line and nothing else), diagnostics
// on stderr. Binary values cross the pipe as {"$binary": "<base64>"}, nested anywhere.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

// Resolve the client from the repo root's node_modules (the pinned version in
// package-lock.json), whatever the working directory.
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(repoRoot, "package.json"));
let io;
try {
  ({ io } = require("socket.io-client"));
} catch (error) {
  console.error(`sio_driver: cannot load socket.io-client (run \`npm ci\` in ${repoRoot}): ${error.message}`);
  process.exit(2);
}

const sockets = new Map();

// Writes to a pipe are synchronous on Linux, so each line is flushed as it is written.
function report(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function toJson(value) {
  if (value instanceof ArrayBuffer) return { $binary: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return { $binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toJson(item)]));
  }
  return value;
}

function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$binary" && typeof value.$binary === "string") {
      return Buffer.from(value.$binary, "base64");
    }
    return Object.fromEntries(keys.map((key) => [key, fromJson(value[key])]));
  }
  return value;
}

function connect({ client, url, namespace = "", options = {} }) {
  if (sockets.has(client)) throw new Error(`client ${client} already exists`);
  const socket = io(url + namespace, { forceNew: true, reconnection: false, ...fromJson(options) });
  sockets.set(client, socket);

  const transportName = () => socket.io.engine?.transport?.name ?? null;
  socket.on("connect", () =>
    report({
      type: "connect", client, id: socket.id, transport: transportName(),
      ...(socket._pid ? { recovered: socket.recovered } : {}), // only when the server offers recovery
    }),
  );
  socket.on("connect_error", (error) =>
    report({ type: "connect_error", client, message: error.message, data: toJson(error.data ?? null) }),
  );
  socket.on("disconnect", (reason) => report({ type: "disconnect", client, reason }));
  // A server emit that asks for an ack passes the ack function last; it is not JSON and
  // the tests do not answer server acks, so it is left out of the reported args. With
  // connection state recovery the server appends each event's offset as its last
  // argument; it is reported apart, taken by socket.io-client's own rule.
  socket.onAny((event, ...args) => {
    args = args.filter((arg) => typeof arg !== "function");
    const offset = socket._pid && args.length && typeof args[args.length - 1] === "string" ? args.pop() : null;
    report({ type: "event", client, event, args: toJson(args), ...(offset !== null ? { offset } : {}) });
  });
  socket.io.on("reconnect", (attempt) => report({ type: "reconnect", client, attempt }));
  // The manager makes a new engine on every (re)connection; its "open" comes before any upgrade.
  socket.io.on("open", () =>
    socket.io.engine.on("upgrade", (transport) => report({ type: "upgrade", client, transport: transport.name })),
  );
}

function emit({ client, event, args = [], ack = null, timeout_ms = null }) {
  const socket = socketOf(client);
  const values = fromJson(args);
  if (ack === null) {
    socket.emit(event, ...values);
  } else if (timeout_ms === null) {
    socket.emit(event, ...values, (...ackArgs) => report({ type: "ack", client, ack, args: toJson(ackArgs) }));
  } else {
    socket.timeout(timeout_ms).emit(event, ...values, (error, ...ackArgs) =>
      report(
        error
          ? { type: "ack_error", client, ack, message: error.message }
          : { type: "ack", client, ack, args: toJson(ackArgs) },
      ),
    );
  }
}

function socketOf(client) {
  const socket = sockets.get(client);
  if (!socket) throw new Error(`no client named ${client}`);
  return socket;
}

function exit() {
  for (const socket of sockets.values()) socket.disconnect();
  process.exit(0);
}

const commands = {
  connect,
  emit,
  disconnect: ({ client }) => socketOf(client).disconnect(),
  // Drops the transport under the socket, as a lost network would.
  close_engine: ({ client }) => socketOf(client).io.engine.close(),
  state: ({ client, req }) => {
    const socket = socketOf(client);
    report({
      type: "state",
      req,
      client,
      connected: socket.connected,
      id: socket.id ?? null,
      transport: socket.io.engine?.transport?.name ?? null,
    });
  },
  exit,
};

createInterface({ input: process.stdin })
  .on("line", (line) => {
    if (!line.trim()) return;
    let command;
    try {
      command = JSON.parse(line);
      const handler = commands[command.cmd];
      if (!handler) throw new Error(`unknown command ${JSON.stringify(command.cmd)}`);
      handler(command);
    } catch (error) {
      report({ type: "error", cmd: command?.cmd ?? line, client: command?.client ?? null, message: error.message });
    }
  })
  // The Python side went away: do not outlive it.
  .on("close", exit);
