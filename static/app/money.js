// Money as people read it, from the API's decimal strings ("0.00000014", "2000"), worked on
// as digits: never through a float, so never an exponent ("1.4e-7") and never a rounding
// artefact. A number is accepted too (a chart's sum) and written out digit by digit first.
//
//   money("0.00000014") -> "$0.00000014"   a cost: two significant digits under a cent
//   money("0.0123456")  -> "$0.0123"       four places under a dollar, two above
//   credit("9.9996")    -> "$9.99"         a balance: whole cents, rounded down
//   credit("0.004")     -> "$0.004"        under a cent it keeps its digits
//   pricePerMillion("2000") -> "$2,000"    a price: exact, grouped
//   atMost("0.004")     -> "<$0.01"        where a total only needs cents

// {negative, whole, fraction} with digits as strings, or null for what is not a number.
export function parse(amount) {
  let text = typeof amount === "number" ? (Number.isFinite(amount) ? String(amount) : "") : String(amount ?? "").trim();
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match || (match[2] === "" && (match[3] ?? "") === "")) return null;
  let whole = match[2] || "0";
  let fraction = match[3] || "";
  const exponent = Number(match[4] || 0);
  if (exponent > 0) {
    fraction = fraction.padEnd(exponent, "0");
    whole += fraction.slice(0, exponent);
    fraction = fraction.slice(exponent);
  } else if (exponent < 0) {
    whole = whole.padStart(-exponent + 1, "0");
    fraction = whole.slice(whole.length + exponent) + fraction;
    whole = whole.slice(0, whole.length + exponent);
  }
  whole = whole.replace(/^0+(?=\d)/, "");
  fraction = fraction.replace(/0+$/, "");
  const zero = /^0*$/.test(whole) && fraction === "";
  return { negative: match[1] === "-" && !zero, whole, fraction };
}

// Adds one unit in the last place of a digit string ("0999" -> "1000").
function increment(digits) {
  const out = digits.split("");
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== "9") {
      out[i] = String(Number(out[i]) + 1);
      return out.join("");
    }
    out[i] = "0";
  }
  return "1" + out.join("");
}

// `places` decimals, rounded half up ("half") or towards zero ("down").
function round({ negative, whole, fraction }, places, mode = "half") {
  let kept = fraction.slice(0, places).padEnd(places, "0");
  const dropped = fraction.slice(places);
  if (mode === "half" && dropped[0] >= "5") {
    const bumped = increment(whole + kept);
    whole = bumped.slice(0, bumped.length - places) || "0";
    kept = places ? bumped.slice(bumped.length - places) : "";
  }
  return { negative, whole, fraction: kept };
}

function group(whole) {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function write({ negative, whole, fraction }, { trim = true, minPlaces = 0 } = {}) {
  let digits = trim ? fraction.replace(/0+$/, "") : fraction;
  digits = digits.padEnd(minPlaces, "0");
  const zero = /^0*$/.test(whole) && /^0*$/.test(digits);
  return `${negative && !zero ? "-" : ""}$${group(whole)}${digits ? "." + digits : ""}`;
}

function isZero(value) {
  return /^0*$/.test(value.whole) && /^0*$/.test(value.fraction);
}

// Whether |value| is below 10^-places (e.g. under a cent for 2).
function below(value, places) {
  return /^0*$/.test(value.whole) && /^0*$/.test(value.fraction.slice(0, places));
}

// What something cost: whole cents from a dollar up, four places under a dollar, and under a
// cent two significant digits ("$0.00000014"), enough to tell answers apart.
export function money(amount) {
  const value = parse(amount);
  if (value === null || isZero(value)) return "$0";
  if (!below(value, 0) || value.whole !== "0") return write(round(value, 2));
  if (!below(value, 2)) return write(round(value, 4));
  const leading = value.fraction.match(/^0*/)[0].length;
  return write(round(value, leading + 2));
}

// A credit balance: whole cents rounded down, so it never shows more than there is ($9.99 for
// 9.9996); under a cent it keeps its digits. As the `credit` template filter.
export function credit(amount) {
  const value = parse(amount);
  if (value === null || isZero(value)) return "$0.00";
  if (below(value, 2)) return write(value);
  return write(round(value, 2, "down"), { trim: false, minPlaces: 2 });
}

// A price per million tokens (or per image): the exact digits, grouped; "?" when unknown.
export function pricePerMillion(amount) {
  const value = parse(amount);
  if (value === null) return "?";
  return write(value);
}

// A total that only needs cents: "<$0.01" for a positive amount under a cent.
export function atMost(amount) {
  const value = parse(amount);
  if (value === null || isZero(value)) return "$0.00";
  if (below(value, 2) && !value.negative) return "<$0.01";
  return write(round(value, 2), { trim: false, minPlaces: 2 });
}
