// The shop counter's actions: log a visit for the customer on screen, or add a new
// customer and log their visit. Both go through the JSON API; on success the page is
// shown again from the server with the visit confirmed.
import { api, ApiError } from "./api.js";

// namedItem(), not elements.NAME: `item` and `namedItem` are the collection's own methods.
const field = (form, name) => form.elements.namedItem(name);
const text = (form, name) => field(form, name)?.value.trim() ?? "";

function chosenTopic(form) {
  const other = text(form, "topic_other");
  if (other) return other;
  return form.querySelector('input[name="topic"]:checked')?.value ?? "";
}

// The optional details: note, outcome and purchase, left out when empty.
function details(form) {
  const body = {};
  const note = text(form, "note");
  const outcome = text(form, "outcome");
  const amount = text(form, "amount").replace(",", ".");
  const item = text(form, "item");
  if (note) body.note = note;
  if (outcome) body.outcome = outcome;
  if (amount) body.purchase = item ? { amount, description: item } : { amount };
  return body;
}

function showError(form, message) {
  const box = form.querySelector(".form-error");
  box.textContent = message;
  box.hidden = false;
}

function done(customerId, touchId) {
  window.location.assign(`/counter?customer=${customerId}&logged=${touchId}`);
}

async function submitting(form, work) {
  const button = form.querySelector('button[type="submit"]');
  form.querySelector(".form-error").hidden = true;
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    showError(form, error instanceof ApiError ? error.message : "Could not reach Threadline; try again.");
    button.disabled = false;
  }
}

const visitForm = document.getElementById("visit-form");
visitForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const topic = chosenTopic(visitForm);
  if (!topic) {
    showError(visitForm, "Pick what the visit is about.");
    return;
  }
  const customerId = Number(visitForm.dataset.customerId);
  submitting(visitForm, async () => {
    const logged = await api("POST", "/api/v1/store-visits", { customer_id: customerId, topic, ...details(visitForm) });
    done(logged.customer_id, logged.touch_id);
  });
});

const newForm = document.getElementById("new-customer-form");
newForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const topic = chosenTopic(newForm);
  const identity = {
    kind: newForm.querySelector('input[name="kind"]:checked')?.value ?? "phone",
    value: text(newForm, "value"),
  };
  const name = text(newForm, "name");
  if (!name) {
    showError(newForm, "Type their name.");
    return;
  }
  if (!topic) {
    showError(newForm, "Pick what the visit is about.");
    return;
  }
  submitting(newForm, async () => {
    // One request: the visit by an identity nobody has yet makes the customer, named,
    // in the same transaction (a clerk may log visits but not edit customer records).
    const visit = { identity, customer_name: name, topic, ...details(newForm) };
    const logged = await api("POST", "/api/v1/store-visits", visit);
    done(logged.customer_id, logged.touch_id);
  });
});

// Typing a topic of one's own unticks the chips, and ticking a chip clears it.
for (const form of [visitForm, newForm]) {
  if (!form) continue;
  const other = field(form, "topic_other");
  other?.addEventListener("input", () => {
    for (const chip of form.querySelectorAll('input[name="topic"]')) chip.checked = false;
  });
  for (const chip of form.querySelectorAll('input[name="topic"]')) {
    chip.addEventListener("change", () => {
      if (other) other.value = "";
    });
  }
}
document.body.dataset.ready = "counter";
