// What every desk page shares: "/" focuses search, the presence switch, the clocks.
import { api, toast, typing } from "./api.js";
import { start as startClocks } from "./clock.js";

document.addEventListener("keydown", (event) => {
  if (event.key === "/" && !typing(event) && !event.ctrlKey && !event.metaKey && !event.altKey) {
    const search = document.getElementById("global-search");
    if (search) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  }
});

const presence = document.getElementById("presence");
presence?.addEventListener("change", async () => {
  const wanted = presence.value;
  try {
    await api("POST", "/api/v1/agents/me/presence", { status: wanted });
    presence.dataset.current = wanted;
    toast(`You are ${wanted}`);
  } catch (error) {
    presence.value = presence.dataset.current;
    toast(`Presence not changed: ${error.message}`, "error");
  }
});

startClocks();
