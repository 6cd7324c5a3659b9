// The dashboard: system health, cards and recent operations re-rendered by the server on every
// tick (one request, so they never disagree; each is rendered in one place, its template);
// charts refreshed.
import { ToolCharts } from "./charts.js";
import { connect } from "./live.js";
import { keepFresh } from "./refresh.js";

const main = document.querySelector("main");
const base = main.dataset.base;
const chartsRoot = document.querySelector("[data-charts]");
const tools = chartsRoot.dataset.tools ? chartsRoot.dataset.tools.split(",") : [];

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
connect(base, { tick: refresh });
