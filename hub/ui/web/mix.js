// The mix card: mode, proxies and upload order, and one row per track (gain, pan, mute) that
// calls PUT /mix/tracks/{key}; while a take rolls the change is heard from the next block.

import { act, api } from "./core.js";
import { $, h, setText, syncList } from "./dom.js";

function rows(mix) {
  const live = mix.live && mix.live.mix ? mix.live.mix.tracks : null;
  if (live && live.length) return live;
  return Object.entries((mix.settings && mix.settings.tracks) || {}).map(([key, t]) => ({
    key,
    name: key,
    ...t,
  }));
}

function send(row, key) {
  const gain = Number(row.querySelector(".mix-gain").value);
  const pan = Number(row.querySelector(".mix-pan").value);
  const mute = row.querySelector(".mix-mute").checked;
  return act(null, `mix ${key}`, () =>
    api("PUT", `/mix/tracks/${encodeURIComponent(key)}`, { gain_db: gain, pan, mute }),
  );
}

function createRow(track) {
  const key = track.key;
  const label = `mix-${key}`;
  const row = h(
    "li",
    { class: "mix-row" },
    h("span", { class: "mix-name", id: `${label}-name` }),
    h("input", {
      class: "mix-gain",
      type: "range",
      min: "-60",
      max: "12",
      step: "0.5",
      "aria-label": `${track.name || key} gain (dB)`,
    }),
    h("span", { class: "mix-gain-value mono" }),
    h("input", {
      class: "mix-pan",
      type: "range",
      min: "-1",
      max: "1",
      step: "0.05",
      "aria-label": `${track.name || key} pan`,
    }),
    h("label", {}, h("input", { class: "mix-mute", type: "checkbox" }), " mute"),
  );
  for (const input of row.querySelectorAll("input"))
    input.addEventListener("change", () => send(row, key));
  return row;
}

function updateRow(row, track) {
  setText(row.querySelector(".mix-name"), track.name || track.key);
  const gain = row.querySelector(".mix-gain");
  const pan = row.querySelector(".mix-pan");
  const mute = row.querySelector(".mix-mute");
  // Never move a control under the operator's finger.
  if (document.activeElement !== gain) gain.value = String(track.gain_db);
  if (document.activeElement !== pan) pan.value = String(track.pan);
  if (document.activeElement !== mute) mute.checked = Boolean(track.mute);
  setText(row.querySelector(".mix-gain-value"), `${Number(track.gain_db).toFixed(1)} dB`);
}

export function renderMix(status) {
  const mix = status.mix;
  if (!mix) return;
  const settings = mix.settings || {};
  const proxies = mix.proxies || {};
  setText(
    $("mix-state"),
    `${mix.enabled ? `Mix ${settings.mode}` : "No mix"} · proxies ` +
      `${proxies.enabled ? `${proxies.bitrate_kbps} kbit/s MP3` : "off"} · poly ` +
      `${mix.poly ? "on" : "off"} · upload order: ${(mix.upload_order || []).join(", ")}`,
  );
  syncList($("mix-tracks"), rows(mix), (t) => t.key, createRow, updateRow);
}
