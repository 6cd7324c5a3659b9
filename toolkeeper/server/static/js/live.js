// Keep a page live: one EventSource on /api/v1/events, its state said in words.

export function connect(base, handlers) {
  const state = document.querySelector("[data-live-state]");
  const say = (text, kind) => {
    if (!state) return;
    state.textContent = text;
    state.dataset.state = kind;
  };
  const source = new EventSource(`${base}/api/v1/events`);
  source.addEventListener("open", () => say("Live: updates arrive as they happen.", "open"));
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      say("Live updates stopped. Reload the page (you may need to sign in again).", "closed");
    } else {
      say("Connection lost; reconnecting…", "retrying");
    }
  });
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
  }
  return source;
}
