// The hub's web page: the status snapshot of GET /status, kept live by the server-sent events
// of GET /events, and buttons that call the control API (docs/control-api.md).
// Plain JavaScript modules, no build step, nothing loaded from anywhere but the hub: this one
// starts the page; core.js holds the state, the API calls and the event stream; each panel
// has its module (summary, pairing, network, queue, files, devices, presses, take, footer).

import {
  connect,
  logIn,
  onFiles,
  onStatus,
  refreshFiles,
  refreshStatus,
  renderLive,
  state,
} from "./core.js";
import { renderDevices } from "./devices.js";
import { $, show } from "./dom.js";
import { renderFiles } from "./files.js";
import { renderFooter } from "./footer.js";
import { renderMix } from "./mix.js";
import { renderNetwork, wireNetwork } from "./network.js";
import { renderCountdown, renderPairing, wirePairing } from "./pairing.js";
import { renderPresses } from "./presses.js";
import { renderQueue, wireQueue } from "./queue.js";
import { renderSummary } from "./summary.js";
import { renderTake, wireTake } from "./take.js";
import { renderTimecode, wireTimecode } from "./timecode.js";
import "./meters.js"; // the level meters: they register what they draw themselves

// What a status snapshot redraws, in this order (the live indicator comes last, in core.js).
for (const draw of [
  renderSummary,
  renderPairing,
  renderNetwork,
  renderQueue,
  renderDevices,
  renderPresses,
  renderTake,
  renderMix,
  renderTimecode,
  renderFooter,
]) {
  onStatus(draw);
}

// What a new file list redraws: the files, and the take's tracks (their upload state).
onFiles(renderFiles);
onFiles(() => {
  if (state.status) renderTake(state.status);
});

function wire() {
  $("login-form").addEventListener("submit", logIn);
  $("alert-close").addEventListener("click", () => show($("alert"), false));
  wirePairing();
  wireQueue();
  wireTake();
  wireTimecode();
  wireNetwork();
}

function tick() {
  renderCountdown();
  renderLive();
  if (state.status && state.status.recorder && state.status.recorder.take)
    renderTake(state.status);
}

function start() {
  const host = window.location.hostname;
  const loopback = host === "localhost" || host === "[::1]" || host.startsWith("127.");
  show($("plain-http"), window.location.protocol === "http:" && !loopback);
  wire();
  connect();
  refreshStatus();
  refreshFiles();
  setInterval(tick, 1000);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
