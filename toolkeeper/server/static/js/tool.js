// A tool's page: its card and recent errors kept live; its charts refreshed.
import { addSpend, operationRow, prependRow, updateCard } from "./cards.js";
import { ToolCharts } from "./charts.js";
import { connect } from "./live.js";

const main = document.querySelector("main");
const base = main.dataset.base;
const tool = main.dataset.toolPage;
const card = document.querySelector(`[data-tool="${CSS.escape(tool)}"]`);
const errors = document.getElementById("errors");
const FAILED = new Set(["error", "timeout"]);

new ToolCharts(document.querySelector("[data-charts]"), base, [tool]).load();

connect(base, {
  tick(data) {
    const summary = data.tools.find((item) => item.name === tool);
    if (summary) updateCard(card, summary);
  },
  operation(op) {
    if (op.wrapper_name !== tool) return;
    addSpend(card, op.cost_estimate);
    if (FAILED.has(op.status)) prependRow(errors, operationRow(op, base, false), 20);
  },
});
