// Calls to Threadline's JSON API from the desk: the session cookie goes along by itself;
// every request that changes something carries the CSRF token the page was rendered with.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body = undefined, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  if (answer.status === 401) {
    window.location.assign(`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new ApiError(401, "unauthorized", "signed out; sign in again");
  }
  const type = answer.headers.get("content-type") ?? "";
  const data = type.includes("application/json") ? await answer.json() : null;
  if (!answer.ok) {
    const error = data?.error ?? {};
    throw new ApiError(answer.status, error.code ?? "error", error.message ?? `${answer.status} ${answer.statusText}`);
  }
  return data;
}

// A server-rendered piece of a page (a row, a timeline entry), fetched as HTML.
export async function fragment(path) {
  const answer = await fetch(path, { headers: { Accept: "text/html" }, credentials: "same-origin" });
  if (!answer.ok) throw new ApiError(answer.status, "error", `${answer.status} loading ${path}`);
  const template = document.createElement("template");
  template.innerHTML = await answer.text();
  return template.content;
}

// A short message in the corner: "Reply queued", "Not allowed: ...".
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = document.createElement("p");
  item.className = `toast toast-${kind}`;
  item.textContent = message;
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

// True when a key press belongs to a text field, not to the page's shortcuts.
export function typing(event) {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}
