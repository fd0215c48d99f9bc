// A stacked bar chart drawn as SVG: one bar a day, one coloured segment per series (model),
// a y axis with round steps, and date labels spaced to fit. Each segment names its day,
// series and value (a tooltip, and for screen readers); the chart as a whole has a summary.
// Redrawn to fit its container when that changes size.

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 240;
const MARGIN = { top: 12, right: 8, bottom: 28, left: 60 };
export const SERIES_COLOURS = 8;

const DAY_LABEL = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

function node(name, attributes = {}, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function niceStep(max, ticks) {
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / magnitude;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * magnitude;
}

export function dayLabel(day) {
  return DAY_LABEL.format(new Date(`${day}T00:00:00Z`));
}

export class StackedBars {
  // `format` turns a value into its label; `summary` describes the whole chart in words.
  constructor(container) {
    this.container = container;
    this.data = null;
    this.width = 0;
    new ResizeObserver(() => {
      if (this.data && Math.abs(this.container.clientWidth - this.width) > 1) this.draw();
    }).observe(container);
  }

  show({ days, series, format, summary }) {
    this.data = { days, series, format, summary };
    this.draw();
  }

  draw() {
    const { days, series, format, summary } = this.data;
    this.width = this.container.clientWidth || 640;
    const width = this.width;
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
    const totals = days.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
    const highest = Math.max(0, ...totals);

    const svg = node("svg", {
      class: "chart-svg",
      width,
      height: HEIGHT,
      viewBox: `0 0 ${width} ${HEIGHT}`,
      role: "img",
      "aria-label": summary,
    });
    svg.append(node("title", {}, summary));

    const ticks = 4;
    const step = highest > 0 ? niceStep(highest, ticks) : 1;
    const top = highest > 0 ? step * Math.ceil(highest / step) : ticks;
    const y = (value) => MARGIN.top + plotHeight - (value / top) * plotHeight;
    const axis = node("g", { class: "chart-axis", "aria-hidden": "true" });
    for (let value = 0; value <= top + step / 2; value += step) {
      const at = y(value);
      axis.append(node("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: at, y2: at, class: value === 0 ? "baseline" : "grid" }));
      axis.append(node("text", { x: MARGIN.left - 8, y: at + 4, "text-anchor": "end" }, highest > 0 ? format(value) : ""));
    }
    const slot = plotWidth / Math.max(days.length, 1);
    const every = Math.max(1, Math.ceil(64 / slot));
    days.forEach((day, i) => {
      if (i % every !== 0) return;
      axis.append(node("text", { x: MARGIN.left + slot * (i + 0.5), y: HEIGHT - 8, "text-anchor": "middle" }, dayLabel(day)));
    });
    svg.append(axis);

    const barWidth = Math.max(1, Math.min(36, slot * 0.72));
    const bars = node("g", { class: "chart-bars" });
    days.forEach((day, i) => {
      let base = 0;
      const x = MARGIN.left + slot * i + (slot - barWidth) / 2;
      series.forEach((s, index) => {
        const value = s.values[i];
        if (!value) return;
        const rect = node("rect", {
          x,
          y: y(base + value),
          width: barWidth,
          height: Math.max(1, y(base) - y(base + value)),
          class: `bar s${(index % SERIES_COLOURS) + 1}`,
          "data-day": day,
          "data-series": s.name,
        });
        rect.append(node("title", {}, `${dayLabel(day)} · ${s.name}: ${format(value)}`));
        bars.append(rect);
        base += value;
      });
    });
    svg.append(bars);

    if (highest === 0) {
      svg.append(node("text", { x: MARGIN.left + plotWidth / 2, y: MARGIN.top + plotHeight / 2, "text-anchor": "middle", class: "chart-empty" }, "No usage in this period"));
    }
    this.container.replaceChildren(svg);
  }
}
