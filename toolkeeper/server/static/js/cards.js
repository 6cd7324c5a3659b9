// Tool cards and operation rows, built and updated from the API's own JSON.
import { moment, ms, number, percent, usd } from "./format.js";

const FIELDS = {
  health_score: (s) => number(s.health_score, 1),
  total_operations: (s) => String(s.total_operations),
  operations_per_minute: (s) => number(s.operations_per_minute, 1),
  p50_latency_ms: (s) => ms(s.p50_latency_ms),
  p95_latency_ms: (s) => ms(s.p95_latency_ms),
  p99_latency_ms: (s) => ms(s.p99_latency_ms),
  error_rate: (s) => percent(s.error_rate),
  fallback_rate: (s) => percent(s.fallback_rate),
  circuit_state: (s) => s.circuit_state || "–",
};

const LABELS = {
  health_score: "Score", total_operations: "Operations", operations_per_minute: "Per minute",
  p50_latency_ms: "p50", p95_latency_ms: "p95", p99_latency_ms: "p99",
  error_rate: "Errors", fallback_rate: "Fallbacks", circuit_state: "Circuit",
};

function element(tag, attributes = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

export function setStatus(badge, status) {
  badge.className = `status status-${status}`;
  badge.textContent = status;
}

export function updateCard(card, summary) {
  card.dataset.status = summary.status;
  const badge = card.querySelector('[data-field="status"]');
  if (badge) setStatus(badge, summary.status);
  for (const [field, show] of Object.entries(FIELDS)) {
    const cell = card.querySelector(`[data-field="${field}"]`);
    if (cell) cell.textContent = show(summary);
  }
}

export function buildCard(name, base) {
  const card = element("article", { class: "card", "data-tool": name, "aria-labelledby": `card-${name}` });
  const header = element("header");
  const title = element("h3", { id: `card-${name}` });
  title.append(element("a", { href: `${base}/tools/${encodeURIComponent(name)}` }, name));
  header.append(title, element("span", { class: "status", "data-field": "status" }));
  const figures = element("dl", { class: "figures" });
  for (const [field, label] of Object.entries(LABELS)) {
    const pair = element("div");
    pair.append(element("dt", {}, label), element("dd", { "data-field": field }));
    figures.append(pair);
  }
  const spend = element("div", { class: "spend" });
  spend.append(element("span", { class: "label" }, "Spend, last 24 h"),
    element("span", { "data-field": "spend_24h" }, usd(0)));
  card.append(header, figures, spend);
  return card;
}

export function addSpend(card, amount) {
  const cell = card.querySelector('[data-field="spend_24h"]');
  const value = Number(amount);  // the API sends money as exact decimal strings
  if (!cell || !value) return;
  const now = Number(cell.dataset.value ?? cell.textContent.replace(/[$,]/g, "")) + value;
  cell.dataset.value = String(now);
  cell.textContent = usd(now);
}

export function setSpend(card, amount) {
  const cell = card.querySelector('[data-field="spend_24h"]');
  if (!cell) return;
  cell.dataset.value = String(amount);
  cell.textContent = usd(amount);
}

export function operationRow(op, base, showTool = true) {
  const row = element("tr", { "data-operation": op.operation_id });
  row.append(element("td", {}, moment(op.end_time)));
  if (showTool) {
    const cell = element("td");
    cell.append(element("a", { href: `${base}/tools/${encodeURIComponent(op.wrapper_name)}` }, op.wrapper_name));
    row.append(cell);
  }
  row.append(element("td", {}, op.operation_type));
  const status = element("td");
  const badge = element("span");
  setStatus(badge, op.status);
  status.append(badge);
  row.append(status, element("td", { class: "num" }, ms(op.duration_ms)),
    element("td", { class: "num" }, usd(op.cost_estimate)),
    element("td", { class: "error-text" }, op.error_message || ""));
  return row;
}

export function prependRow(body, row, keep) {
  body.querySelector("tr.empty")?.remove();
  body.prepend(row);
  while (body.rows.length > keep) body.deleteRow(body.rows.length - 1);
}
