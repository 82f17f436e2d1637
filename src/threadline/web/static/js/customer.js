// The customer panel (case page and customer page): find another record of the same
// person, preview what a merge would move, merge, and undo. The panel is re-rendered by
// the server after every change, so what it shows is always what the database says.
import { api, ApiError, fragment, toast } from "./api.js";
import { debounce, on } from "./live.js";

const panel = document.getElementById("customer-panel");

function failed(what, error) {
  toast(`${what}: ${error instanceof ApiError ? error.message : String(error)}`, "error");
}

function start(box) {
  const customerId = Number(box.dataset.customerId);
  const caseId = box.dataset.caseId;
  const onCustomerPage = !caseId;
  const $ = (id) => box.querySelector(`#${id}`);

  async function refresh() {
    try {
      const html = await fragment(`/customers/${customerId}/panel${caseId ? `?case_id=${caseId}` : ""}`);
      box.replaceChildren(html);
    } catch (error) {
      failed("The customer panel could not be updated", error);
    }
  }

  function showResults(customers) {
    const list = $("merge-results");
    const others = customers.filter((c) => c.id !== customerId);
    if (others.length === 0) {
      const item = document.createElement("li");
      item.className = "muted";
      item.textContent = "No other record matches.";
      list.replaceChildren(item);
      return;
    }
    list.replaceChildren(
      ...others.map((c) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "merge-pick";
        button.dataset.otherId = c.id;
        const ways = c.identities.map((i) => i.display).join(", ");
        button.textContent = `${c.name} (customer ${c.id})${ways ? ` — ${ways}` : ""}`;
        item.append(button);
        return item;
      }),
    );
  }

  box.addEventListener("submit", async (event) => {
    if (event.target.id !== "merge-search") return;
    event.preventDefault();
    const query = $("merge-q").value.trim();
    if (!query) return;
    try {
      const page = await api("GET", `/api/v1/customers?q=${encodeURIComponent(query)}&limit=10`);
      showResults(page.items);
    } catch (error) {
      failed("Search failed", error);
    }
  });

  box.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.classList.contains("merge-pick")) {
      const preview = $("merge-preview");
      try {
        preview.replaceChildren(
          await fragment(`/customers/${customerId}/merge-preview?other_id=${button.dataset.otherId}`),
        );
        preview.hidden = false;
        (preview.querySelector("#merge-confirm") ?? preview).focus();
      } catch (error) {
        failed("No preview", error);
      }
    } else if (button.id === "merge-cancel") {
      $("merge-preview").hidden = true;
      $("merge-q").focus();
    } else if (button.id === "merge-confirm") {
      button.disabled = true;
      try {
        await api("POST", `/api/v1/customers/${customerId}/merge`, {
          other_id: Number(button.dataset.otherId),
        });
        toast("Merged. Undo is in the customer panel.");
        if (onCustomerPage) return window.location.reload();
        await refresh();
        box.querySelector("button.undo-merge")?.focus();
      } catch (error) {
        button.disabled = false;
        failed("Not merged", error);
      }
    } else if (button.classList.contains("undo-merge")) {
      button.disabled = true;
      try {
        await api("POST", `/api/v1/merges/${button.dataset.mergeId}/undo`);
        toast("Merge undone");
        if (onCustomerPage) return window.location.reload();
        await refresh();
      } catch (error) {
        button.disabled = false;
        failed("Not undone", error);
      }
    }
  });

  const refreshSoon = debounce(refresh, 300);
  on(["customer.merged", "customer.unmerged", "customer.updated"], (event) => {
    if (event.customer_id === customerId) refreshSoon();
  });
}

if (panel) start(panel);
