// How values read on the page: sizes, times, words, codes.

const STATE_WORDS = {
  recording: "recording",
  queued: "queued",
  uploading: "uploading",
  done: "done",
  failed: "failed",
  skipped_paused: "skipped (paused)",
  cancelled: "cancelled",
  corrupt: "corrupt",
};

export function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(n);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
}

// One unit style on the page (as in the terminal): sizes in KiB/MiB/GiB, speeds in Mbit/s.
export function fmtRate(bytesPerSecond) {
  if (bytesPerSecond === null || bytesPerSecond === undefined) return "–";
  return `${((Number(bytesPerSecond) * 8) / 1e6).toFixed(1)} Mbit/s`;
}

export function fmtClock(ts) {
  if (!ts) return "–";
  return new Date(ts * 1000).toLocaleTimeString([], { hour12: false });
}

export function fmtWhen(ts) {
  if (!ts) return "–";
  const d = new Date(ts * 1000);
  if (d.toDateString() === new Date().toDateString()) return fmtClock(ts);
  const options = {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  };
  return d.toLocaleString([], options);
}

export function human(word) {
  return String(word || "").replace(/_/g, " ");
}

export function plural(n, one, many) {
  return n === 1 ? one : many;
}

export function fmtLeft(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  return s < 60 ? `${s.toFixed(1)} s` : fmtLeft(s);
}
export function spacedCode(code) {
  return code.length === 6 ? `${code.slice(0, 3)} ${code.slice(3)}` : code;
}

export function stateBadge(fileState) {
  return STATE_WORDS[fileState] || fileState;
}

// The same sentences as hub/ui/status_text.py (the CLI and the terminal view).
export function fmtUploadSpeed(mbps, ageS) {
  if (mbps === null || mbps === undefined) return "not measured yet";
  let text = `${Number(mbps).toFixed(1)} Mbit/s`;
  if (ageS !== null && ageS !== undefined) text += `, ${Math.round(ageS)} s ago`;
  return text;
}

export function fmtCongestion(cc) {
  if (!cc) return null;
  const algorithm = String(cc.algorithm || cc.system_default || "system default");
  const reason = String(cc.reason || "");
  if (!reason) return algorithm;
  return reason.startsWith(algorithm) ? reason : `${algorithm}: ${reason}`;
}

export function fmtPartStreams(ps) {
  if (!ps) return null;
  let text = `${ps.in_flight || 0} in flight of ${ps.limit} (${ps.mode}`;
  if (ps.mode === "adaptive") text += ` ${ps.min}-${ps.max}`;
  text += ")";
  return ps.last_change ? `${text}, ${ps.last_change}` : text;
}

export function deviceClock(details) {
  const d = details || {};
  const gm = d.ptp_grandmaster;
  const domain = d.ptp_domain;
  const hasDomain = domain !== null && domain !== undefined && domain !== "";
  if (!gm && !hasDomain) return null;
  return `PTP${gm ? ` gm ${gm}` : ""}${hasDomain ? ` domain ${domain}` : ""}`;
}

export function deviceWarning(details) {
  const w = (details || {}).warning;
  return w ? String(w) : null;
}

export function ptpDisagreement(devices) {
  const clocks = [
    ...new Set((devices || []).map((d) => (d.details || {}).ptp_grandmaster).filter(Boolean)),
  ]
    .map(String)
    .sort();
  return clocks.length < 2 ? null : `streams disagree on the PTP grandmaster: ${clocks.join(", ")}`;
}
