// The usage dashboard: this month's figures (handed to the page at load), and for the chosen
// days, model and key (GET /v1/user/usage): the period's totals, a chart of daily spend or
// tokens by model, the requests page by page, and the same records as CSV. The filters live
// in the address, so a reload or a shared link shows the same view.

import { api } from "./api.js";
import { dayLabel, SERIES_COLOURS, StackedBars } from "./chart.js";
import { count, money, shortDateTime } from "./format.js";

const PAGE = 25;
const state = JSON.parse(document.getElementById("chuk-state").textContent);
const form = document.getElementById("usage-filters");
const chart = new StackedBars(document.getElementById("usage-chart"));
const legend = document.getElementById("usage-legend");
const totalsLine = document.getElementById("period-totals");
const records = document.getElementById("records");
const note = document.getElementById("records-note");
const prev = document.getElementById("records-prev");
const next = document.getElementById("records-next");
const range = document.getElementById("records-range");
const csv = document.getElementById("usage-csv");
const measureButtons = [...document.querySelectorAll("[data-measure]")];

const modelNames = new Map(state.models.map((m) => [m.id, m.name]));
const keyNames = new Map(state.keys.map((k) => [k.id, k.name]));
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

let measure = "cost";
let offset = 0;
let last = null;
let ticket = 0;

function utcDay(date) {
  return date.toISOString().slice(0, 10);
}

function lastThirtyDays() {
  const today = new Date();
  const start = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - 29));
  return { start: utcDay(start), end: utcDay(today), model: "", key: "" };
}

function nameOfModel(id) {
  return modelNames.get(id) || id;
}

function nameOfKey(id) {
  if (id === null || id === undefined) return "Web app";
  return keyNames.get(id) || `Key ${id}`;
}

// --- Filters --------------------------------------------------------------------------------

function option(value, label) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = label;
  return element;
}

form.elements.model.append(...state.models.map((m) => option(m.id, m.name)));
form.elements.key.append(
  ...state.keys.map((k) => option(String(k.id), `${k.name} (${k.prefix}…)${k.revoked ? ", revoked" : ""}`)),
);

function readFilters() {
  const data = new FormData(form);
  return {
    start: data.get("start") || "",
    end: data.get("end") || "",
    model: data.get("model") || "",
    key: data.get("key") || "",
  };
}

function writeFilters(filters) {
  for (const name of ["start", "end", "model", "key"]) {
    const field = form.elements[name];
    if (field.tagName === "SELECT" && filters[name] && ![...field.options].some((o) => o.value === filters[name])) {
      field.append(option(filters[name], name === "model" ? filters[name] : `Key ${filters[name]}`));
    }
    field.value = filters[name] || "";
  }
}

function fromAddress() {
  const params = new URLSearchParams(location.search);
  if (![...params.keys()].some((k) => ["start", "end", "model", "key"].includes(k))) return lastThirtyDays();
  return {
    start: params.get("start") || "",
    end: params.get("end") || "",
    model: params.get("model") || "",
    key: params.get("key") || "",
  };
}

function query(filters, extra = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...filters, ...extra })) {
    if (value !== "" && value !== undefined && value !== null) params.set(name, value);
  }
  return params.toString();
}

// --- This month -----------------------------------------------------------------------------

function showMonth(month) {
  const figures = {
    spend: money(month.spend),
    requests: count(month.requests),
    inputTokens: count(month.inputTokens),
    outputTokens: count(month.outputTokens),
  };
  for (const [name, text] of Object.entries(figures)) {
    document.querySelector(`[data-stat="${name}"]`).textContent = text;
  }
}

// --- The chart ------------------------------------------------------------------------------

