// How numbers read on the page: money, tokens, prices.

// Money is worked on as decimal digits, never as floats (money.js).
export { atMost, credit, money, pricePerMillion } from "./money.js";

export function tokens(usage) {
  if (!usage) return "";
  return `${usage.inputTokens ?? 0} in · ${usage.outputTokens ?? 0} out`;
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
