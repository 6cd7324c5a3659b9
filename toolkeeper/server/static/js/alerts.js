// The alerts page: poll /api/v1/alerts; update values in place, reload when an alert changes state.

const POLL_MS = 5000;
const main = document.querySelector("main");
const base = main.dataset.base;
const state = document.querySelector("[data-live-state]");
const notice = document.querySelector("[data-alerts-notice]");
const shown = main.dataset.alertsSignature;

function say(text, kind) {
  state.textContent = text;
  state.dataset.state = kind;
}

// The same text as alerts_signature() in pages/alerts.py.
function signature(statuses, silences) {
  const alerts = statuses
    .filter((s) => ["firing", "pending", "nodata", "error"].includes(s.state))
    .map((s) => `${s.rule}/${s.tool}/${s.state}/${s.silenced_by ?? ""}/${s.acknowledged_by ?? ""}`)
    .sort();
  const ids = silences.map((s) => String(s.id)).sort();
  return `${alerts.join(";")}#${ids.join(",")}`;
}

function editing() {
  // Someone filling in a form keeps what they typed: say the page is stale instead of reloading.
  const active = document.activeElement;
  if (active && active.closest("form") && active.matches("input, select, textarea")) return true;
  return [...document.querySelectorAll('form input[type="text"]')].some((input) => input.value !== input.defaultValue);
}

// A metric's value in words and units, as alerts.html's plain() says it.
function plain(metric, value) {
  if (value === null || value === undefined) return "–";
  if (metric === "circuit_open") return value >= 1 ? "open" : "closed";
  if (metric.endsWith("_rate") || metric === "budget_burn") return `${(value * 100).toFixed(1)}%`;
  const shown = Number(value.toPrecision(4)).toString();
  return metric.endsWith("_ms") ? `${shown} ms` : shown;
}

function showValues(statuses) {
  for (const status of statuses) {
    const row = document.querySelector(`tr[data-alert="${CSS.escape(`${status.rule}/${status.tool}`)}"]`);
    const cell = row?.querySelector('[data-field="value"]');
    if (cell) cell.textContent = plain(cell.dataset.metric || "", status.value);
  }
}

async function getJson(path) {
  const response = await fetch(`${base}${path}`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${response.status}`);
  return response.json();
}

async function poll() {
  try {
    const [overview, silences] = await Promise.all([
      getJson("/api/v1/alerts"),
      getJson("/api/v1/alerts/silences"),
    ]);
    say(`Live: checked ${new Date().toISOString().slice(11, 19)} UTC, every ${POLL_MS / 1000} s.`, "open");
    showValues(overview.statuses);
    if (signature(overview.statuses, silences.silences) !== shown) {
      if (editing()) {
        notice.hidden = false;
      } else {
        window.location.replace(`${base}/alerts${window.location.search.replace(/[?&](acknowledged|escalated|silenced|expired)=[^&]*/g, "")}`);
        return;
      }
    }
  } catch {
    say("Could not check for changes; retrying (you may need to sign in again).", "retrying");
  }
  setTimeout(poll, POLL_MS);
}

poll();
