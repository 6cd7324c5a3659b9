// Operation rows for the live tables, built from the API's own JSON as _macros.html renders them.
import { moment, ms, usd } from "./format.js";

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
    element("td", { class: "error-text" }, whatFailed(op)));
  return row;
}

export function prependRow(body, row, keep) {
  body.querySelector("tr.empty")?.remove();
  body.prepend(row);
  while (body.rows.length > keep) body.deleteRow(body.rows.length - 1);
}

// What went wrong, as the tables rendered by the server say it (see _macros.html).
export function whatFailed(op) {
  if (op.error_message) return op.error_message;
  if (op.status !== "fallback") return "";
  const by = op.fallback_name ? ` by ${op.fallback_name}` : "";
  if (op.fallback_reason === "circuit_open") return `Served${by}: circuit open, call not made`;
  if (op.fallback_reason === "budget") return `Served${by}: over budget, call not made`;
  return `Served${by} after: ${op.original_error || op.error_code || "the call failed"}`;
}
