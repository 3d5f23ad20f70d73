// The sub-devices and their Frame.io channels, and the plugins with their device sources.

import { $, h, setClass, setText, show, syncList } from "./dom.js";
import { deviceClock, deviceWarning, ptpDisagreement } from "./format.js";

export function renderDevices(status) {
  const devices = status.devices || [];
  const channels = status.channels || {};
  const links = new Map((channels.channels || []).map((c) => [c.serial, c]));
  let line = `Channels: ${channels.state || "–"}`;
  if (channels.last_error) line += ` (last error: ${channels.last_error})`;
  const departing = channels.departing || [];
  if (departing.length) line += ` · ${departing.length} channel(s) being disconnected`;
  const disagreement = ptpDisagreement(devices);
  if (disagreement) line += ` · ⚠ ${disagreement}`;
  setText($("channels-state"), line);
  setClass($("channels-state"), "bad", Boolean(disagreement));
  syncList(
    $("devices"),
    devices,
    (d) => d.serial,
    createDevice,
    (li, d) => updateDevice(li, d, links.get(d.serial)),
  );
  show($("devices-empty"), devices.length === 0);

  // Each plugin and its sources as the terminal shows them (hub/ui/live/devices.py): a source
  // that runs but reports itself unhealthy is "unhealthy", with its own words.
  const plugins = status.plugins || [];
  const rows = [];
  for (const plugin of plugins) {
    const sources = plugin.sources || [];
    let bad = plugin.state !== "loaded";
    const health = sources.map((s) => {
      const reported = s.reported || {};
      let state = s.state || "unknown";
      const unhealthy =
        !["running", "starting", null, undefined].includes(s.state) || reported.healthy === false;
      let detail = "";
      if (unhealthy) {
        bad = true;
        if (state === "running") {
          state = "unhealthy";
          detail = reported.detail || s.last_error || "";
        } else {
          detail = s.last_error || reported.detail || "";
        }
        if (s.restart_in !== null && s.restart_in !== undefined)
          detail += `; restart in ${Math.round(s.restart_in)} s`;
      } else if (reported.detail) {
        detail = reported.detail;
      }
      return `${s.source}: ${state}${detail ? ` (${detail})` : ""}`;
    });
    rows.push({
      key: plugin.name,
      text: [
        `${plugin.name}: ${plugin.state}${plugin.reason ? ` (${plugin.reason})` : ""}`,
        ...health,
      ].join(" · "),
      bad,
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
  const warning = h("p", { class: "note warning" });
  li.append(h("div", { class: "row-head" }, name, badge), detail, warning);
  li._parts = { name, badge, detail, warning };
  return li;
}

function updateDevice(li, device, link) {
  const p = li._parts;
  setText(p.name, device.name);
  const kind = (device.kind || "").replace(/_/g, " ");
  let channel = device.kind === "local_input" ? "primary channel" : "no channel";
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
  const clock = deviceClock(device.details);
  if (clock) detail += ` · ${clock}`;
  setText(p.detail, detail);
  // What the source warns of on this channel (flood, silence, a format change mid-take).
  const warning = deviceWarning(device.details);
  setText(p.warning, warning ? `⚠ ${warning}` : "");
  show(p.warning, Boolean(warning));
  setClass(li, "bad", Boolean(warning));
}