function daysBetween(start, end) {
  const days = [];
  const day = new Date(`${start}T00:00:00Z`);
  const stop = new Date(`${end}T00:00:00Z`);
  while (day <= stop && days.length < 1000) {
    days.push(utcDay(day));
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return days;
}

function showChart(daily, filters) {
  const seen = daily.map((row) => row.date).sort();
  const today = utcDay(new Date());
  const start = filters.start || seen[0] || today;
  const end = filters.end || (seen.length && seen[seen.length - 1] > today ? seen[seen.length - 1] : today);
  const days = daysBetween(start, end);
  const index = new Map(days.map((day, i) => [day, i]));
  const byModel = new Map();
  for (const row of daily) {
    if (!byModel.has(row.model)) byModel.set(row.model, days.map(() => 0));
    const i = index.get(row.date);
    if (i === undefined) continue;
    byModel.get(row.model)[i] += measure === "cost" ? Number(row.cost) : row.inputTokens + row.outputTokens;
  }
  // The biggest series at the bottom of each bar and first in the legend.
  const series = [...byModel.entries()]
    .map(([model, values]) => ({ model, name: nameOfModel(model), values, total: values.reduce((a, b) => a + b, 0) }))
    .sort((a, b) => b.total - a.total);
  const format = measure === "cost" ? money : (value) => compact.format(value);
  const measured = measure === "cost" ? "spend" : "tokens";
  const busiest = days.reduce((best, day, i) => {
    const total = series.reduce((sum, s) => sum + s.values[i], 0);
    return total > best.total ? { day, total } : best;
  }, { day: null, total: 0 });
  const summary = busiest.day
    ? `Daily ${measured} by model from ${dayLabel(days[0])} to ${dayLabel(days[days.length - 1])}; ` +
      `the busiest day was ${dayLabel(busiest.day)} with ${format(busiest.total)}.`
    : `Daily ${measured} by model: no usage from ${dayLabel(days[0])} to ${dayLabel(days[days.length - 1])}.`;
  chart.show({ days, series, format, summary });
  legend.replaceChildren(
    ...series.map((s, i) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = `swatch s${(i % SERIES_COLOURS) + 1}`;
      swatch.setAttribute("aria-hidden", "true");
      const total = document.createElement("span");
      total.className = "legend-total";
      total.textContent = format(s.total);
      item.append(swatch, document.createTextNode(s.name + " "), total);
      return item;
    }),
  );
  document.querySelector("[data-measure-name]").textContent = measured;
}

// --- The records ----------------------------------------------------------------------------

// `label` is the column's name, shown beside the value when a phone stacks the row.
function cell(text, className, label) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (label) td.dataset.label = label;
  td.textContent = text;
  return td;
}

function showRecords(page) {
  records.replaceChildren(
    ...page.data.map((record) => {
      const row = document.createElement("tr");
      const status = cell("", "record-status", "Status");
      const badge = document.createElement("span");
      badge.className = `badge badge-status-${record.status}`;
      badge.textContent = record.status;
      if (record.errorCode) badge.title = record.errorCode;
      status.append(badge);
      row.append(
        cell(shortDateTime(record.createdAt), "record-time", "Time"),
        cell(nameOfModel(record.model), "record-model", "Model"),
        cell(record.endpoint, "endpoint", "Endpoint"),
        cell(nameOfKey(record.keyId), "record-key", "Key"),
        cell(count(record.inputTokens), "num", "Input"),
        cell(count(record.outputTokens), "num", "Output"),
        cell(money(record.cost), "num record-cost", "Cost"),
        status,
      );
      return row;
    }),
  );
  note.hidden = page.data.length > 0;
  note.textContent = page.offset > 0 ? "No more requests." : "No requests in this period.";
  const shown = page.data.length;
  range.textContent = shown ? `${page.offset + 1}–${page.offset + shown}` : "";
  prev.disabled = page.offset === 0;
  next.disabled = !page.hasMore;
}

// --- Loading --------------------------------------------------------------------------------

async function load({ records: recordsOnly = false } = {}) {
  const filters = readFilters();
  const mine = ++ticket;
  const busy = recordsOnly ? [records] : [records, chart.container];
  for (const element of busy) element.setAttribute("aria-busy", "true");
  let page;
  try {
    page = await api(`/v1/user/usage?${query(filters, { limit: PAGE, offset })}`);
  } catch (error) {
    if (mine !== ticket) return;
    note.hidden = false;
    note.textContent = error.message;
    for (const element of busy) element.removeAttribute("aria-busy");
    return;
  }
  if (mine !== ticket) return;
  for (const element of busy) element.removeAttribute("aria-busy");
  last = { page, filters };
  if (!recordsOnly) {
    const t = page.totals;
    totalsLine.textContent =
      `${count(t.requests)} request${t.requests === 1 ? "" : "s"} · ` +
      `${count(t.inputTokens)} input and ${count(t.outputTokens)} output tokens · ${money(t.cost)} in this period`;
    showChart(page.daily, filters);
  }
  showRecords(page);
  csv.href = `/v1/user/usage.csv${query(filters) ? "?" + query(filters) : ""}`;
}

function apply() {
  offset = 0;
  const filters = readFilters();
  history.replaceState(null, "", `${location.pathname}?${query(filters)}`);
  load();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  apply();
});
for (const name of ["model", "key"]) form.elements[name].addEventListener("change", apply);
document.getElementById("filter-reset").addEventListener("click", () => {
  writeFilters(lastThirtyDays());
  apply();
});
prev.addEventListener("click", () => {
  offset = Math.max(0, offset - PAGE);
  load({ records: true });
});
next.addEventListener("click", () => {
  offset += PAGE;
  load({ records: true });
});
for (const button of measureButtons) {
  button.addEventListener("click", () => {
    measure = button.dataset.measure;
    for (const other of measureButtons) other.setAttribute("aria-pressed", String(other === button));
    if (last) showChart(last.page.daily, last.filters);
  });
}

showMonth(state.thisMonth);
writeFilters(fromAddress());
load();

document.documentElement.dataset.ready = "true";
