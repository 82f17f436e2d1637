// The wallboard keeps itself current: when an event says a queue may have changed, the
// server renders the figures again and they replace the old ones. A slow timer catches
// what no event announces (a clock passing its due time, a wait growing longer).
import { fragment } from "./api.js";
import { debounce, on, onReset } from "./live.js";

const board = document.getElementById("board");
const SLOW_REFRESH_MS = 30_000;
let inFlight = null;
let again = false;

async function refresh() {
  if (!board) return;
  if (inFlight) {
    again = true;
    return;
  }
  board.classList.add("refreshing");
  inFlight = fragment(board.dataset.refresh)
    .then((figures) => board.replaceChildren(figures))
    .catch(() => {
      // A failed refresh leaves the last figures up; the next event or tick tries again.
    })
    .finally(() => {
      board.classList.remove("refreshing");
      inFlight = null;
      if (again) {
        again = false;
        refresh();
      }
    });
}

const soon = debounce(refresh, 300);
on(
  [
    "case.created",
    "case.updated",
    "case.assigned",
    "case.status_changed",
    "touch.created",
    "call.updated",
    "call_back.created",
    "sla.warning",
    "sla.breached",
    "agent.presence",
    "customer.merged",
  ],
  soon,
);
onReset(soon);
setInterval(refresh, SLOW_REFRESH_MS);
document.body.dataset.ready = "wallboard";
