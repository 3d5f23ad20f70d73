// The recent button presses (logging events) and a resend for the ones that did not arrive.

import { act, api } from "./core.js";
import { $, h, setText, show, syncList } from "./dom.js";
import { fmtClock, human } from "./format.js";

export function renderPresses(status) {
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
