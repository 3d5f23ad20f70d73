// The upload queue: totals and counts, pause and mode, the files moving now and the problems.

import { act, api } from "./core.js";
import { $, h, setClass, setText, show, syncList } from "./dom.js";
import { fmtBytes, fmtCongestion, fmtPartStreams, fmtRate, plural, stateBadge } from "./format.js";

function operatorHeld(uploads) {
  if (typeof uploads.held === "boolean") return uploads.held;
  return (uploads.paused_reason || "").startsWith("uploading is paused by the operator");
}

export function renderQueue(status) {
  const uploads = status.uploads || {};
  const counts = uploads.counts || {};
  const left = uploads.files_remaining || 0;
  setText($("files-remaining"), left);
  setText($("files-word"), plural(left, "file", "files"));
  // Growing tracks have no size yet: what is recorded (on disk) and not yet sent counts too.
  const take = (status.recorder || {}).take;
  const durable = new Map(
    ((take && take.tracks) || []).map((t) => [t.file_id, t.durable_bytes || 0]),
  );
  let unsent = 0;
  for (const c of uploads.current || []) {
    if (c.state === "recording" && durable.has(c.id))
      unsent += Math.max(0, durable.get(c.id) - (c.bytes_done || 0));
  }
  setText($("bytes-remaining"), fmtBytes((uploads.bytes_remaining || 0) + unsent));
  setText($("bytes-unsent-note"), unsent ? `(${fmtBytes(unsent)} recorded, not yet sent)` : "");
  // A speed only while something moves; otherwise none (a stale figure misleads).
  const bps = uploads.throughput_bps;
  const moving = (uploads.current || []).length > 0;
  setText($("throughput"), bps && moving ? `${fmtRate(bps)} now` : moving ? "" : "idle");
  // How the parts go up: the part streams in flight and the TCP congestion control, and why.
  const streams = fmtPartStreams(uploads.part_streams);
  const cc = fmtCongestion(uploads.congestion_control);
  setText(
    $("queue-transport"),
    [streams && `Part streams: ${streams}`, cc && `Congestion control: ${cc}`]
      .filter(Boolean)
      .join(" · "),
  );
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

  const duplicates = uploads.possible_duplicates || [];
  const dupKey = (d) => `${d.id}@${d.at}`;
  syncList($("duplicates"), [...duplicates].reverse(), dupKey, createDuplicate, updateDuplicate);
  show($("duplicates-box"), duplicates.length > 0);
}

function createDuplicate() {
  const li = h("li", { class: "row file" });
  const name = h("span", { class: "name" });
  const reason = h("p", { class: "reason" });
  li.append(h("div", { class: "row-head" }, name), reason);
  li._parts = { name, reason };
  return li;
}

function updateDuplicate(li, dup) {
  setText(li._parts.name, dup.name);
  setText(li._parts.reason, `${dup.why}, ${new Date(dup.at * 1000).toLocaleString()}`);
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

// The queue's controls: pause or resume, the upload mode, parallel uploads, retry, cancel all.
export function wireQueue() {
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
}
