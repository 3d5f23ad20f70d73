// The take card: timecode, the take being recorded or the last one, its tracks and their
// uploads; and the take's controls.

import { act, ApiError, api, hubNow, state } from "./core.js";
import { $, h, setClass, setText, show, syncList } from "./dom.js";
import { fmtBytes, fmtSeconds, stateBadge } from "./format.js";

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

export function renderTake(status) {
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

// The take's controls: the scene field, start (with an optional take number), stop.
export function wireTake() {
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
    const answer = await act($("take-start"), "Start take", async () => {
      try {
        return await api("POST", "/takes/start", body);
      } catch (err) {
        // Nothing attached to record: say so, and start only if the operator insists.
        const empty = err instanceof ApiError && err.status === 409;
        if (empty && err.message.startsWith("no source to record")) {
          const sure = window.confirm(
            "No microphone or input is attached: this take would have no tracks.\n\n" +
              "Start it anyway?",
          );
          if (sure) return api("POST", "/takes/start", { ...body, force: true });
        }
        throw err;
      }
    });
    if (answer !== undefined) {
      state.sceneDirty = false;
      $("take-number").value = "";
    }
  });
  $("take-stop").addEventListener("click", (e) =>
    act(e.currentTarget, "Stop take", () => api("POST", "/takes/stop")),
  );
}
