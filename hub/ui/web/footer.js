// The footer: firmware version, whether the hub runs, when the status was made.

import { $, setText } from "./dom.js";
import { fmtClock } from "./format.js";

export function renderFooter(status) {
  setText($("firmware"), status.firmware_version || "–");
  const running = status.hub && status.hub.running;
  setText($("hub-running"), running ? "Hub running" : "Hub not running");
  setText($("updated"), fmtClock(status.generated_at));
}
