// The page's core: the shared state, the control API (fetch, the access token's login, errors
// shown), and the data coming in (GET /status, GET /uploads, the server-sent events of
// GET /events). The panels register what they draw (onStatus, onFiles); the core knows none.

import { $, setClass, setText, show } from "./dom.js";

const EVENT_KINDS = ["upload", "press", "take", "devices", "channels", "pairing"];
const STALE_AFTER_MS = 4000;

export const state = {
  status: null,
  files: [],
  filesKnown: false,
  clockOffset: 0, // hub time minus this browser's time, in seconds
  lastStatusAt: 0,
  live: false,
  authProblem: false,
  countsSeen: "",
  sceneDirty: false,
  source: null,
};

// What each panel draws, in order: from a status snapshot, and when the file list changed;
// and what a panel takes straight from the event stream (its own kind of event, e.g. meters).
const statusViews = [];
const filesViews = [];
const streamViews = [];

export function onStreamEvent(kind, draw) {
  streamViews.push([kind, draw]);
}

export function onStatus(draw) {
  statusViews.push(draw);
}

export function onFiles(draw) {
  filesViews.push(draw);
}

export function hubNow() {
  return Date.now() / 1000 + state.clockOffset;
}

// ================================================================ the control API
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(method, path, body) {
  const init = {
    method,
    headers: { Accept: "application/json" },
    credentials: "same-origin",
    cache: "no-store",
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `the hub did not answer (${err.message})`);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401) {
    setAuthProblem(true, data && data.error);
    throw new ApiError(401, "not authorized: the hub needs its access token");
  }
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  setAuthProblem(false);
  return data;
}

export function setAuthProblem(on, message) {
  state.authProblem = on;
  if (on) setText($("auth-text"), message ? `(The hub said: ${message}.)` : "");
  show($("auth"), on);
  if (on) renderLive();
}

function alertMessage(text) {
  setText($("alert-text"), text);
  show($("alert"), true);
}

// Run one control call from a button: busy while it runs, errors shown, status refreshed.
export async function act(button, what, call) {
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    const answer = await call();
    show($("alert"), false);
    return answer;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) alertMessage(`${what}: ${err.message}`);
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
    refreshStatus();
    refreshFiles();
  }
}

// ================================================================ data in
// Run `work` soon: calls within the delay share one run, a shorter delay brings it forward,
// and a call while it runs queues one more run after it (never two at once).
function scheduler(work) {
  let timer = null;
  let due = 0;
  let running = false;
  let again = false;
  async function fire() {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await work();
    } catch {
      // shown by api() (401), or by the live indicator (the hub did not answer)
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule(100);
      }
    }
  }
  function schedule(delay = 0) {
    const at = Date.now() + delay;
    if (timer !== null) {
      if (at >= due) return;
      clearTimeout(timer);
    }
    due = at;
    timer = setTimeout(fire, delay);
  }
  return schedule;
}

export const refreshStatus = scheduler(async () => applyStatus(await api("GET", "/status")));

export const refreshFiles = scheduler(async () => {
  const answer = await api("GET", "/uploads");
  state.files = answer.files || [];
  state.filesKnown = true;
  for (const draw of filesViews) draw();
});

export function connect() {
  if (state.source !== null) state.source.close();
  const source = new EventSource("/events");
  state.source = source;
  source.addEventListener("open", () => {
    state.live = true;
    renderLive();
  });
  source.addEventListener("status", (e) => applyStatus(JSON.parse(e.data)));
  for (const kind of EVENT_KINDS) {
    source.addEventListener(kind, (e) => onEvent(kind, JSON.parse(e.data)));
  }
  for (const [kind, draw] of streamViews) {
    source.addEventListener(kind, (e) => draw(JSON.parse(e.data)));
  }
  source.addEventListener("error", () => {
    state.live = false;
    renderLive();
    if (source.readyState === EventSource.CLOSED) {
      // The hub refused the stream (401?) or went away: ask /status why, then try again.
      refreshStatus();
      setTimeout(() => {
        if (state.source === source) connect();
      }, 3000);
    }
  });
}

function onEvent(kind, event) {
  if (kind === "upload") {
    if (event.type === "part_acked") {
      refreshFiles(1000);
      return;
    }
    refreshFiles(250);
  }
  if (kind === "take") refreshFiles(250);
  refreshStatus(kind === "pairing" ? 0 : 150);
}

function applyStatus(status) {
  if (!status || typeof status !== "object") return;
  state.status = status;
  state.lastStatusAt = Date.now();
  if (status.generated_at) state.clockOffset = status.generated_at - Date.now() / 1000;
  const counts = JSON.stringify((status.uploads && status.uploads.counts) || {});
  if (counts !== state.countsSeen) {
    state.countsSeen = counts;
    refreshFiles(100);
  }
  for (const draw of statusViews) draw(status);
  renderLive();
}

export function isPaired(pairing) {
  return pairing && (pairing.state === "paired" || pairing.state === "refreshing");
}

export function renderLive() {
  const el = $("live");
  let text;
  let tone;
  const age = Date.now() - state.lastStatusAt;
  if (state.authProblem) {
    text = "Not authorized";
    tone = "bad";
  } else if (state.live && state.lastStatusAt && age < STALE_AFTER_MS) {
    text = "Live";
    tone = "good";
  } else if (state.lastStatusAt) {
    text = `No update for ${Math.round(age / 1000)} s`;
    tone = "bad";
  } else {
    text = "Connecting…";
    tone = "wait";
  }
  setText(el, text);
  for (const t of ["good", "bad", "wait"]) setClass(el, `pill-${t}`, t === tone);
}

// ================================================================ controls
export async function logIn(event) {
  event.preventDefault();
  const value = $("login-code").value.trim();
  const body = /^[0-9 -]+$/.test(value) ? { code: value } : { token: value };
  try {
    await api("POST", "/login", body);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) setAuthProblem(true, err.message);
    return;
  }
  $("login-code").value = "";
  connect();
  refreshStatus();
  refreshFiles();
}

