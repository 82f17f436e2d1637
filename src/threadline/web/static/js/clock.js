// Service-level countdowns. Any element with data-due (an RFC 3339 time) shows the time
// left, and turns amber from data-warn (a time) and red once due. Paused clocks carry
// data-paused and stand still.

function span(seconds) {
  const s = Math.abs(Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function paint(root = document) {
  const now = Date.now();
  for (const element of root.querySelectorAll("[data-due]")) {
    if (element.hasAttribute("data-paused") || element.hasAttribute("data-met")) continue;
    const due = Date.parse(element.dataset.due);
    if (Number.isNaN(due)) continue;
    const warn = element.dataset.warn ? Date.parse(element.dataset.warn) : due;
    const left = (due - now) / 1000;
    element.textContent = left >= 0 ? span(left) : `${span(left)} late`;
    const state = left < 0 ? "late" : now >= warn ? "warn" : "ok";
    element.classList.remove("due-ok", "due-warn", "due-late");
    element.classList.add(`due-${state}`);
    element.setAttribute("data-state", state);
  }
}

export function start() {
  paint();
  setInterval(paint, 1000);
}
