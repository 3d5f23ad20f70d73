// The sub-devices and their Frame.io channels, and the plugins with their device sources.

import { $, h, setClass, setText, show, syncList } from "./dom.js";

export function renderDevices(status) {
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
  setText(p.detail, detail);
}
