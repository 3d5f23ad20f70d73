// The file list (GET /uploads): the active files, then the latest finished, with their buttons.

import { act, api, state } from "./core.js";
import { $, h, setText, show, syncList } from "./dom.js";
import { fmtBytes, stateBadge } from "./format.js";

const FILES_SHOWN = 50;
const FINAL_RETRYABLE = new Set(["failed", "cancelled", "corrupt", "skipped_paused"]);
const ACTIVE = new Set(["recording", "queued", "uploading"]);

export function renderFiles() {
  const files = state.files;
  const status = state.status || {};
  const manual = status.uploads && status.uploads.mode === "manual";
  const active = files.filter((f) => ACTIVE.has(f.state));
  const finished = files.filter((f) => !ACTIVE.has(f.state));
  const shown = [
    ...active,
    ...finished.slice(-Math.max(0, FILES_SHOWN - active.length)).reverse(),
  ];
  const list = $("files");
  list.dataset.manual = String(Boolean(manual));
  syncList(list, shown, (f) => f.id, createFile, updateFile);
  show($("files-empty"), files.length === 0);
  setText(
    $("files-count"),
    files.length > shown.length
      ? `(latest ${shown.length} of ${files.length})`
      : `(${files.length})`,
  );
}

function createFile(file) {
  const li = h("li", { class: "row file" });
  li.dataset.fileId = file.id;
  const name = h("span", { class: "name" });
  const badge = h("span", { class: "badge" });
  const buttons = h("span", { class: "buttons" });
  const mk = (label, action, path, cls) => {
    const b = h("button", { type: "button", class: `small ${cls || ""}`.trim(), text: label });
    b.dataset.action = action;
    b.setAttribute("aria-label", `${label} ${file.name}`);
    b.addEventListener("click", () =>
      act(b, `${label} ${li.dataset.name}`, () => {
        const id = Number(li.dataset.fileId);
        return action === "start"
          ? api("POST", "/uploads/start", { ids: [id] })
          : api("POST", `/uploads/${id}/${path}`);
      }),
    );
    buttons.append(b);
    return b;
  };
  const start = mk("Start", "start", null, "primary");
  const cancel = mk("Cancel", "cancel", "cancel", "danger");
  const retry = mk("Retry", "retry", "retry");
  const detail = h("p", { class: "note detail" });
  li.append(h("div", { class: "row-head" }, name, badge, buttons), detail);
  li._parts = { name, badge, start, cancel, retry, detail };
  return li;
}

function updateFile(li, file) {
  const p = li._parts;
  li.dataset.name = file.name;
  li.dataset.state = file.state;
  if (li.title !== file.path) li.title = file.path || "";
  setText(p.name, file.name);
  setText(p.badge, stateBadge(file.state));
  p.badge.dataset.state = file.state;
  const manual =
    li.parentElement?.dataset.manual === "true" || $("files").dataset.manual === "true";
  show(p.start, manual && file.state === "queued");
  show(p.cancel, ACTIVE.has(file.state));
  show(p.retry, FINAL_RETRYABLE.has(file.state));
  const sized = file.size !== null && file.size !== undefined;
  let detail = sized
    ? fmtBytes(file.size)
    : file.state === "recording"
      ? "still recording"
      : "size unknown";
  if (file.state !== "done" && file.bytes_acked && file.size) {
    detail += ` · ${Math.floor((100 * file.bytes_acked) / file.size)}% sent`;
  }
  if (file.channel) detail += ` · channel ${file.channel}`;
  if (file.reason) detail += ` · ${file.reason}`;
  setText(p.detail, detail);
}
