// How numbers read on the page: money, tokens, prices.

export function money(charged) {
  const value = Number(charged);
  if (!Number.isFinite(value) || value === 0) return "$0";
  const size = Math.abs(value);
  // Fractions of a cent: two significant digits, enough to tell answers apart. Always toFixed:
  // toPrecision and String write exponents (1.0e-7) for amounts under a millionth.
  const places = size >= 1 ? 2 : size >= 0.01 ? 4 : Math.min(100, 1 - Math.floor(Math.log10(size)));
  return (value < 0 ? "-$" : "$") + size.toFixed(places).replace(/0+$/, "").replace(/\.$/, "");
}

export function pricePerMillion(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) return "?";
  return "$" + String(Number(number.toPrecision(6)));
}

export function tokens(usage) {
  if (!usage) return "";
  return `${usage.inputTokens ?? 0} in · ${usage.outputTokens ?? 0} out`;
}

// A credit balance: whole cents rounded down, so it never shows more than there is ($9.99
// for 9.9996); under a cent it keeps its digits. As the `credit` template filter.
export function credit(amount) {
  const value = Number(amount);
  if (!Number.isFinite(value) || value === 0) return "$0.00";
  // The API's exact digits (never an exponent); a number is written out to the ledger's 10 places.
  if (Math.abs(value) < 0.01) return "$" + (typeof amount === "string" ? amount : value.toFixed(10)).replace(/0+$/, "");
  const cents = Math.floor(Math.round(value * 1e6) / 1e4);
  return "$" + (cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function count(value) {
  return Number(value || 0).toLocaleString("en-US");
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

export function dateTime(iso) {
  return iso ? DATE_TIME.format(new Date(iso)) : "";
}

const THIS_YEAR = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });

// A moment in a long list: the year only when it is not this one.
export function shortDateTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  return when.getFullYear() === new Date().getFullYear() ? THIS_YEAR.format(when) : DATE_TIME.format(when);
}

export function date(iso) {
  return iso ? DATE.format(new Date(iso)) : "";
}
