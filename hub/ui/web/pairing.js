// The Frame.io card: pair (the code, its link and QR code, the countdown), or the paired
// project, its socket, Frame.io's pause and the token; and its buttons.

import { act, api, hubNow, isPaired, state } from "./core.js";
import { $, h, setClass, setText, show } from "./dom.js";
import { fmtLeft, fmtWhen, human } from "./format.js";

let qrFor = null;

export function renderPairing(status) {
  const pairing = status.pairing || {};
  const flow = status.pairing_flow || {};
  const paired = isPaired(pairing);
  // Paired: the Frame.io card (and its Unpair) leaves the top of a phone's page to the take.
  document.body.classList.toggle("paired", paired);
  const pairingNow = !paired && flow.running;
  show($("paired"), paired);
  show($("pair-active"), pairingNow);
  show($("pair-idle"), !paired && !pairingNow);

  if (!paired && !pairingNow) {
    setText(
      $("pair-state"),
      pairing.state === "needs_pairing"
        ? `This hub must be paired again${pairing.reason ? `: ${pairing.reason}` : "."}`
        : "This hub is not paired with a Frame.io project.",
    );
    const last =
      flow.step && !["approved", "show_code", "waiting", "requesting"].includes(flow.step);
    setText($("pair-message"), last ? `Last attempt: ${flow.message || flow.step}` : "");
    show($("pair-message"), Boolean(last));
  }

  if (pairingNow) {
    const code = flow.user_code;
    const steps = {
      requesting: "Asking Frame.io for a pairing code…",
      show_code: "Waiting for the code to be entered in Frame.io…",
      waiting: "Waiting for the code to be entered in Frame.io…",
      slowed: `Waiting; Frame.io asked to poll less often (${flow.message || ""}).`,
      expired: "That code expired; getting a fresh one…",
      approved: "Approved; finishing…",
    };
    setText($("pair-step"), steps[flow.step] || flow.message || flow.step || "");
    show($("pair-code-box"), Boolean(code));
    if (code) {
      const codeEl = $("pair-code");
      if (codeEl.dataset.code !== code) {
        codeEl.dataset.code = code;
        codeEl.replaceChildren(
          h("span", { text: code.slice(0, 3) }),
          h("span", { text: code.slice(3) }),
        );
        codeEl.setAttribute("aria-label", `Pairing code ${code.split("").join(" ")}`);
      }
      const uri = flow.verification_uri || "";
      const uriEl = $("pair-uri");
      setText(uriEl, uri.replace(/^https?:\/\//, ""));
      if (uriEl.getAttribute("href") !== uri) uriEl.setAttribute("href", uri || "#");
      const complete = flow.verification_uri_complete;
      const linkEl = $("pair-link");
      show(linkEl, Boolean(complete));
      if (complete && linkEl.getAttribute("href") !== complete)
        linkEl.setAttribute("href", complete);
      const qr = $("pair-qr");
      const want = complete ? `${code}|${complete}` : null;
      if (want !== qrFor) {
        qrFor = want;
        if (complete) {
          qr.onerror = () => show(qr, false);
          qr.onload = () => show(qr, true);
          qr.src = `/pairing/qr.svg?code=${encodeURIComponent(code)}`;
        } else {
          show(qr, false);
          qr.removeAttribute("src");
        }
      }
    }
    renderCountdown();
  } else {
    qrFor = null;
  }

  if (paired) {
    setText($("project-name"), pairing.project_name || "(unnamed project)");
    $("project-name").title = pairing.project_id ? `project id ${pairing.project_id}` : "";
    setText($("authorized-by"), pairing.authorized_by || "–");
    setText($("device-name"), pairing.device_name || "–");
    const socket = status.socket || {};
    let socketText = human(socket.state || "unknown");
    if (socket.state === "joined" && socket.connected_since)
      socketText += ` since ${fmtWhen(socket.connected_since)}`;
    if (socket.state !== "joined" && socket.last_error) socketText += ` (${socket.last_error})`;
    if (socket.state === "backoff" && socket.next_attempt_at) {
      socketText += `, next try in ${fmtLeft(socket.next_attempt_at - hubNow())}`;
    }
    setText($("socket-state"), socketText);
    setClass($("socket-state"), "bad", socket.state !== "joined");
    const paused = status.paused;
    setText(
      $("frameio-paused"),
      paused === null || paused === undefined
        ? "–"
        : paused
          ? "yes: no uploads until Frame.io resumes the device"
          : "no",
    );
    setClass($("frameio-paused"), "warn", Boolean(paused));
    let token =
      pairing.state === "refreshing"
        ? "refreshing now"
        : `expires ${fmtWhen(pairing.access_expires_at)}`;
    if (pairing.refresh_due_at)
      token += `; renewed automatically ${fmtWhen(pairing.refresh_due_at)}`;
    setText($("token-line"), token);
    setText($("pairing-error"), pairing.last_error ? `Last error: ${pairing.last_error}` : "");
    show($("pairing-error"), Boolean(pairing.last_error));
  }
}

export function renderCountdown() {
  const flow = (state.status && state.status.pairing_flow) || {};
  if (!flow.running || !flow.expires_at) {
    setText($("pair-countdown"), "–");
    return;
  }
  setText($("pair-countdown"), fmtLeft(flow.expires_at - hubNow()));
}

// The pairing buttons: pair, cancel pairing, unpair (after a confirmation).
export function wirePairing() {
  $("pair-start").addEventListener("click", (e) =>
    act(e.currentTarget, "Pair", () => api("POST", "/pairing/start")),
  );
  $("pair-cancel").addEventListener("click", (e) =>
    act(e.currentTarget, "Cancel pairing", () => api("POST", "/pairing/cancel")),
  );
  $("unpair").addEventListener("click", (e) => {
    const project =
      (state.status && state.status.pairing && state.status.pairing.project_name) ||
      "the project";
    if (
      !window.confirm(
        `Unpair this hub from ${project}? ` +
          "Its tokens are revoked; pairing again needs a new code.",
      )
    )
      return;
    act(e.currentTarget, "Unpair", () => api("POST", "/unpair"));
  });
}
