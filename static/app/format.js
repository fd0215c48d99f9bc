// How numbers read on the page: money, tokens, prices.

export function money(charged) {
  const value = Number(charged);
  if (!Number.isFinite(value) || value === 0) return "$0";
  if (value >= 0.01) return "$" + value.toFixed(value >= 1 ? 2 : 4).replace(/0+$/, "").replace(/\.$/, "");
  // Fractions of a cent: enough significant digits to tell answers apart.
  return "$" + value.toPrecision(2).replace(/0+$/, "");
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
