// Keep server-rendered parts of a page live: fetch the page again and swap every [data-refresh].
// One place renders each figure (the server's templates), so no two parts of a screen disagree:
// the parts swapped together come from one request.

export function keepFresh({ onSwap } = {}) {
  let busy = false;
  return async function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(window.location.href,
        { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const part of fresh.querySelectorAll("[data-refresh]")) {
        const shown = document.querySelector(`[data-refresh="${CSS.escape(part.dataset.refresh)}"]`);
        if (shown) shown.replaceWith(document.importNode(part, true));
      }
      if (onSwap) onSwap();
    } catch {
      // The next refresh tries again; the page keeps what it shows, and says so in its live state.
    } finally {
      busy = false;
    }
  };
}
