// The hub's web page: the status snapshot of GET /status, kept live by the server-sent events
// of GET /events, and buttons that call the control API (docs/control-api.md).
// Plain JavaScript, no build step, nothing loaded from anywhere but the hub.
"use strict";

(() => {
  const EVENT_KINDS = ["upload", "press", "take", "devices", "channels", "pairing"];
  const STALE_AFTER_MS = 4000;
  const FILES_SHOWN = 50;
  const FINAL_RETRYABLE = new Set(["failed", "cancelled", "corrupt", "skipped_paused"]);
  const ACTIVE = new Set(["recording", "queued", "uploading"]);
  const STATE_WORDS = {
    recording: "recording",
    queued: "queued",
    uploading: "uploading",
    done: "done",
    failed: "failed",
    skipped_paused: "skipped (paused)",
    cancelled: "cancelled",
    corrupt: "corrupt",
  };

  const state = {
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

  // ================================================================ small helpers
  const $ = (id) => document.getElementById(id);

  function setText(el, value) {
    const text = value === null || value === undefined ? "" : String(value);
    if (el.textContent !== text) el.textContent = text;
  }

  function show(el, on) {
    if (el.hidden === on) el.hidden = !on;
  }

  function setClass(el, name, on) {
    if (el.classList.contains(name) !== on) el.classList.toggle(name, on);
  }

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value);
    }
    for (const child of children) el.append(child);
    return el;
  }

  // Keep `container`'s children equal to `items`, reusing the element of each key: rows are
  // updated in place (a button never disappears under a finger while the status refreshes).
  function syncList(container, items, key, create, update) {
    const existing = new Map();
    for (const child of container.children) existing.set(child.dataset.key, child);
    let previous = null;
    for (const item of items) {
      const k = String(key(item));
      let el = existing.get(k);
      if (el === undefined) {
        el = create(item);
        el.dataset.key = k;
      } else {
        existing.delete(k);
      }
      update(el, item);
      const wanted = previous === null ? container.firstElementChild : previous.nextElementSibling;
      if (el !== wanted) container.insertBefore(el, wanted);
      previous = el;
    }
    for (const el of existing.values()) el.remove();
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = Number(n);
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
  }

  function fmtClock(ts) {
    if (!ts) return "–";
    return new Date(ts * 1000).toLocaleTimeString([], { hour12: false });
  }

  function fmtWhen(ts) {
    if (!ts) return "–";
    const d = new Date(ts * 1000);
    if (d.toDateString() === new Date().toDateString()) return fmtClock(ts);
    const options = {
      weekday: "short",
      day: "numeric",
      month: "short",
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
    };
    return d.toLocaleString([], options);
  }

  function human(word) {
    return String(word || "").replace(/_/g, " ");
  }

  function plural(n, one, many) {
    return n === 1 ? one : many;
  }

  function fmtLeft(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function fmtSeconds(s) {
    if (s === null || s === undefined) return "–";
    return s < 60 ? `${s.toFixed(1)} s` : fmtLeft(s);
  }

  function hubNow() {
    return Date.now() / 1000 + state.clockOffset;
  }

  function spacedCode(code) {
    return code.length === 6 ? `${code.slice(0, 3)} ${code.slice(3)}` : code;
  }

  function stateBadge(fileState) {
    return STATE_WORDS[fileState] || fileState;
  }

  // ================================================================ the control API
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
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

  function setAuthProblem(on, message) {
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
  async function act(button, what, call) {
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

  const refreshStatus = scheduler(async () => applyStatus(await api("GET", "/status")));

  const refreshFiles = scheduler(async () => {
    const answer = await api("GET", "/uploads");
    state.files = answer.files || [];
    state.filesKnown = true;
    renderFiles();
    if (state.status) renderTake(state.status);
  });

  function connect() {
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
    render(status);
  }

  // ================================================================ rendering
  function render(status) {
    renderSummary(status);
    renderPairing(status);
    renderNetwork(status);
    renderQueue(status);
    renderDevices(status);
    renderPresses(status);
    renderTake(status);
    renderFooter(status);
    renderLive();
  }

  function chip(el, text, tone) {
    setText(el, text);
    for (const t of ["good", "warn", "bad"]) setClass(el, `tone-${t}`, t === tone);
  }

  function isPaired(pairing) {
    return pairing && (pairing.state === "paired" || pairing.state === "refreshing");
  }

  function renderSummary(status) {
    const pairing = status.pairing || {};
    const flow = status.pairing_flow || {};
    if (isPaired(pairing)) {
      chip($("sum-pairing"), `Project: ${pairing.project_name || "(unnamed)"}`, "good");
    } else if (flow.running && flow.user_code) {
      chip($("sum-pairing"), `Pairing: code ${spacedCode(flow.user_code)}`, "warn");
    } else if (flow.running) {
      chip($("sum-pairing"), "Pairing…", "warn");
    } else {
      chip(
        $("sum-pairing"),
        pairing.state === "needs_pairing" ? "Needs pairing" : "Not paired",
        "bad",
      );
    }
    const socket = status.socket || {};
    const socketState = socket.state || "unknown";
    chip(
      $("sum-socket"),
      `Socket: ${human(socketState)}${status.paused ? " (paused in Frame.io)" : ""}`,
      socketState === "joined" ? (status.paused ? "warn" : "good") : "bad",
    );
    const net = status.network || {};
    const link = net.link || {};
    const reach = net.frameio_reachable;
    let netText = `Network: ${link.interface || "none"}`;
    netText +=
      reach === true
        ? ", Frame.io reachable"
        : reach === false
          ? ", Frame.io NOT reachable"
          : ", checking";
    chip(
      $("sum-network"),
      netText,
      reach === true && link.up ? "good" : reach === false || !link.up ? "bad" : "warn",
    );
    const uploads = status.uploads || {};
    const counts = uploads.counts || {};
    const left = uploads.files_remaining || 0;
    let upText = `Uploads: ${left} ${plural(left, "file", "files")} left`;
    if (counts.failed) upText += `, ${counts.failed} failed`;
    if (uploads.paused) upText += ", paused";
    chip($("sum-uploads"), upText, counts.failed ? "bad" : uploads.paused ? "warn" : "good");
    const recorder = status.recorder || {};
    const take = recorder.take;
    chip(
      $("sum-take"),
      take ? `Recording scene ${take.scene} take ${take.take}` : "Not recording",
      take ? "rec" : null,
    );
    setClass($("sum-take"), "tone-rec", Boolean(take));
  }

  let qrFor = null;

  function renderPairing(status) {
    const pairing = status.pairing || {};
    const flow = status.pairing_flow || {};
    const paired = isPaired(pairing);
    const pairingNow = !paired && flow.running;
    show($("paired"), paired);
    show($("pair-active"), pairingNow);
    show($("pair-idle"), !paired && !pairingNow);

    if (!paired && !pairingNow) {
      setText(
        $("pair-state"),
        pairing.state === "needs_pairing"
          ? `This hub must be paired again${pairing.reason ? `: ${pairing.reason}` : "."}`
          : "This hub is not paired with a Frame.io project.",
      );
      const last =
        flow.step && !["approved", "show_code", "waiting", "requesting"].includes(flow.step);
      setText($("pair-message"), last ? `Last attempt: ${flow.message || flow.step}` : "");
      show($("pair-message"), Boolean(last));
    }

    if (pairingNow) {
      const code = flow.user_code;
      const steps = {
        requesting: "Asking Frame.io for a pairing code…",
        show_code: "Waiting for the code to be entered in Frame.io…",
        waiting: "Waiting for the code to be entered in Frame.io…",
        slowed: `Waiting; Frame.io asked to poll less often (${flow.message || ""}).`,
        expired: "That code expired; getting a fresh one…",
        approved: "Approved; finishing…",
      };
      setText($("pair-step"), steps[flow.step] || flow.message || flow.step || "");
      show($("pair-code-box"), Boolean(code));
      if (code) {
        const codeEl = $("pair-code");
        if (codeEl.dataset.code !== code) {
          codeEl.dataset.code = code;
          codeEl.replaceChildren(
            h("span", { text: code.slice(0, 3) }),
            h("span", { text: code.slice(3) }),
          );
          codeEl.setAttribute("aria-label", `Pairing code ${code.split("").join(" ")}`);
        }
        const uri = flow.verification_uri || "";
        const uriEl = $("pair-uri");
        setText(uriEl, uri.replace(/^https?:\/\//, ""));
        if (uriEl.getAttribute("href") !== uri) uriEl.setAttribute("href", uri || "#");
        const complete = flow.verification_uri_complete;
        const linkEl = $("pair-link");
        show(linkEl, Boolean(complete));
        if (complete && linkEl.getAttribute("href") !== complete)
          linkEl.setAttribute("href", complete);
        const qr = $("pair-qr");
        const want = complete ? `${code}|${complete}` : null;
        if (want !== qrFor) {
          qrFor = want;
          if (complete) {
            qr.onerror = () => show(qr, false);
            qr.onload = () => show(qr, true);
            qr.src = `/pairing/qr.svg?code=${encodeURIComponent(code)}`;
          } else {
            show(qr, false);
            qr.removeAttribute("src");
          }
        }
      }
      renderCountdown();
    } else {
      qrFor = null;
    }

    if (paired) {
      setText($("project-name"), pairing.project_name || "(unnamed project)");
      $("project-name").title = pairing.project_id ? `project id ${pairing.project_id}` : "";
      setText($("authorized-by"), pairing.authorized_by || "–");
      setText($("device-name"), pairing.device_name || "–");
      const socket = status.socket || {};
      let socketText = human(socket.state || "unknown");
      if (socket.state === "joined" && socket.connected_since)
        socketText += ` since ${fmtWhen(socket.connected_since)}`;
      if (socket.state !== "joined" && socket.last_error) socketText += ` (${socket.last_error})`;
      if (socket.state === "backoff" && socket.next_attempt_at) {
        socketText += `, next try in ${fmtLeft(socket.next_attempt_at - hubNow())}`;
      }
      setText($("socket-state"), socketText);
      setClass($("socket-state"), "bad", socket.state !== "joined");
      const paused = status.paused;
      setText(
        $("frameio-paused"),
        paused === null || paused === undefined
          ? "–"
          : paused
            ? "yes: no uploads until Frame.io resumes the device"
            : "no",
      );
      setClass($("frameio-paused"), "warn", Boolean(paused));
      let token =
        pairing.state === "refreshing"
          ? "refreshing now"
          : `expires ${fmtWhen(pairing.access_expires_at)}`;
      if (pairing.refresh_due_at)
        token += `; renewed automatically ${fmtWhen(pairing.refresh_due_at)}`;
      setText($("token-line"), token);
      setText($("pairing-error"), pairing.last_error ? `Last error: ${pairing.last_error}` : "");
      show($("pairing-error"), Boolean(pairing.last_error));
    }
  }

  function renderCountdown() {
    const flow = (state.status && state.status.pairing_flow) || {};
    if (!flow.running || !flow.expires_at) {
      setText($("pair-countdown"), "–");
      return;
    }
    setText($("pair-countdown"), fmtLeft(flow.expires_at - hubNow()));
  }

  function renderNetwork(status) {
    const net = status.network || {};
    const link = net.link || {};
    setText(
      $("net-interface"),
      link.interface ? `${link.interface} (${link.up ? "up" : "down"})` : "no route",
    );
    setClass($("net-interface"), "bad", !link.up);
    setText($("net-kind"), human(link.kind) || "–");
    setText($("net-addresses"), (link.addresses || []).join(", ") || "–");
    const reach = net.frameio_reachable;
    let reachText =
      reach === null || reach === undefined ? "not checked yet" : reach ? "yes" : "NO";
    if (reach && net.health_rtt_ms !== null && net.health_rtt_ms !== undefined)
      reachText += ` (${net.health_rtt_ms} ms)`;
    if (reach === false && net.last_error) reachText += `: ${net.last_error}`;
    setText($("net-reachable"), reachText);
    setClass($("net-reachable"), "bad", reach === false);
    const speed = net.upload_mbps;
    setText(
      $("net-speed"),
      speed === null || speed === undefined ? "not measured yet" : `${speed.toFixed(1)} Mbit/s`,
    );
    setText($("net-checked"), fmtWhen(net.last_health_at));
  }

  function operatorHeld(uploads) {
    if (typeof uploads.held === "boolean") return uploads.held;
    return (uploads.paused_reason || "").startsWith("uploading is paused by the operator");
  }

  function renderQueue(status) {
    const uploads = status.uploads || {};
    const counts = uploads.counts || {};
    const left = uploads.files_remaining || 0;
    setText($("files-remaining"), left);
    setText($("files-word"), plural(left, "file", "files"));
    setText($("bytes-remaining"), fmtBytes(uploads.bytes_remaining || 0));
    const bps = uploads.throughput_bps;
    setText($("throughput"), bps ? `${((bps * 8) / 1e6).toFixed(1)} Mbit/s now` : "");
    const ids = {
      done: "count-done",
      uploading: "count-uploading",
      recording: "count-recording",
      queued: "count-queued",
      failed: "count-failed",
      skipped_paused: "count-skipped",
      cancelled: "count-cancelled",
    };
    for (const [key, id] of Object.entries(ids)) setText($(id), counts[key] || 0);
    setText($("count-failed"), (counts.failed || 0) + (counts.corrupt || 0));
    setClass($("count-failed").parentElement, "has-bad", Boolean(counts.failed || counts.corrupt));

    const held = operatorHeld(uploads);
    const pausedText = uploads.paused
      ? `Paused: ${uploads.paused_reason || "uploads are held"}`
      : uploads.waiting_for
        ? `Waiting: ${uploads.waiting_for}`
        : "";
    setText($("queue-paused"), pausedText);
    show($("queue-paused"), Boolean(pausedText));
    const pauseButton = $("queue-pause");
    setText(pauseButton, held ? "Resume uploading" : "Pause uploading");
    pauseButton.setAttribute("aria-pressed", String(held));
    pauseButton.dataset.held = String(held);

    const mode = uploads.mode || "auto";
    if (document.activeElement?.name !== "mode") {
      $("mode-auto").checked = mode === "auto";
      $("mode-manual").checked = mode === "manual";
    }
    if (document.activeElement !== $("parallel")) $("parallel").checked = Boolean(uploads.parallel);
    $("retry-failed").disabled = !counts.failed;
    $("cancel-all").disabled = !uploads.files_remaining;

    const current = uploads.current || [];
    syncList($("current"), current, (f) => f.id, createCurrent, updateCurrent);
    show($("current-empty"), current.length === 0);

    const problems = uploads.problems || [];
    syncList($("problems"), [...problems].reverse(), (f) => f.id, createProblem, updateProblem);
    show($("problems-empty"), problems.length === 0);
  }

  function progressRow(file, withCancel) {
    const li = h("li", { class: "row file" });
    li.dataset.fileId = file.id;
    const name = h("span", { class: "name" });
    const badge = h("span", { class: "badge" });
    const line = h("div", { class: "row-head" }, name, badge);
    const bar = h("progress", { max: "1", value: "0" });
    const detail = h("span", { class: "note detail" });
    li.append(line, bar, detail);
    if (withCancel) {
      const cancel = h("button", { type: "button", class: "small danger", text: "Cancel" });
      cancel.setAttribute("aria-label", `Cancel ${file.name}`);
      cancel.addEventListener("click", () =>
        act(cancel, `Cancel ${li.dataset.name}`, () =>
          api("POST", `/uploads/${li.dataset.fileId}/cancel`),
        ),
      );
      line.append(cancel);
    }
    li._parts = { name, badge, bar, detail };
    return li;
  }

  function createCurrent(file) {
    return progressRow(file, true);
  }

  function updateCurrent(li, file) {
    const p = li._parts;
    li.dataset.name = file.name;
    setText(p.name, file.name);
    setText(p.badge, stateBadge(file.state));
    p.badge.dataset.state = file.state;
    const share = file.progress === null || file.progress === undefined ? null : file.progress;
    if (share === null) p.bar.removeAttribute("value");
    else p.bar.value = share;
    p.bar.setAttribute("aria-label", `${file.name} progress`);
    let detail;
    if (file.size === null || file.size === undefined) {
      detail = `${fmtBytes(file.bytes_done)} sent`;
    } else {
      detail = `${fmtBytes(file.bytes_done)} of ${fmtBytes(file.size)}`;
    }
    if (share !== null) detail = `${Math.floor(share * 100)}% · ${detail}`;
    if (file.state === "recording") detail += " · still recording, sent as it grows";
    if (file.retrying) detail += ` · retrying: ${file.retrying}`;
    setText(p.detail, detail);
  }

  function createProblem(file) {
    const li = h("li", { class: "row file problem" });
    li.dataset.fileId = file.id;
    const name = h("span", { class: "name" });
    const badge = h("span", { class: "badge" });
    const retry = h("button", { type: "button", class: "small", text: "Retry" });
    retry.setAttribute("aria-label", `Retry ${file.name}`);
    retry.addEventListener("click", () =>
      act(retry, `Retry ${li.dataset.name}`, () =>
        api("POST", `/uploads/${li.dataset.fileId}/retry`),
      ),
    );
    const reason = h("p", { class: "reason" });
    li.append(h("div", { class: "row-head" }, name, badge, retry), reason);
    li._parts = { name, badge, reason };
    return li;
  }

  function updateProblem(li, file) {
    const p = li._parts;
    li.dataset.name = file.name;
    setText(p.name, file.name);
    setText(p.badge, stateBadge(file.state));
    p.badge.dataset.state = file.state;
    setText(p.reason, file.reason || "no reason given");
  }

  function renderFiles() {
    const files = state.files;
    const status = state.status || {};
    const manual = status.uploads && status.uploads.mode === "manual";
    const active = files.filter((f) => ACTIVE.has(f.state));
    const finished = files.filter((f) => !ACTIVE.has(f.state));
    const shown = [
      ...active,
      ...finished.slice(-Math.max(0, FILES_SHOWN - active.length)).reverse(),
    ];
    const list = $("files");
    list.dataset.manual = String(Boolean(manual));
    syncList(list, shown, (f) => f.id, createFile, updateFile);
    show($("files-empty"), files.length === 0);
    setText(
      $("files-count"),
      files.length > shown.length
        ? `(latest ${shown.length} of ${files.length})`
        : `(${files.length})`,
    );
  }

  function createFile(file) {
    const li = h("li", { class: "row file" });
    li.dataset.fileId = file.id;
    const name = h("span", { class: "name" });
    const badge = h("span", { class: "badge" });
    const buttons = h("span", { class: "buttons" });
    const mk = (label, action, path, cls) => {
      const b = h("button", { type: "button", class: `small ${cls || ""}`.trim(), text: label });
      b.dataset.action = action;
      b.setAttribute("aria-label", `${label} ${file.name}`);
      b.addEventListener("click", () =>
        act(b, `${label} ${li.dataset.name}`, () => {
          const id = Number(li.dataset.fileId);
          return action === "start"
            ? api("POST", "/uploads/start", { ids: [id] })
            : api("POST", `/uploads/${id}/${path}`);
        }),
      );
      buttons.append(b);
      return b;
    };
    const start = mk("Start", "start", null, "primary");
    const cancel = mk("Cancel", "cancel", "cancel", "danger");
    const retry = mk("Retry", "retry", "retry");
    const detail = h("p", { class: "note detail" });
    li.append(h("div", { class: "row-head" }, name, badge, buttons), detail);
    li._parts = { name, badge, start, cancel, retry, detail };
    return li;
  }

  function updateFile(li, file) {
    const p = li._parts;
    li.dataset.name = file.name;
    li.dataset.state = file.state;
    if (li.title !== file.path) li.title = file.path || "";
    setText(p.name, file.name);
    setText(p.badge, stateBadge(file.state));
    p.badge.dataset.state = file.state;
    const manual =
      li.parentElement?.dataset.manual === "true" || $("files").dataset.manual === "true";
    show(p.start, manual && file.state === "queued");
    show(p.cancel, ACTIVE.has(file.state));
    show(p.retry, FINAL_RETRYABLE.has(file.state));
    const sized = file.size !== null && file.size !== undefined;
    let detail = sized
      ? fmtBytes(file.size)
      : file.state === "recording"
        ? "still recording"
        : "size unknown";
    if (file.state !== "done" && file.bytes_acked && file.size) {
      detail += ` · ${Math.floor((100 * file.bytes_acked) / file.size)}% sent`;
    }
    if (file.channel) detail += ` · channel ${file.channel}`;
    if (file.reason) detail += ` · ${file.reason}`;
    setText(p.detail, detail);
  }

  function renderDevices(status) {
    const devices = status.devices || [];
    const channels = status.channels || {};
    const links = new Map((channels.channels || []).map((c) => [c.serial, c]));
    let line = `Channels: ${channels.state || "–"}`;
    if (channels.last_error) line += ` (last error: ${channels.last_error})`;
    const departing = channels.departing || [];
    if (departing.length) line += ` · ${departing.length} channel(s) being disconnected`;
    setText($("channels-state"), line);
    syncList(
      $("devices"),
      devices,
      (d) => d.serial,
      createDevice,
      (li, d) => updateDevice(li, d, links.get(d.serial)),
    );
    show($("devices-empty"), devices.length === 0);

    const plugins = status.plugins || [];
    const rows = [];
    for (const plugin of plugins) {
      const sources = plugin.sources || [];
      const health = sources.map(
        (s) => `${s.source}: ${s.state}${s.last_error ? ` (${s.last_error})` : ""}`,
      );
      rows.push({
        key: plugin.name,
        text: [
          `${plugin.name}: ${plugin.state}${plugin.reason ? ` (${plugin.reason})` : ""}`,
          ...health,
        ].join(" · "),
        bad: plugin.state !== "loaded" || sources.some((s) => s.state !== "running"),
      });
    }
    syncList(
      $("plugins"),
      rows,
      (r) => r.key,
      () => h("li", { class: "row" }),
      (li, r) => {
        setText(li, r.text);
        setClass(li, "bad", r.bad);
      },
    );
  }

  function createDevice() {
    const li = h("li", { class: "row device" });
    const name = h("span", { class: "name" });
    const badge = h("span", { class: "badge" });
    const detail = h("p", { class: "note detail" });
    li.append(h("div", { class: "row-head" }, name, badge), detail);
    li._parts = { name, badge, detail };
    return li;
  }

  function updateDevice(li, device, link) {
    const p = li._parts;
    setText(p.name, device.name);
    const kind = (device.kind || "").replace(/_/g, " ");
    let channel = "no channel";
    if (link) {
      channel =
        link.external_index !== null && link.external_index !== undefined
          ? `channel ${link.external_index}`
          : link.state;
      if (
        link.state !== "connected" &&
        link.external_index !== null &&
        link.external_index !== undefined
      )
        channel += ` (${link.state})`;
    }
    const unroutable = link && link.state === "connected" && link.routable === false;
    if (unroutable) channel += " (files wait)";
    setText(p.badge, channel);
    p.badge.dataset.state = link && link.state === "connected" && !unroutable ? "done" : "queued";
    let detail = `${kind} · ${device.serial} · ${device.model}`;
    if (device.address) detail += ` · ${device.address}`;
    if (link && link.error) detail += ` · ${link.error}`;
    setText(p.detail, detail);
  }

  function renderPresses(status) {
    const presses = status.presses || {};
    const counts = presses.counts || {};
    const parts = Object.entries(counts)
      .filter(([, n]) => n)
      .map(([k, n]) => `${n} ${k}`);
    setText($("press-counts"), parts.length ? parts.join(" · ") : "");
    const recent = [...(presses.recent || [])].reverse().slice(0, 10);
    syncList($("presses"), recent, (p) => p.id, createPress, updatePress);
    show($("presses-empty"), recent.length === 0);
  }

  function createPress(press) {
    const li = h("li", { class: "row press" });
    const tc = h("span", { class: "mono tc" });
    const name = h("span", { class: "name" });
    const badge = h("span", { class: "badge" });
    const resend = h("button", { type: "button", class: "small", text: "Resend" });
    resend.setAttribute("aria-label", `Resend press ${press.id}`);
    resend.addEventListener("click", () =>
      act(resend, "Resend the press", () => api("POST", `/presses/${li.dataset.pressId}/resend`)),
    );
    const detail = h("p", { class: "note detail" });
    li.dataset.pressId = press.id;
    li.append(h("div", { class: "row-head" }, tc, name, badge, resend), detail);
    li._parts = { tc, name, badge, resend, detail };
    return li;
  }

  function updatePress(li, press) {
    const p = li._parts;
    setText(p.tc, press.timecode);
    setText(p.name, `${press.input} · ${press.device}`);
    setText(p.badge, human(press.state));
    p.badge.dataset.state =
      press.state === "sent" ? "done" : press.state === "failed" ? "failed" : "queued";
    show(p.resend, press.state === "unconfirmed" || press.state === "failed");
    let detail = `pressed ${fmtClock(press.pressed_at)}`;
    if (press.latency_s !== null && press.latency_s !== undefined)
      detail += ` · sent in ${(press.latency_s * 1000).toFixed(0)} ms`;
    if (press.attempts > 1) detail += ` · ${press.attempts} attempts`;
    if (press.last_error) detail += ` · ${press.last_error}`;
    setText(p.detail, detail);
  }

  function trackUpload(fileId) {
    if (fileId === null || fileId === undefined) return null;
    const current = (
      (state.status && state.status.uploads && state.status.uploads.current) ||
      []
    ).find((f) => f.id === fileId);
    if (current)
      return { state: current.state, progress: current.progress, bytes: current.bytes_done };
    const file = state.files.find((f) => f.id === fileId);
    if (file)
      return {
        state: file.state,
        progress: file.size ? file.bytes_acked / file.size : null,
        bytes: file.bytes_acked,
      };
    return null;
  }

  function renderTake(status) {
    const recorder = status.recorder || {};
    setText($("timecode"), recorder.timecode || "--:--:--:--");
    setText($("timecode-rate"), recorder.timecode_rate ? `${recorder.timecode_rate} fps` : "");
    const take = recorder.take;
    const last = recorder.last_take;
    let line;
    if (take) {
      const seconds = Math.max(0, hubNow() - take.started_at);
      line =
        `Recording scene ${take.scene} take ${take.take} ` +
        `from ${take.start_timecode} · ${fmtSeconds(seconds)}`;
    } else if (last) {
      line =
        `Stopped. Last: scene ${last.scene} take ${last.take}, ${fmtSeconds(last.seconds)}. ` +
        `Next: scene ${recorder.scene} take ${recorder.next_take}.`;
    } else {
      line = `Ready. Next: scene ${recorder.scene || "–"} take ${recorder.next_take || "–"}.`;
    }
    setText($("take-state"), line);
    setClass($("take-state"), "rec", Boolean(take));
    $("take-start").disabled = Boolean(take);
    $("take-stop").disabled = !take;
    const scene = $("take-scene");
    if (
      !state.sceneDirty &&
      document.activeElement !== scene &&
      recorder.scene &&
      scene.value !== recorder.scene
    ) {
      scene.value = recorder.scene;
    }
    const number = $("take-number");
    if (recorder.next_take) number.placeholder = `next: ${recorder.next_take}`;

    const shown = take || last;
    const tracks = shown ? shown.tracks || [] : [];
    syncList(
      $("tracks"),
      tracks,
      (t) => `${shown.scene}/${shown.take}/${t.serial}`,
      createTrack,
      (li, t) => updateTrack(li, t, shown),
    );
    show($("tracks-empty"), tracks.length === 0);
    setText(
      $("tracks-empty"),
      shown ? "This take has no tracks (no microphone attached)." : "No take yet.",
    );
  }

  function createTrack() {
    const li = h("li", { class: "row track" });
    const name = h("span", { class: "name" });
    const badge = h("span", { class: "badge" });
    const bar = h("progress", { max: "1", value: "0" });
    const detail = h("p", { class: "note detail" });
    li.append(h("div", { class: "row-head" }, name, badge), bar, detail);
    li._parts = { name, badge, bar, detail };
    return li;
  }

  function updateTrack(li, track, take) {
    const p = li._parts;
    li.dataset.serial = track.serial;
    setText(p.name, `${track.index}. ${track.name}`);
    const upload = trackUpload(track.file_id);
    const upState = upload ? upload.state : track.file_id === null ? "not queued" : "…";
    li.dataset.state = upState;
    setText(p.badge, stateBadge(upState));
    p.badge.dataset.state = upState;
    if (
      upload &&
      upload.progress !== null &&
      upload.progress !== undefined &&
      upState !== "recording"
    ) {
      p.bar.value = upState === "done" ? 1 : upload.progress;
      show(p.bar, true);
    } else {
      show(p.bar, upState === "recording");
      if (upState === "recording") p.bar.removeAttribute("value");
    }
    const rate = take.sample_rate || 48000;
    const length = fmtSeconds(track.frames / rate);
    let detail = `${track.serial} · ${track.frames.toLocaleString()} frames (${length})`;
    if (upload && upload.bytes) detail += ` · ${fmtBytes(upload.bytes)} sent`;
    if (track.dropouts) {
      const silence = fmtSeconds(track.dropout_samples / rate);
      detail += ` · ${track.dropouts} dropouts (${silence} of silence)`;
    }
    if (track.error) detail += ` · ${track.error}`;
    else if (track.warning) detail += ` · ${track.warning}`;
    setText(p.detail, detail);
  }

  function renderFooter(status) {
    setText($("firmware"), status.firmware_version || "–");
    const running = status.hub && status.hub.running;
    setText($("hub-running"), running ? "Hub running" : "Hub not running");
    setText($("updated"), fmtClock(status.generated_at));
  }

  function renderLive() {
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
  async function logIn(event) {
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

  function wire() {
    $("login-form").addEventListener("submit", logIn);
    $("alert-close").addEventListener("click", () => show($("alert"), false));
    $("pair-start").addEventListener("click", (e) =>
      act(e.currentTarget, "Pair", () => api("POST", "/pairing/start")),
    );
    $("pair-cancel").addEventListener("click", (e) =>
      act(e.currentTarget, "Cancel pairing", () => api("POST", "/pairing/cancel")),
    );
    $("unpair").addEventListener("click", (e) => {
      const project =
        (state.status && state.status.pairing && state.status.pairing.project_name) ||
        "the project";
      if (
        !window.confirm(
          `Unpair this hub from ${project}? ` +
            "Its tokens are revoked; pairing again needs a new code.",
        )
      )
        return;
      act(e.currentTarget, "Unpair", () => api("POST", "/unpair"));
    });
    $("queue-pause").addEventListener("click", (e) => {
      const held = e.currentTarget.dataset.held === "true";
      act(e.currentTarget, held ? "Resume uploading" : "Pause uploading", () =>
        api("PUT", "/uploads/paused", { on: !held }),
      );
    });
    for (const radio of document.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener("change", (e) => {
        if (e.currentTarget.checked) {
          act(null, "Change the upload mode", () =>
            api("PUT", "/uploads/mode", { mode: e.currentTarget.value }),
          );
        }
      });
    }
    $("parallel").addEventListener("change", (e) =>
      act(null, "Parallel uploads", () =>
        api("PUT", "/uploads/parallel", { on: e.currentTarget.checked }),
      ),
    );
    $("retry-failed").addEventListener("click", (e) =>
      act(e.currentTarget, "Retry failed", () => api("POST", "/uploads/retry-failed")),
    );
    $("cancel-all").addEventListener("click", (e) => {
      if (!window.confirm("Cancel every file still to upload?")) return;
      act(e.currentTarget, "Cancel all", () => api("POST", "/uploads/cancel-all"));
    });
    $("take-scene").addEventListener("input", () => {
      state.sceneDirty = true;
    });
    $("take-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {};
      const scene = $("take-scene").value.trim();
      if (scene) body.scene = scene;
      const number = $("take-number").value.trim();
      if (number) body.take = Number.parseInt(number, 10);
      const answer = await act($("take-start"), "Start take", () =>
        api("POST", "/takes/start", body),
      );
      if (answer !== undefined) {
        state.sceneDirty = false;
        $("take-number").value = "";
      }
    });
    $("take-stop").addEventListener("click", (e) =>
      act(e.currentTarget, "Stop take", () => api("POST", "/takes/stop")),
    );
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
})();
