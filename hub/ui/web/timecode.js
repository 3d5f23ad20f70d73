// The timecode card: the source (system clock, LTC, PTP) and its state, jam and free-run,
// the offset in frames (set here, applied from the next take), and each source's drift.

import { act, api } from "./core.js";
import { $, h, setClass, setText, show, syncList } from "./dom.js";

export function renderTimecode(status) {
  const tc = status.timecode;
  show($("timecode-card"), Boolean(tc));
  if (!tc) return;
  setText($("tc-now"), tc.timecode || "--:--:--:--");
  setText($("tc-source"), tc.label || "");
  $("tc-source").dataset.source = tc.source || "";
  setText($("tc-summary"), tc.summary || "");
  const ltc = tc.ltc;
  let ltcLine = "";
  if (ltc) {
    ltcLine =
      `LTC ${ltc.state} · ${ltc.last || "–"} · user bits ${ltc.user_bits || "–"} · ` +
      `${ltc.level_dbfs ?? "–"} dBFS · rate ${ltc.rate_detected || "?"} · ` +
      `${ltc.dropouts} dropouts, ${ltc.jumps} jumps`;
    if (tc.since_jam_s !== null && tc.since_jam_s !== undefined)
      ltcLine += ` · last jam ${Math.round(tc.since_jam_s)} s ago`;
  } else if (tc.ptp) {
    ltcLine = tc.ptp.summary;
  }
  setText($("tc-ltc"), ltcLine);
  show($("tc-ltc"), Boolean(ltcLine));
  let offset = `Offset ${tc.offset_frames >= 0 ? "+" : ""}${tc.offset_frames} frames`;
  if (tc.pending_offset_frames !== null && tc.pending_offset_frames !== undefined)
    offset += ` (${tc.pending_offset_frames} from the next take)`;
  setText($("tc-offset-now"), offset);
  const input = $("tc-offset");
  if (document.activeElement !== input && input.dataset.dirty !== "1")
    input.value = String(tc.pending_offset_frames ?? tc.offset_frames ?? 0);
  const limit = tc.drift_warn_ms || 50;
  syncList(
    $("tc-drift"),
    tc.drift || [],
    (d) => d.serial,
    () => h("li", { class: "row" }),
    (li, d) => {
      const ms = d.offset_ms === null ? "…" : `${d.offset_ms > 0 ? "+" : ""}${d.offset_ms} ms`;
      const ppm = d.drift_ppm === null ? "" : ` · ${d.drift_ppm} ppm`;
      setText(li, `${d.serial}: ${ms}${ppm}`);
      setClass(li, "bad", d.offset_ms !== null && Math.abs(d.offset_ms) > limit);
    },
  );
  const warnings = tc.warnings || [];
  syncList(
    $("tc-warnings"),
    warnings,
    (w) => w,
    () => h("li", { class: "row bad" }),
    (li, w) => setText(li, w),
  );
}

export function wireTimecode() {
  const input = $("tc-offset");
  input.addEventListener("input", () => {
    input.dataset.dirty = "1";
  });
  $("tc-offset-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const frames = Number.parseInt(input.value.trim(), 10);
    if (Number.isNaN(frames)) return;
    const answer = await act($("tc-offset-set"), "Set the timecode offset", () =>
      api("PUT", "/timecode/offset", { frames }),
    );
    if (answer !== undefined) input.dataset.dirty = "";
  });
}
