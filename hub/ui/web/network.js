// The network card: the connection in use and why, one health verdict, Frame.io's round trip,
// the measured upload speed with its age, IPv4 and IPv6 default routes; and, when the hub
// drives NetworkManager, the operator's controls: scan, join and save (the password goes to the
// hub once and is never shown back), priority, DHCP or static address, forget.

import { act, api } from "./core.js";
import { $, h, setClass, setText, show, syncList } from "./dom.js";
import { fmtWhen, human } from "./format.js";

const seg = (name) => encodeURIComponent(name);

export function renderNetwork(status) {
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
  const nets = status.networks || {};
  const upload = nets.upload || {};
  const speed = upload.mbps ?? net.upload_mbps;
  let speedText =
    speed === null || speed === undefined ? "not measured yet" : `${speed.toFixed(1)} Mbit/s`;
  if (upload.age_s !== null && upload.age_s !== undefined)
    speedText += `, measured ${Math.round(upload.age_s)} s ago`;
  setText($("net-speed"), speedText);
  setText($("net-checked"), fmtWhen(net.last_health_at));
  renderManaged(nets);
}

function renderManaged(nets) {
  const using = nets.in_use;
  let usingText = "nothing";
  if (using) {
    const detail = [using.kind];
    if (using.signal !== null && using.signal !== undefined) detail.push(`signal ${using.signal}%`);
    if (using.link_rate_mbps) detail.push(`${using.link_rate_mbps} Mbit/s link`);
    if (using.technology) detail.push(using.technology);
    usingText = `${using.ssid || using.operator || using.name} (${detail.join(", ")})`;
  }
  setText($("net-in-use"), usingText);
  setText($("net-why"), (using && using.why) || "–");
  const health = nets.health || {};
  setText($("net-health"), health.verdict ? `${health.verdict}: ${health.reason}` : "–");
  setClass($("net-health"), "bad", health.verdict === "offline" || health.verdict === "degraded");
  const routes = nets.routes || {};
  const fam = (name, list) =>
    `${name} ${(list || []).map((r) => `${r.interface} via ${r.gateway || "link"}`).join(", ") || "none"}`;
  setText($("net-routes"), `${fam("IPv4", routes.ipv4)}; ${fam("IPv6", routes.ipv6)}`);
  const modem = (nets.modems || [])[0];
  setText(
    $("net-modem"),
    modem ? `${modem.operator || "no operator"}, ${modem.technology || "?"}, signal ${modem.signal}%` : "–",
  );
  const controls = Boolean(nets.controls);
  show($("net-controls"), controls);
  show($("net-no-controls"), !controls && Boolean(nets.why_no_controls));
  setText($("net-no-controls"), `Network controls are off: ${nets.why_no_controls || ""}`);
  const last = nets.last_action;
  show($("net-last"), Boolean(last || nets.busy));
  setText($("net-last"), nets.busy ? `${nets.busy}…` : last ? last.message : "");
  setClass($("net-last"), "bad", Boolean(last && !last.ok && !nets.busy));
  if (!controls) return;
  syncList(
    $("net-wifi"),
    nets.wifi || [],
    (n) => n.ssid,
    (n) =>
      h(
        "li",
        {},
        h("span", { class: "name" }),
        " ",
        h("button", {
          type: "button",
          class: "small",
          text: "Join…",
          onclick: () => {
            $("net-ssid").value = n.ssid;
            $("net-psk").focus();
          },
        }),
      ),
    (li, n) => {
      const mark = n.in_use ? " — in use" : n.saved ? " — saved" : "";
      setText(li.querySelector(".name"), `${n.ssid}: ${n.signal}%, ${n.security}, ${n.band}${mark}`);
    },
  );
  syncList($("net-saved"), nets.saved || [], (s) => s.uuid, createSaved, updateSaved);
}

function createSaved(saved) {
  const li = h("li", {}, h("span", { class: "name" }));
  const prio = h("input", {
    type: "number",
    min: "-999",
    max: "999",
    step: "1",
    class: "prio",
    "aria-label": `Priority of ${saved.name}`,
  });
  const setPrio = h("button", { type: "button", class: "small", text: "Set priority" });
  setPrio.addEventListener("click", () =>
    act(setPrio, `Priority of ${saved.name}`, () =>
      api("PUT", `/networks/${seg(saved.uuid)}/priority`, { priority: Number(prio.value) }),
    ),
  );
  const address = h("input", {
    type: "text",
    class: "addr",
    placeholder: "192.168.1.50/24",
    "aria-label": `Static address of ${saved.name}`,
  });
  const gateway = h("input", {
    type: "text",
    class: "gw",
    placeholder: "gateway",
    "aria-label": `Gateway of ${saved.name}`,
  });
  const setStatic = h("button", { type: "button", class: "small", text: "Static" });
  setStatic.addEventListener("click", () =>
    act(setStatic, `Static address for ${saved.name}`, () =>
      api("PUT", `/networks/${seg(saved.uuid)}/addressing`, {
        method: "static",
        address: address.value.trim(),
        gateway: gateway.value.trim() || null,
      }),
    ),
  );
  const setDhcp = h("button", { type: "button", class: "small", text: "DHCP" });
  setDhcp.addEventListener("click", () =>
    act(setDhcp, `DHCP for ${saved.name}`, () =>
      api("PUT", `/networks/${seg(saved.uuid)}/addressing`, { method: "dhcp" }),
    ),
  );
  const use = h("button", { type: "button", class: "small", text: "Use" });
  use.addEventListener("click", () =>
    act(use, `Switch to ${saved.name}`, () => api("POST", `/networks/${seg(saved.uuid)}/use`)),
  );
  const forget = h("button", { type: "button", class: "small danger", text: "Forget" });
  forget.addEventListener("click", () => {
    if (!window.confirm(`Forget ${saved.name}? Its password goes with it.`)) return;
    act(forget, `Forget ${saved.name}`, () => api("POST", `/networks/${seg(saved.uuid)}/forget`));
  });
  li.append(" ", use, prio, setPrio, " ", address, gateway, setStatic, setDhcp, " ", forget);
  return li;
}

function updateSaved(li, saved) {
  const a = saved.addressing || {};
  const how = a.method === "static" ? `static ${a.address}` : "DHCP";
  const mark = saved.in_use ? " — in use" : "";
  setText(
    li.querySelector(".name"),
    `${saved.name} (${saved.kind}, priority ${saved.priority}, ${how}${saved.autoconnect ? "" : ", manual"})${mark}`,
  );
  const prio = li.querySelector(".prio");
  if (document.activeElement !== prio) prio.value = String(saved.priority);
}

export function wireNetwork() {
  $("net-scan").addEventListener("click", (e) =>
    act(e.currentTarget, "Scan for Wi-Fi", () => api("POST", "/networks/scan")),
  );
  $("net-join").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ssid = $("net-ssid").value.trim();
    const psk = $("net-psk").value;
    $("net-psk").value = ""; // never kept on the page
    const body = { ssid };
    if (psk) body.psk = psk;
    await act($("net-join-submit"), `Join ${ssid}`, () => api("POST", "/networks/connect", body));
  });
}
