// The page's DOM helpers: find, set without churn, build, and keep a list in step with data.

export const $ = (id) => document.getElementById(id);

export function setText(el, value) {
  const text = value === null || value === undefined ? "" : String(value);
  if (el.textContent !== text) el.textContent = text;
}

export function show(el, on) {
  if (el.hidden === on) el.hidden = !on;
}

export function setClass(el, name, on) {
  if (el.classList.contains(name) !== on) el.classList.toggle(name, on);
}

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value);
  }
  for (const child of children) el.append(child);
  return el;
}

// Keep `container`'s children equal to `items`, reusing the element of each key: rows are
// updated in place (a button never disappears under a finger while the status refreshes).
export function syncList(container, items, key, create, update) {
  const existing = new Map();
  for (const child of container.children) existing.set(child.dataset.key, child);
  let previous = null;
  for (const item of items) {
    const k = String(key(item));
    let el = existing.get(k);
    if (el === undefined) {
      el = create(item);
      el.dataset.key = k;
    } else {
      existing.delete(k);
    }
    update(el, item);
    const wanted = previous === null ? container.firstElementChild : previous.nextElementSibling;
    if (el !== wanted) container.insertBefore(el, wanted);
    previous = el;
  }
  for (const el of existing.values()) el.remove();
}
