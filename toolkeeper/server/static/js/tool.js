// A tool's page: card, reasons, circuit breaker, windows and recent errors re-rendered by the
// server on every tick (one request, so they never disagree); charts refreshed.
import { ToolCharts } from "./charts.js";
import { connect } from "./live.js";
import { keepFresh } from "./refresh.js";

const main = document.querySelector("main");
const base = main.dataset.base;
const tool = main.dataset.toolPage;

new ToolCharts(document.querySelector("[data-charts]"), base, [tool]).load();

const refresh = keepFresh();
connect(base, { tick: refresh });
