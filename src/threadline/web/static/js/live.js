// The desk's one connection to /api/v1/events. Screens register what they care about;
// the browser reconnects by itself and resumes from the last event it saw. A `reset`
// (events were missed) asks each screen to reload what it shows.

const handlers = new Map();
const resetHandlers = new Set();
let source = null;

function dispatch(type, raw) {
  let event;
  try {
    event = JSON.parse(raw);
  } catch {
    return;
  }
  for (const handler of handlers.get(type) ?? []) handler(event);
}

function connect() {
  if (source) return;
  // From where the stream stood when the page was rendered: events that happened
  // before the stream opened are replayed, not lost. On reconnection the browser's
  // Last-Event-ID header takes over.
  const after = document.body.dataset.eventsAfter;
  const url = after ? `/api/v1/events?last_event_id=${encodeURIComponent(after)}` : "/api/v1/events";
  source = new EventSource(url, { withCredentials: true });
  source.addEventListener("reset", () => {
    for (const handler of resetHandlers) handler();
  });
  source.addEventListener("open", () => document.body.classList.remove("offline"));
  source.addEventListener("error", () => document.body.classList.add("offline"));
}

// on("touch.created", (event) => ...): event is {type, at, case_id, customer_id, data}.
// on(["case.created", "case.assigned"], handler) listens to several.
export function on(types, handler) {
  connect();
  for (const type of Array.isArray(types) ? types : [types]) {
    if (!handlers.has(type)) {
      handlers.set(type, new Set());
      source.addEventListener(type, (message) => dispatch(type, message.data));
    }
    handlers.get(type).add(handler);
  }
}

export function onReset(handler) {
  connect();
  resetHandlers.add(handler);
}

// Many events can arrive together (a burst of mail); run `work` once after they settle.
export function debounce(work, ms = 250) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => work(...args), ms);
  };
}
