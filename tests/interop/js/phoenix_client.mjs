// The official Phoenix JS client (npm `phoenix`, over npm `ws`) against the emulator's device
// websocket, speaking the v1 JSON-object protocol of seed 001 / ruling R1.
//
// Driven by tests/interop/test_phoenix_js.py, which reads the JSON lines printed on stdout:
//   {"event": "transport", "url": ...}        the URL the client built (token shown as <token>)
//   {"event": "upgrade", "status": 101}       the HTTP answer to the upgrade
//   {"event": "open"} / {"event": "close", "code": ..., "reason": ...}
//   {"event": "socket_error", "message": ...} e.g. "Unexpected server response: 403"
//   {"event": "joined", "response": {...}} / {"event": "join_error", "response": {...}}
//   {"event": "heartbeat_reply", "status": "ok", "ref": ...}
//   {"event": "status_updated", "payload": "paused" | "resumed"}
//   {"event": "done"} last line on success; {"event": "deadline"} if time ran out
//
// Modes:
//   session  join, answer heartbeats, wait for status_updated "paused" then "resumed", leave.
//   refused  expect the upgrade to be refused; report what the client saw, never reconnect.
//
// Usage: node phoenix_client.mjs --mode session|refused --endpoint wss://host:port/devices
//          --token <access token> --device-id <project device id>
//          [--heartbeat-ms 200] [--deadline-ms 15000]
// TLS: trust the emulator's CA with NODE_EXTRA_CA_CERTS=<ca.pem>.

import { parseArgs } from "node:util";
import { Socket } from "phoenix";
import WebSocket from "ws";

const { values: args } = parseArgs({
  options: {
    mode: { type: "string", default: "session" },
    endpoint: { type: "string" },
    token: { type: "string" },
    "device-id": { type: "string" },
    "heartbeat-ms": { type: "string", default: "200" },
    "deadline-ms": { type: "string", default: "15000" },
  },
});

for (const name of ["endpoint", "token", "device-id"]) {
  if (!args[name]) {
    console.error(`missing --${name}`);
    process.exit(64);
  }
}

const emit = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));
const redact = (text) => String(text).split(args.token).join("<token>");

function finish(code) {
  // Let stdout drain before leaving.
  process.stdout.write("", () => process.exit(code));
}

// The Phoenix client calls `new transport(url, protocols)`; this subclass of ws's WebSocket only
// reports what happens at the HTTP level, which Phoenix itself does not expose.
class ObservedWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    emit("transport", { url: redact(url) });
    this.once("upgrade", (response) => emit("upgrade", { status: response.statusCode }));
  }
}

const socket = new Socket(args.endpoint, {
  transport: ObservedWebSocket,
  vsn: "1.0.0",
  encode: (message, callback) => callback(JSON.stringify(message)),
  decode: (raw, callback) => callback(JSON.parse(raw)),
  params: { Authorization: `Bearer ${args.token}` },
  heartbeatIntervalMs: Number(args["heartbeat-ms"]),
  // Refused mode must see one attempt only; session mode reconnects fast if it has to.
  reconnectAfterMs: () => (args.mode === "refused" ? 60_000 : 100),
  rejoinAfterMs: () => 100,
});

setTimeout(() => {
  emit("deadline");
  finish(3);
}, Number(args["deadline-ms"]));

socket.onOpen(() => emit("open"));
socket.onError((error) => emit("socket_error", { message: redact(error?.message ?? error) }));
socket.onClose((event) => {
  emit("close", { code: event?.code, reason: event?.reason ?? "" });
  if (args.mode === "refused") {
    socket.disconnect(() => {
      emit("done");
      finish(0);
    });
  }
});
socket.onMessage((message) => {
  if (message.topic === "phoenix" && message.event === "phx_reply") {
    emit("heartbeat_reply", { status: message.payload?.status, ref: message.ref });
  }
});

const channel = socket.channel(`devices:${args["device-id"]}`);
const seen = [];
channel.on("status_updated", (payload) => {
  emit("status_updated", { payload });
  seen.push(payload);
  if (args.mode === "session" && seen.includes("paused") && seen.includes("resumed")) {
    channel.leave().receive("ok", () => {
      emit("left");
      socket.disconnect(() => {
        emit("done");
        finish(0);
      });
    });
  }
});
channel
  .join()
  .receive("ok", (response) => emit("joined", { response }))
  .receive("error", (response) => emit("join_error", { response }))
  .receive("timeout", () => emit("join_timeout"));

socket.connect();
