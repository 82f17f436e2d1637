// The case page: reply, note, move the conversation, status/priority/owner/tags, the
// live timeline and the collision notice. The page is complete without this script;
// it only adds actions (through the JSON API) and live updates.
import { api, ApiError, fragment, toast } from "./api.js";
import { debounce, on, onReset } from "./live.js";

const root = document.getElementById("case-page");
const caseId = Number(root.dataset.caseId);
const me = Number(document.body.dataset.agentId);
const base = `/api/v1/cases/${caseId}`;
const $ = (id) => document.getElementById(id);

function failed(what, error) {
  const message = error instanceof ApiError ? error.message : String(error);
  toast(`${what}: ${message}`, "error");
}

// Ctrl+Enter or Cmd+Enter in a text field submits its form.
function sendsOnCtrlEnter(textarea, form) {
  textarea?.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

// ---- The timeline: fetched again as server HTML and reconciled entry by entry, so that
// new touches are appended where they belong, badges move (queued → sent → delivered)
// and a waiting channel switch takes its place, without losing what the reader opened.

const timelineBox = $("timeline");

function reconcile(box, fresh) {
  const oldList = box.querySelector("ol.timeline");
  const newList = fresh.querySelector("ol.timeline");
  if (!oldList || !newList) {
    box.replaceChildren(fresh);
    return;
  }
  const wanted = new Set();
  let cursor = null;
  for (const entry of [...newList.children]) {
    wanted.add(entry.id);
    let current = entry.id ? oldList.querySelector(`#${CSS.escape(entry.id)}`) : null;
    if (!current) {
      entry.classList.add("is-new");
      current = entry;
    } else if (current.outerHTML !== entry.outerHTML) {
      const opened = [...current.querySelectorAll("details")].map((d) => d.open);
      entry.querySelectorAll("details").forEach((d, i) => { if (opened[i]) d.open = true; });
      if (current.outerHTML !== entry.outerHTML) {
        current.replaceWith(entry);
        current = entry;
      }
    }
    const after = cursor ? cursor.nextElementSibling : oldList.firstElementChild;
    if (after !== current) oldList.insertBefore(current, after);
    cursor = current;
  }
  for (const entry of [...oldList.children]) if (!wanted.has(entry.id)) entry.remove();
  const note = fresh.querySelector(":scope > p.note");
  const oldNote = box.querySelector(":scope > p.note");
  if (note && !oldNote) box.prepend(note);
  if (!note && oldNote) oldNote.remove();
}

async function refreshTimeline() {
  try {
    reconcile(timelineBox, await fragment(`/cases/${caseId}/timeline`));
  } catch (error) {
    failed("The timeline could not be updated", error);
  }
}
const refreshSoon = debounce(refreshTimeline, 150);

on(["touch.created", "delivery.updated", "case.switch_announced"], (event) => {
  if (event.case_id === caseId) refreshSoon();
});

// ---- Status, priority, owner, tags.

let ownerNames = null;
async function ownerName(id) {
  if (id === null) return "Unassigned";
  const select = $("assign-owner");
  const option = select?.querySelector(`option[value="${id}"]`);
  if (option) return option.textContent;
  if (!ownerNames) {
    ownerNames = new Map();
    try {
      const page = await api("GET", "/api/v1/agents?limit=200");
      for (const agent of page.items) ownerNames.set(agent.id, agent.name);
    } catch {
      /* the name stays unknown; the id below still says something */
    }
  }
  return ownerNames.get(id) ?? `agent ${id}`;
}

async function showOwner(ownerId) {
  root.dataset.ownerId = ownerId ?? "";
  const select = $("assign-owner");
  if (select) {
    select.value = ownerId ?? "";
    select.dataset.current = select.value;
  }
  const name = $("owner-name");
  if (name) name.textContent = await ownerName(ownerId);
  const take = $("assign-take");
  const release = $("assign-release");
  if (take) take.hidden = ownerId === me;
  if (release) release.hidden = ownerId !== me;
}

function showChoice(select, value) {
  if (!select) return;
  select.value = value;
  select.dataset.current = value;
}

function showTags(tags) {
  const list = $("tag-list");
  if (!list) return;
  const removable = Boolean($("tag-form"));
  list.replaceChildren(
    ...tags.map((tag) => {
      const item = document.createElement("li");
      item.className = "tag";
      const label = document.createElement("span");
      label.textContent = tag;
      item.append(label);
      if (removable) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "tag-remove";
        button.dataset.tag = tag;
        button.setAttribute("aria-label", `Remove tag ${tag}`);
        button.textContent = "×";
        item.append(button);
      }
      return item;
    }),
  );
  $("no-tags")?.toggleAttribute("hidden", tags.length > 0);
}

