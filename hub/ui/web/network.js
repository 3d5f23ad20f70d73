// The network card: the link, whether Frame.io answers, the upload speed.

import { $, setClass, setText } from "./dom.js";
import { fmtWhen, human } from "./format.js";

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
  const speed = net.upload_mbps;
  setText(
    $("net-speed"),
    speed === null || speed === undefined ? "not measured yet" : `${speed.toFixed(1)} Mbit/s`,
  );
  setText($("net-checked"), fmtWhen(net.last_health_at));
}
