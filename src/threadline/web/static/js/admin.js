// The admin page's one action: adding a person through POST /api/v1/agents. The new
// row joins the table at once; the server's page shows it from then on.
import { api, ApiError, toast } from "./api.js";

const form = document.getElementById("add-agent");
const rows = document.getElementById("agent-rows");

function cell(tag, text) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (tag === "th") element.scope = "row";
  return element;
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = form.querySelector(".form-error");
  error.hidden = true;
  const value = (name) => form.elements.namedItem(name).value.trim();
  const body = {
    name: value("name"),
    email: value("email"),
    role: value("role"),
    teams: value("teams").split(",").map((t) => t.trim()).filter(Boolean),
  };
  if (value("password")) body.password = value("password");
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const agent = await api("POST", "/api/v1/agents", body);
    const row = document.createElement("tr");
    row.dataset.agentId = agent.id;
    row.className = "is-new";
    const role = form.querySelector(`#agent-role option[value="${agent.role}"]`)?.textContent ?? agent.role;
    row.append(
      cell("th", agent.name),
      cell("td", agent.email),
      cell("td", role),
      cell("td", agent.teams.join(", ") || "—"),
      cell("td", "Offline"),
      cell("td", "Defaults"),
      cell("td", "yes"),
    );
    rows.append(row);
    form.reset();
    toast(`${agent.name} added`);
  } catch (failure) {
    error.textContent = failure instanceof ApiError ? failure.message : "Could not reach Threadline; try again.";
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});
document.body.dataset.ready = "admin";
