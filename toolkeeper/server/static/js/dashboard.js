// The dashboard: system health and cards re-rendered by the server on every tick, recent
// operations streamed as they finish; charts refreshed.
import { operationRow, prependRow } from "./cards.js";
import { ToolCharts } from "./charts.js";
import { connect } from "./live.js";
import { keepFresh } from "./refresh.js";

const main = document.querySelector("main");
const base = main.dataset.base;
const operations = document.getElementById("operations");
const chartsRoot = document.querySelector("[data-charts]");
const tools = chartsRoot.dataset.tools ? chartsRoot.dataset.tools.split(",") : [];
const KEEP_ROWS = 20;

const charts = new ToolCharts(chartsRoot, base, tools);
charts.load();

function newTools() {
  let added = false;
  for (const card of document.querySelectorAll("[data-cards] [data-tool]")) {
    if (!charts.tools.includes(card.dataset.tool)) {
      charts.addTool(card.dataset.tool);
      added = true;
    }
  }
  if (added) charts.load();
}

const refresh = keepFresh({ onSwap: newTools });
let reloading = false;
connect(base, {
  tick(data) {
    refresh();
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
  },
});
