// Outcomes over time as stacked bars in inline SVG: one bar per bucket, one segment per outcome, with axes.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 960;
const HEIGHT = 280;
const MARGIN = { top: 12, right: 16, bottom: 48, left: 56 };

function el(name, attributes = {}, text = "") {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text) node.textContent = text;
  return node;
}

/** A round step for about `ticks` ticks up to `max`: 1, 2 or 5 times a power of ten, never below 1. */
function step(max, ticks) {
  const raw = Math.max(1, max / ticks);
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** A bucket's start for an axis label: the time of day for short ranges, the date too for longer ones (UTC). */
function label(date, spanSecs, widthSecs) {
  const day = `${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}`;
  if (widthSecs >= 86400) return day;
  return spanSecs > 86400 ? `${day} ${time}` : time;
}

/** A bucket width in words: [count, unit], e.g. [15, "minute"] or [1, "hour"]. */
function width(secs) {
  for (const [size, unit] of [[604800, "week"], [86400, "day"], [3600, "hour"], [60, "minute"]]) {
    if (secs % size === 0) return [secs / size, unit];
  }
  return [secs, "second"];
}

/** "hour", "15 minutes": what each bar counts. */
function per(secs) {
  const [n, unit] = width(secs);
  return n === 1 ? unit : `${n} ${unit}s`;
}

/**
 * Draws `series` (the answer of /v1/audit/timeseries) into `container`, stacking outcomes in the order of
 * `outcomes` and colouring each with `colours[outcome]`. Each segment carries data-outcome, data-count and
 * data-start, and a title for a tooltip.
 */
export function drawChart(container, series, outcomes, colours) {
  const buckets = series.buckets;
  const spanSecs = (Date.parse(series.until) - Date.parse(series.since)) / 1000;
  const max = Math.max(1, ...buckets.map((b) => b.total));
  const yStep = step(max, 5);
  const yMax = Math.ceil(max / yStep) * yStep;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const slot = plotW / buckets.length;
  const barW = Math.max(1, slot * 0.8);
  const y = (v) => MARGIN.top + plotH - (v / yMax) * plotH;

  const total = buckets.reduce((sum, b) => sum + b.total, 0);
  const svg = el("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-labelledby": "chart-svg-title chart-svg-desc",
    class: "chart-svg",
  });
  svg.append(el("title", { id: "chart-svg-title" }, "Audit events per outcome over time"));
  svg.append(el("desc", { id: "chart-svg-desc" },
    `${total} events in ${buckets.length} bars of ${per(series.bucket_secs).replace(/^([a-z])/, "1 $1")} each; `
    + `the busiest holds ${max}.`));

  // Y axis: gridlines and counts.
  for (let v = 0; v <= yMax; v += yStep) {
    svg.append(el("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("text", { x: MARGIN.left - 8, y: y(v) + 4, class: "tick", "text-anchor": "end" }, String(v)));
  }
  svg.append(el("text", {
    x: 14, y: MARGIN.top + plotH / 2, class: "axis-title", "text-anchor": "middle",
    transform: `rotate(-90 14 ${MARGIN.top + plotH / 2})`,
  }, `events per ${per(series.bucket_secs)}`));

  // Bars.
  buckets.forEach((bucket, i) => {
    const x = MARGIN.left + i * slot + (slot - barW) / 2;
    let base = 0;
    for (const outcome of outcomes) {
      const count = bucket.counts[outcome] || 0;
      if (!count) continue;
      const rect = el("rect", {
        x, y: y(base + count), width: barW, height: y(base) - y(base + count),
        fill: colours[outcome], "data-outcome": outcome, "data-count": count, "data-start": bucket.start,
      });
      rect.append(el("title", {}, `${bucket.start.replace("T", " ").replace(/:00Z$/, "")} UTC · ${outcome}: ${count}`));
      svg.append(rect);
      base += count;
    }
  });

  // X axis: the baseline and about seven labels.
  svg.append(el("line", {
    x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(0), y2: y(0), class: "axis",
  }));
  const every = Math.max(1, Math.ceil(buckets.length / 7));
  buckets.forEach((bucket, i) => {
    if (i % every) return;
    const x = MARGIN.left + i * slot + slot / 2;
    svg.append(el("line", { x1: x, x2: x, y1: y(0), y2: y(0) + 5, class: "axis" }));
    const text = label(new Date(bucket.start), spanSecs, series.bucket_secs);
    svg.append(el("text", { x, y: y(0) + 18, class: "tick", "text-anchor": "middle" }, text));
  });
  svg.append(el("text", {
    x: MARGIN.left + plotW / 2, y: HEIGHT - 6, class: "axis-title", "text-anchor": "middle",
  }, "time (UTC), each bar the start of its bucket"));

  container.replaceChildren(svg);
}