function showState(state) {
  showChoice($("case-status"), state.status);
  showChoice($("case-priority"), state.priority);
  showOwner(state.owner_id);
  if (state.tags) showTags(state.tags);
}

async function change(select, path, field, label) {
  const wanted = select.value;
  try {
    const state = await api("POST", `${base}/${path}`, { [field]: wanted });
    showState(state);
    toast(`${label}: ${select.selectedOptions[0].textContent}`);
  } catch (error) {
    select.value = select.dataset.current;
    failed(`${label} not changed`, error);
  }
}

$("case-status")?.addEventListener("change", (e) => change(e.target, "status", "status", "Status"));
$("case-priority")?.addEventListener("change", (e) => change(e.target, "priority", "priority", "Priority"));

async function assignTo(agentId) {
  try {
    const state = await api("POST", `${base}/assign`, { agent_id: agentId });
    await showOwner(state.owner_id);
    toast(state.owner_id === null ? "Case released" : `Owner: ${await ownerName(state.owner_id)}`);
  } catch (error) {
    await showOwner(root.dataset.ownerId ? Number(root.dataset.ownerId) : null);
    failed("Not assigned", error);
  }
}

$("assign-owner")?.addEventListener("change", (e) => assignTo(e.target.value ? Number(e.target.value) : null));
$("assign-take")?.addEventListener("click", () => assignTo(me));
$("assign-release")?.addEventListener("click", () => assignTo(null));

$("tag-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("tag-input");
  const tag = input.value.trim();
  if (!tag) return;
  try {
    const answer = await api("POST", `${base}/tags`, { tag });
    showTags(answer.tags);
    input.value = "";
  } catch (error) {
    failed("Tag not added", error);
  }
});

$("tag-list")?.addEventListener("click", async (event) => {
  const button = event.target.closest("button.tag-remove");
  if (!button) return;
  try {
    const answer = await api("DELETE", `${base}/tags?tag=${encodeURIComponent(button.dataset.tag)}`);
    showTags(answer.tags);
    $("tag-input")?.focus();
  } catch (error) {
    failed("Tag not removed", error);
  }
});

async function refreshState() {
  try {
    showState(await api("GET", base));
  } catch (error) {
    failed("The case could not be updated", error);
  }
}
on(["case.assigned", "case.status_changed", "case.updated"], (event) => {
  if (event.case_id === caseId) refreshState();
});
onReset(() => {
  refreshTimeline();
  refreshState();
});

// ---- The reply composer.

const replyForm = $("reply-form");
const replyTo = $("reply-to");
const replyText = $("reply-text");
const reason = $("switch-reason");
const warning = $("privacy-warning");
let publicConfirmed = false;

const chosen = () => replyTo.selectedOptions[0];
const hasDefault = () => Boolean(replyTo.querySelector("option[data-default]"));
const isSwitch = () => hasDefault() && !chosen().hasAttribute("data-default");

function showComposer() {
  if (!replyTo) return;
  $("reply-public").hidden = chosen().dataset.public !== "true";
  $("switch-row").hidden = !isSwitch();
  hideWarning();
}

function hideWarning() {
  if (warning) warning.hidden = true;
  publicConfirmed = false;
}

replyTo?.addEventListener("change", showComposer);
replyText?.addEventListener("input", () => {
  if (!warning.hidden) hideWarning();
  typingNow();
});
sendsOnCtrlEnter(replyText, replyForm);

async function looksPrivate(text) {
  const check = await api("POST", `${base}/reply-check`, { text });
  if (!check.private_data) return false;
  const kinds = [...new Set(check.findings.map((f) => f.label))];
  $("privacy-message").textContent =
    `This reply is public — anyone can read it — and it looks like it contains ${kinds.join(" and ")}. ` +
    "Move the conversation to a private channel?";
  warning.hidden = false;
  $("privacy-move").focus();
  return true;
}

$("privacy-move")?.addEventListener("click", () => {
  const option = [...replyTo.options].find((o) => o.dataset.public !== "true");
  if (!option) {
    toast("This customer has no private channel on record; add one first", "error");
    return;
  }
  replyTo.value = option.value;
  showComposer();
  reason.value = "private_data";
  toast(`Moving to ${option.textContent.trim()} because of private data`);
  replyText.focus();
});

$("privacy-send")?.addEventListener("click", () => {
  publicConfirmed = true;
  warning.hidden = true;
  replyForm.requestSubmit();
});

replyForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = replyText.value.trim();
  if (!text) {
    toast("Write a reply first", "error");
    replyText.focus();
    return;
  }
  if (isSwitch() && !reason.value) {
    toast("Say why the conversation changes channel", "error");
    reason.focus();
    return;
  }
  const option = chosen();
  const send = $("reply-send");
  send.disabled = true;
  try {
    if (option.dataset.public === "true" && !publicConfirmed && (await looksPrivate(text))) return;
    const body = {
      text,
      channel: option.dataset.channel,
      to: { kind: option.dataset.kind, value: option.dataset.value },
    };
    if (option.dataset.channel === "x") body.public = option.dataset.public === "true";
    if (isSwitch()) body.switch_reason = reason.value;
    await api("POST", `${base}/replies`, body);
    replyText.value = "";
    for (const other of replyTo.options) other.removeAttribute("data-default");
    option.setAttribute("data-default", "true");
    reason.value = "";
    showComposer();
    stopTyping();
    toast("Reply queued");
    refreshTimeline();
  } catch (error) {
    failed("Reply not sent", error);
  } finally {
    send.disabled = false;
  }
});

// ---- Internal note and moving the conversation.

const noteForm = $("note-form");
sendsOnCtrlEnter($("note-text"), noteForm);
noteForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const field = $("note-text");
  const text = field.value.trim();
  if (!text) {
    toast("Write the note first", "error");
    field.focus();
    return;
  }
  try {
    await api("POST", `${base}/notes`, { text });
    field.value = "";
    toast("Note added");
    refreshTimeline();
  } catch (error) {
    failed("Note not added", error);
  }
});

$("move-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", `${base}/switches`, {
      to_channel: $("move-channel").value,
      reason: $("move-reason").value,
    });
    toast("Move announced: the next contact on that channel completes it");
    refreshTimeline();
  } catch (error) {
    failed("Move not announced", error);
  }
});

// ---- Anchors: /cases/ID#reply, #note and #assign put the cursor where the work is.

function focusFromHash() {
  const targets = {
    "#reply": () => $("reply-text"),
    "#note": () => $("note-text"),
    "#assign": () =>
      $("assign-owner") ?? [$("assign-take"), $("assign-release")].find((b) => b && !b.hidden),
  };
  const target = targets[location.hash]?.();
  if (target) target.focus();
}
window.addEventListener("hashchange", focusFromHash);
focusFromHash();
// On a fresh load the browser scrolls to the fragment after scripts ran, and that can
// take the focus away again: once more when the page has finished loading.
if (document.readyState === "complete") setTimeout(focusFromHash, 0);
else window.addEventListener("load", () => setTimeout(focusFromHash, 0), { once: true });

// ---- Collision notice: who else has this case open, and who is typing.

const HEARTBEAT_MS = 10_000;
const TYPING_IDLE_MS = 4_000;
const viewers = new Map(); // agent id → {name, typing, timer}
const notice = $("collision");
let typing = false;
let typingTimer = null;
let lastAnswer = 0;

function showViewers() {
  const people = [...viewers.values()];
  if (people.length === 0) {
    notice.hidden = true;
    notice.textContent = "";
    return;
  }
  notice.textContent = people
    .map((p) => `${p.name} is ${p.typing ? "typing a reply" : "viewing this case"}`)
    .join(" · ");
  notice.hidden = false;
}

function heartbeat(extra = {}) {
  return api("POST", `${base}/viewing`, { typing, ...extra }).catch(() => {});
}

function typingNow() {
  if (!typing) {
    typing = true;
    heartbeat();
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typingTimer);
  if (typing) {
    typing = false;
    heartbeat();
  }
}

on("case.viewing", (event) => {
  const data = event.data ?? {};
  if (event.case_id !== caseId || data.agent_id === me) return;
  const known = viewers.get(data.agent_id);
  clearTimeout(known?.timer);
  if (data.leaving) {
    viewers.delete(data.agent_id);
  } else {
    const timer = setTimeout(() => {
      viewers.delete(data.agent_id);
      showViewers();
    }, (data.ttl ?? 30) * 1000);
    viewers.set(data.agent_id, { name: data.name, typing: Boolean(data.typing), timer });
    // A page that has just opened the case learns of this one at once.
    if (data.hello && Date.now() - lastAnswer > 1000) {
      lastAnswer = Date.now();
      heartbeat();
    }
  }
  showViewers();
});

// Hello a few times while the event stream connects, then a heartbeat now and then.
for (const delay of [0, 1500, 4000]) setTimeout(() => heartbeat({ hello: true }), delay);
setInterval(() => heartbeat(), HEARTBEAT_MS);

window.addEventListener("pagehide", () => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
  fetch(`${base}/viewing`, {
    method: "POST",
    keepalive: true,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
    body: JSON.stringify({ leaving: true }),
  }).catch(() => {});
});
