// Format figures exactly as the server-rendered pages do (see pages/_render.py).

const dash = "–";

export function number(value, digits = 0) {
  if (value === null || value === undefined) return dash;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function percent(value) {
  return value === null || value === undefined ? dash : `${(value * 100).toFixed(1)}%`;
}

export function ms(value) {
  if (value === null || value === undefined) return dash;
  // Sub-millisecond latencies keep two decimals, under ten one: "0 ms" would hide them.
  const digits = value < 1 ? 2 : value < 10 ? 1 : 0;
  return `${number(value, digits)} ms`;
}

// Money as format_money in toolkeeper/_units.py shows it (docs/money.md): cents from a
// dollar up, four significant digits below, at most nine decimals, never exponent form.
export function usd(value) {
  if (value === null || value === undefined) return dash;
  const amount = Number(value);
  const size = Math.abs(amount);
  let digits = 2;
  if (size > 0 && size < 1) digits = Math.min(9, Math.max(2, 3 - Math.floor(Math.log10(size))));
  const shown = size.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const [whole, fraction] = shown.split(".");
  const sign = amount < 0 && Number(shown.replace(/,/g, "")) !== 0 ? "-" : "";
  return `${sign}$${whole}.${fraction.replace(/0+$/, "").padEnd(2, "0")}`;
}

export function moment(iso) {
  if (!iso) return dash;
  const text = new Date(iso).toISOString();
  return `${text.slice(0, 10)} ${text.slice(11, 19)} UTC`;
}

export function clock(iso, withDay) {
  const date = new Date(iso);
  const text = date.toISOString();
  return withDay ? `${text.slice(5, 10)} ${text.slice(11, 16)}` : text.slice(11, 16);
}
