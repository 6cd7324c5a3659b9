// Throughput and p95 latency per tool over the last hour or day, from /api/v1/tools/{tool}/metrics.
import { clock } from "./format.js";

const COLOURS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
const REFRESH_MS = 30000;

export async function fetchMetrics(base, tool, since) {
  const response = await fetch(`${base}/api/v1/tools/${encodeURIComponent(tool)}/metrics?since=${since}`,
    { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`metrics of ${tool}: HTTP ${response.status}`);
  return response.json();
}

function lineChart(canvas, unit) {
  return new window.Chart(canvas, {
    type: "line",
    data: { labels: [], datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      spanGaps: true,
      interaction: { mode: "index", intersect: false },
      elements: { point: { radius: 2, hoverRadius: 4 }, line: { borderWidth: 2, tension: 0.2 } },
      scales: {
        x: { ticks: { maxTicksLimit: 8, autoSkip: true } },
        y: { beginAtZero: true, title: { display: true, text: unit } },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });
}

// Draw one chart per canvas found in `root` ([data-chart=throughput|p95|errors]).
export class ToolCharts {
  constructor(root, base, tools, { onMetrics } = {}) {
    this.base = base;
    this.tools = tools;
    this.range = "1h";
    this.onMetrics = onMetrics;
    this.charts = {};
    const units = { throughput: "operations per minute", p95: "milliseconds", errors: "% of operations" };
    for (const canvas of root.querySelectorAll("canvas[data-chart]")) {
      this.charts[canvas.dataset.chart] = lineChart(canvas, units[canvas.dataset.chart]);
    }
    for (const button of root.querySelectorAll("button[data-range]")) {
      button.addEventListener("click", () => {
        this.range = button.dataset.range;
        for (const other of root.querySelectorAll("button[data-range]")) {
          other.setAttribute("aria-pressed", String(other === button));
        }
        this.load();
      });
    }
    this.status = root.querySelector("[data-chart-status]");
    setInterval(() => this.load(), REFRESH_MS);
  }

  addTool(tool) {
    if (!this.tools.includes(tool)) this.tools.push(tool);
  }

  async load() {
    const range = this.range;
    let results;
    try {
      results = await Promise.all(this.tools.map((tool) => fetchMetrics(this.base, tool, range)));
    } catch (error) {
      if (this.status) this.status.textContent = `Charts could not be loaded: ${error.message}`;
      return;
    }
    if (range !== this.range) return;
    if (this.status) this.status.textContent = "";
    const starts = [...new Set(results.flatMap((r) => r.buckets.map((b) => b.start)))].sort();
    const labels = starts.map((start) => clock(start, range !== "1h"));
    const series = {
      throughput: (b, seconds) => (b.count * 60) / seconds,
      p95: (b) => b.p95_latency_ms,
      errors: (b) => (b.count ? b.error_rate * 100 : null),
    };
    for (const [name, chart] of Object.entries(this.charts)) {
      chart.data.labels = labels;
      chart.data.datasets = results.map((result, index) => {
        const byStart = new Map(result.buckets.map((b) => [b.start, b]));
        // Before a tool's first operation there is no data, not zeros: nothing is drawn there.
        const first = result.buckets.find((b) => b.count > 0);
        const until = Date.parse(result.until);
        return {
          label: result.tool,
          borderColor: COLOURS[index % COLOURS.length],
          backgroundColor: COLOURS[index % COLOURS.length],
          data: starts.map((start) => {
            const bucket = byStart.get(start);
            if (!bucket || !first || start < first.start) return null;
            // The current bucket is unfinished: a rate over the seconds it has lasted, not a dip.
            const lasted = Math.min(result.bucket_seconds, (until - Date.parse(start)) / 1000);
            return series[name](bucket, Math.max(lasted, 1));
          }),
        };
      });
      chart.update();
    }
    if (this.onMetrics) this.onMetrics(results, range);
  }
}
