// The summary chips at the top: Frame.io, the socket, the network, uploads, the take.

import { isPaired } from "./core.js";
import { $, setClass, setText } from "./dom.js";
import { human, plural, spacedCode } from "./format.js";

function chip(el, text, tone) {
  setText(el, text);
  for (const t of ["good", "warn", "bad"]) setClass(el, `tone-${t}`, t === tone);
}

export function renderSummary(status) {
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
  const retrying = (uploads.current || []).filter((c) => c.retrying).length;
  let upText = `Uploads: ${left} ${plural(left, "file", "files")} left`;
  if (counts.failed) upText += `, ${counts.failed} failed`;
  if (retrying) upText += `, ${retrying} retrying`;
  if (uploads.paused) upText += ", paused";
  // Red when files fail or cannot reach Frame.io; amber while held or retrying.
  const stuck = left > 0 && reach === false;
  if (stuck) upText += ", Frame.io unreachable";
  let upTone = "good";
  if (counts.failed || stuck) upTone = "bad";
  else if (uploads.paused || retrying) upTone = "warn";
  chip($("sum-uploads"), upText, upTone);
  const recorder = status.recorder || {};
  const take = recorder.take;
  chip(
    $("sum-take"),
    take ? `Recording scene ${take.scene} take ${take.take}` : "Not recording",
    take ? "rec" : null,
  );
  setClass($("sum-take"), "tone-rec", Boolean(take));
}
