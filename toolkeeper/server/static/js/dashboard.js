// The dashboard: cards, system health and recent operations kept live; charts refreshed.
import { addSpend, buildCard, operationRow, prependRow, setSpend, setStatus, updateCard } from "./cards.js";
import { ToolCharts, fetchMetrics } from "./charts.js";
import { number, percent } from "./format.js";
import { connect } from "./live.js";

const main = document.querySelector("main");
const base = main.dataset.base;
const cards = document.querySelector("[data-cards]");
const system = document.querySelector("[data-system]");
const operations = document.getElementById("operations");
const chartsRoot = document.querySelector("[data-charts]");
const tools = chartsRoot.dataset.tools ? chartsRoot.dataset.tools.split(",") : [];
const KEEP_ROWS = 20;
const SPEND_REFRESH_MS = 60000;

const charts = new ToolCharts(chartsRoot, base, tools);
charts.load();

function cardOf(name) {
  let card = cards.querySelector(`[data-tool="${CSS.escape(name)}"]`);
  if (!card) {
    cards.querySelector("[data-no-tools]")?.remove();
    card = buildCard(name, base);
    cards.append(card);
    charts.addTool(name);
    charts.load();
  }
  return card;
}

function showHealth(health) {
  setStatus(system.querySelector('[data-field="system_status"]'), health.system_status);
  const shown = {
    overall_health_score: number(health.overall_health_score, 1),
    operations_per_minute: number(health.operations_per_minute, 1),
    overall_success_rate: percent(health.overall_success_rate),
    completed_operations: String(health.completed_operations),
    active_operations: String(health.active_operations),
    dropped_events: String(health.dropped_events),
  };
  for (const [field, text] of Object.entries(shown)) {
    system.querySelector(`[data-field="${field}"]`).textContent = text;
  }
}

async function refreshSpend() {
  for (const tool of tools) {
    try {
      const metrics = await fetchMetrics(base, tool, "24h");
      setSpend(cardOf(tool), metrics.buckets.reduce((sum, b) => sum + Number(b.cost_usd), 0));
    } catch {
      // The next refresh tries again; the card keeps its last figure.
    }
  }
}
setInterval(refreshSpend, SPEND_REFRESH_MS);

let reloading = false;
connect(base, {
  tick(data) {
    showHealth(data.health);
    for (const summary of data.tools) updateCard(cardOf(summary.name), summary);
    if (data.skipped_operations > 0 && !reloading) {
      reloading = true;
      fetch(`${base}/api/v1/operations?limit=${KEEP_ROWS}`, { credentials: "same-origin" })
        .then((response) => response.json())
        .then((page) => {
          operations.replaceChildren(...page.items.map((op) => operationRow(op, base)));
        })
        .finally(() => { reloading = false; });
    }
  },
  operation(op) {
    prependRow(operations, operationRow(op, base), KEEP_ROWS);
    addSpend(cardOf(op.wrapper_name), op.cost_estimate);
  },
});
