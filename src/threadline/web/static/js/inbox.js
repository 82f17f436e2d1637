// The inbox, live and by keyboard. The server renders every row; this module only
// (1) fetches the listing again when an event says the view may have changed, keeping
// the selection, and (2) moves a selection with j/k and opens the selected case.
import { fragment, typing } from "./api.js";
import { paint } from "./clock.js";
import { debounce, on, onReset } from "./live.js";

const live = document.getElementById("inbox-live");
const news = document.getElementById("inbox-news");
const help = document.getElementById("inbox-keys");

// Events that can move a case into or out of a view, or change what its row shows.
const CHANGES = [
  "case.created",
  "case.updated",
  "case.assigned",
  "case.status_changed",
  "touch.created",
  "sla.warning",
  "sla.breached",
  "customer.merged",
  "customer.updated",
];

let selectedId = null; // the case id of the selected row, kept across refreshes

const rows = () => [...live.querySelectorAll("tr[data-case-id]")];
const selectedRow = () => (selectedId ? live.querySelector(`tr[data-case-id="${selectedId}"]`) : null);

function select(row, { focus = true } = {}) {
  for (const other of rows()) {
    other.setAttribute("aria-selected", "false");
    other.tabIndex = -1;
  }
  if (!row) {
    selectedId = null;
    return;
  }
  selectedId = row.dataset.caseId;
  row.setAttribute("aria-selected", "true");
  row.tabIndex = 0;
  if (focus) {
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }
}

function move(step) {
  const all = rows();
  if (all.length === 0) return;
  const at = all.indexOf(selectedRow());
  const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
  select(all[next]);
}

// Where each key goes on the case page (which focuses the matching control).
const TARGETS = { r: "#reply", n: "#note", a: "#assign" };

function open(row, hash = "") {
  window.location.assign(`/cases/${row.dataset.caseId}${hash}`);
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (help?.open) return; // the dialog has the keyboard
  const key = event.key;
  if (key === "j" || key === "k") {
    event.preventDefault();
    move(key === "j" ? 1 : -1);
  } else if (key === "?") {
    event.preventDefault();
    help?.showModal();
  } else if (key === "Enter") {
    // Enter on a link follows the link; elsewhere it opens the selected case.
    if (event.target instanceof HTMLElement && event.target.closest("a, button")) return;
    const row = selectedRow();
    if (row) {
      event.preventDefault();
      open(row);
    }
  } else if (key in TARGETS) {
    const row = selectedRow();
    if (row) {
      event.preventDefault();
      open(row, TARGETS[key]);
    }
  }
});

// A click on a row (outside its links) selects it, as j/k would.
live.addEventListener("click", (event) => {
  const row = event.target instanceof Element ? event.target.closest("tr[data-case-id]") : null;
  if (row && !event.target.closest("a")) select(row);
});

function announce(arrived) {
  if (arrived.length === 0) return;
  const named = arrived.slice(0, 3).map((row) => `${row.dataset.ref} from ${row.dataset.customer}`);
  const more = arrived.length > 3 ? ` and ${arrived.length - 3} more` : "";
  news.textContent = `${arrived.length === 1 ? "New in this view" : `${arrived.length} new in this view`}: ${named.join(", ")}${more}`;
}

let refreshing = null;

async function refresh() {
  // One fetch at a time; a burst of events during it asks for one more afterwards.
  if (refreshing) {
    refreshing.again = true;
    return;
  }
  refreshing = { again: false };
  try {
    const known = new Set(rows().map((row) => row.dataset.caseId));
    const hadFocus = live.contains(document.activeElement) && document.activeElement.matches("tr[data-case-id]");
    const fresh = await fragment(live.dataset.rows);
    // The view tabs keep their place (and any focus on them); only their counts change.
    for (const count of fresh.querySelectorAll("[data-count-for]")) {
      const mine = live.querySelector(`[data-count-for="${count.dataset.countFor}"]`);
      if (mine && mine.textContent !== count.textContent) mine.textContent = count.textContent;
    }
    const listing = fresh.querySelector("#inbox-listing");
    if (listing) live.querySelector("#inbox-listing")?.replaceWith(listing);
    const arrived = rows().filter((row) => !known.has(row.dataset.caseId));
    for (const row of arrived) row.classList.add("is-new");
    announce(arrived);
    paint(live);
    const keep = selectedRow();
    if (keep) select(keep, { focus: hadFocus });
    else selectedId = null;
  } catch {
    // Offline or signed out: the next event or the reconnect's reset tries again.
  } finally {
    const again = refreshing.again;
    refreshing = null;
    if (again) refresh();
  }
}

const soon = debounce(refresh, 300);
on(CHANGES, soon);
onReset(soon);
