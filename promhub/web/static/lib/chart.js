// Time-series charts and sparklines on uPlot (vendored, see web/build.sh). Every page draws
// charts through this module so colours, axes, themes and resizing behave the same.
import uPlot from "../vendor/uPlot.esm.js";
import { cssVar } from "./dom.js";
import { formatValue, formatTime } from "./format.js";

/** Series colours (Grafana's classic palette order: readable on light and dark). */
export const PALETTE = [
  "#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0",
  "#508642", "#cca300", "#447ebc", "#c15c17", "#890f02", "#0a437c", "#6d1f62", "#584477",
];

export function color(i) {
  return PALETTE[i % PALETTE.length];
}

/** `name{a="b", c="d"}` for a metric label set. */
export function seriesName(metric) {
  const { __name__: name = "", ...rest } = metric || {};
  const labels = Object.entries(rest)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return labels.length ? `${name}{${labels.join(", ")}}` : name || "{}";
}

/** Apply a Grafana legend format ("{{instance}} {{mode}}") to a label set. */
export function legendName(format, metric) {
  if (!format || format === "__auto") return seriesName(metric);
  return format.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, k) => metric?.[k] ?? "");
}

/**
 * Align a Prometheus matrix on the step grid [start, end]: uPlot wants one x array and one
 * y array per series, with null where a series has no point (drawn as a gap).
 * Returns { xs: Float64Array (seconds), ys: Array<(number|null)[]> }.
 */
export function alignMatrix(result, start, end, step) {
  const n = Math.max(1, Math.floor((end - start) / step + 1e-9) + 1);
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = start + i * step;
  const ys = result.map((s) => {
    const y = new Array(n).fill(null);
    for (const [t, v] of s.values || []) {
      const i = Math.round((t - start) / step);
      if (i >= 0 && i < n) {
        const f = Number(v);
        y[i] = Number.isFinite(f) ? f : null;
      }
    }
    return y;
  });
  return { xs, ys };
}

function stack(ys) {
  const acc = ys.map((y) => y.slice());
  for (let s = 1; s < acc.length; s++) {
    for (let i = 0; i < acc[s].length; i++) {
      const below = acc[s - 1][i];
      if (acc[s][i] !== null && below !== null) acc[s][i] += below;
      else if (acc[s][i] === null) acc[s][i] = below;
    }
  }
  return acc;
}

/**
 * Draw a time-series chart in `el`.
 * opts: { result (matrix), start, end, step, stacked, unit, decimals, height, names
 *         (array of legend names), showLegend (default true), min, max, colors,
 *         thresholds: [{value, color}] (drawn as dashed lines), axisSize (y axis width:
 *         px, or uPlot's size function; default 70) }
 * Returns { destroy(), uplot }.
 */
export function timeSeriesChart(el, opts) {
  const { result = [], start, end, step } = opts;
  const { xs, ys: raw } = alignMatrix(result, start, end, step);
  const ys = opts.stacked ? stack(raw) : raw;
  const names = opts.names || result.map((s) => seriesName(s.metric));
  const unit = opts.unit || "short";
  const axisColor = cssVar("--fg-muted", "#666");
  const gridColor = cssVar("--grid", "rgba(128,128,128,0.15)");
  const colors = opts.colors || names.map((_, i) => color(i));
  const series = [
    { value: (u, v) => (v === null ? "" : formatTime(v * 1000)) },
    ...names.map((name, i) => ({
      label: name,
      stroke: colors[i],
      width: 1.5,
      fill: opts.stacked ? colors[i] + "55" : undefined,
      spanGaps: false,
      points: { show: false },
      // Stacked: the legend shows the series' own value, not the running sum.
      value: (u, v, si, idx) => {
        const own = opts.stacked ? raw[si - 1][idx] : v;
        return own === null || own === undefined ? "–" : formatValue(own, unit, opts.decimals);
      },
    })),
  ];
  const width = Math.max(200, el.clientWidth || 600);
  const height = opts.height || 300;
  const thresholds = opts.thresholds || [];
  const u = new uPlot(
    {
      width,
      height,
      series,
      legend: { show: opts.showLegend !== false, live: true },
      cursor: { points: { size: 6 }, focus: { prox: 16 } },
      focus: { alpha: 0.4 },
      scales: {
        x: { time: true },
        y: {
          range: (u, min, max) => {
            const lo = opts.min ?? (opts.stacked ? Math.min(0, min) : min);
            const hi = opts.max ?? max;
            if (lo === hi || lo === null || hi === null) return [(lo ?? 0) - 1, (hi ?? 0) + 1];
            const pad = (hi - lo) * 0.05;
            return [opts.min ?? lo - (lo === 0 ? 0 : pad), opts.max ?? hi + pad];
          },
        },
      },
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } },
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          // opts.axisSize: a number, or uPlot's size(u, values) to fit the tick labels.
          size: opts.axisSize ?? 70,
          values: (u, splits) => splits.map((v) => formatValue(v, unit)),
        },
      ],
      hooks: thresholds.length
        ? {
            draw: [
              (u) => {
                const ctx = u.ctx;
                ctx.save();
                ctx.setLineDash([6, 4]);
                ctx.lineWidth = 1;
                for (const t of thresholds) {
                  if (t.value === null || t.value === undefined) continue;
                  const y = u.valToPos(t.value, "y", true);
                  if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
                  ctx.strokeStyle = t.color;
                  ctx.beginPath();
                  ctx.moveTo(u.bbox.left, y);
                  ctx.lineTo(u.bbox.left + u.bbox.width, y);
                  ctx.stroke();
                }
                ctx.restore();
              },
            ],
          }
        : {},
    },
    [xs, ...ys],
    el,
  );
  const ro = new ResizeObserver(() => {
    const w = el.clientWidth;
    if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
  });
  ro.observe(el);
  return {
    uplot: u,
    destroy() {
      ro.disconnect();
      u.destroy();
    },
  };
}

/**
 * A small inline line chart of ys over xs (seconds) with no axes: the overview's "last hour".
 * Returns { destroy() }.
 */
export function sparkline(el, xs, ys, { width = 120, height = 28, stroke = color(0), min, max } = {}) {
  const u = new uPlot(
    {
      width,
      height,
      pxAlign: false,
      cursor: { show: false },
      select: { show: false },
      legend: { show: false },
      scales: { x: { time: false }, y: { range: (u, lo, hi) => [min ?? lo, max ?? (hi === lo ? hi + 1 : hi)] } },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke, width: 1.25, fill: stroke + "22", points: { show: false } }],
    },
    [xs, ys],
    el,
  );
  return { destroy: () => u.destroy() };
}
