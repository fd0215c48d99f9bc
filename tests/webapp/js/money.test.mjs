// format.js's money, as node runs it (tests/webapp/test_money_js.py): decimal strings in, money out, never an exponent.
import { money, credit, pricePerMillion, atMost } from "../../../static/app/money.js";
const cases = [
  [money, "0.00000014", "$0.00000014"], [money, 1.4e-7, "$0.00000014"], [money, "7.0E-8", "$0.00000007"],
  [money, "0.000000145", "$0.00000015"], [money, "0.0123456", "$0.0123"], [money, "12.345", "$12.35"],
  [money, "2000", "$2,000"], [money, "0", "$0"], [money, "-0.5", "-$0.5"], [money, "0.0099996", "$0.01"],
  [money, "0.99999", "$1"], [money, "1", "$1"],
  [credit, "9.9996", "$9.99"], [credit, "0.004", "$0.004"], [credit, "0", "$0.00"], [credit, "1234.5", "$1,234.50"],
  [credit, "0.5000000000", "$0.50"], [credit, "12.3456", "$12.34"],
  [pricePerMillion, "2000", "$2,000"], [pricePerMillion, "0.15", "$0.15"], [pricePerMillion, "2E+3", "$2,000"], [pricePerMillion, undefined, "?"],
  [atMost, "0.004", "<$0.01"], [atMost, "0.016", "$0.02"], [atMost, "0", "$0.00"],
];
let failed = 0;
for (const [fn, input, expected] of cases) {
  const got = fn(input);
  if (got !== expected || /e/i.test(got.replace("$", ""))) { failed++; console.log(`FAIL ${fn.name}(${input}) = ${got}, expected ${expected}`); }
}
console.log(failed ? `${failed} failed` : `${cases.length} passed`);
process.exit(failed ? 1 : 0);
