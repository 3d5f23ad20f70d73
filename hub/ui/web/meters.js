// The level meters: each track's RMS as a bar, its peak and hold marked, the numbers in dBFS,
// a held clip and a track with no signal marked. Drawn from the `meters` events of GET /events
// (at least ten a second) and from each status snapshot's `meters` (the same numbers the
// terminal view draws).

import { onStatus, onStreamEvent } from "./core.js";
import { $, h, setClass, setText, show, syncList } from "./dom.js";

const FLOOR_DBFS = -60;

function percent(dbfs) {
  if (dbfs === null || dbfs === undefined) return 0;
  return Math.max(0, Math.min(100, ((dbfs - FLOOR_DBFS) / -FLOOR_DBFS) * 100));
}

function db(value) {
  return value === null || value === undefined ? "-∞" : value.toFixed(1);
}

function createMeter() {
  const li = h("li", { class: "row meter-row" });
  const name = h("span", { class: "name" });
  const rms = h("div", { class: "meter-rms" });
  const peak = h("div", { class: "meter-peak" });
  const hold = h("div", { class: "meter-hold" });
  const bar = h("div", { class: "meter", role: "meter", "aria-valuemin": String(FLOOR_DBFS) });
  bar.setAttribute("aria-valuemax", "0");
  bar.append(peak, rms, hold);
  const numbers = h("span", { class: "mono meter-numbers" });
  const badge = h("span", { class: "badge" });
  li.append(h("div", { class: "row-head" }, name, badge), bar, numbers);
  li._parts = { name, bar, rms, peak, hold, numbers, badge };
  return li;
}

function updateMeter(li, t) {
  const p = li._parts;
  setText(p.name, t.name);
  p.rms.style.width = `${percent(t.rms_dbfs)}%`;
  p.peak.style.width = `${percent(t.peak_dbfs)}%`;
  p.hold.style.left = `${percent(t.hold_dbfs)}%`;
  p.bar.setAttribute("aria-valuenow", t.rms_dbfs === null ? String(FLOOR_DBFS) : String(t.rms_dbfs));
  p.bar.setAttribute("aria-label", `${t.name}: RMS ${db(t.rms_dbfs)} dBFS`);
  setText(p.numbers, `peak ${db(t.peak_dbfs)} · RMS ${db(t.rms_dbfs)} · hold ${db(t.hold_dbfs)} dBFS`);
  li.dataset.peak = t.peak_dbfs === null ? "" : String(t.peak_dbfs);
  li.dataset.rms = t.rms_dbfs === null ? "" : String(t.rms_dbfs);
  li.dataset.state = t.state;
  const level = t.clip ? "clip" : !t.signal ? "none" : t.peak_dbfs > -6 ? "hot" : "ok";
  for (const name of ["clip", "none", "hot", "ok"]) setClass(li, `meter-${name}`, level === name);
  setText(p.badge, t.clip ? "CLIP" : !t.signal ? (t.state === "silent" ? "no signal" : "no audio") : "");
  show(p.badge, t.clip || !t.signal);
}

export function renderMeters(tracks) {
  syncList($("meters"), tracks, (t) => t.serial, createMeter, updateMeter);
  show($("meters-empty"), tracks.length === 0);
  $("meters").dataset.updates = String(++updates);
}
let updates = 0;

onStreamEvent("meters", (event) => renderMeters(event.tracks || []));
onStatus((status) => {
  if (status.meters) renderMeters(status.meters.tracks || []);
});
