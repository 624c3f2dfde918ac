// Sparklines for the overview: a page shows up to 100 instances × 5 metrics, and a full
// uPlot instance per cell (DOM, legend, cursor, resize handling) cost ~1.5 ms each, a third
// of a second per page. A sparkline needs none of that, so this draws the line straight on
// a canvas (~0.05 ms) with the same look as lib/chart.js's sparkline.

/**
 * Draw ys (null = gap) evenly spaced across a new canvas in el.
 * opts: { width, height, stroke (#rrggbb), min, max }. Returns { destroy() }.
 */
export function drawSparkline(el, ys, { width = 110, height = 24, stroke = "#3274d9", min, max } = {}) {
  const dpr = window.devicePixelRatio || 1;
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  el.append(canvas);
  let lo = Infinity;
  let hi = -Infinity;
  for (const y of ys) {
    if (y === null) continue;
    if (y < lo) lo = y;
    if (y > hi) hi = y;
  }
  if (lo === Infinity) return { destroy: () => canvas.remove() };
  lo = min ?? lo;
  hi = max ?? hi;
  if (hi <= lo) hi = lo + 1;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const pad = 1.5; // keep the 1.25 px line inside the box at the extremes
  const x = (i) => (ys.length > 1 ? (i / (ys.length - 1)) * width : width / 2);
  const y = (v) => pad + (1 - (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo)) * (height - 2 * pad);
  // One path per run of non-null points, so gaps stay gaps (as spanGaps: false does).
  const runs = [];
  let run = null;
  ys.forEach((v, i) => {
    if (v === null) run = null;
    else {
      if (!run) runs.push((run = []));
      run.push([x(i), y(v)]);
    }
  });
  ctx.lineWidth = 1.25;
  ctx.lineJoin = "round";
  ctx.strokeStyle = stroke;
  ctx.fillStyle = stroke + "22";
  for (const r of runs) {
    ctx.beginPath();
    ctx.moveTo(r[0][0], height);
    for (const [px, py] of r) ctx.lineTo(px, py);
    ctx.lineTo(r[r.length - 1][0], height);
    ctx.closePath();
    ctx.fill();
    ctx.beginPath();
    r.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
    if (r.length === 1) ctx.lineTo(r[0][0] + 1, r[0][1]);
    ctx.stroke();
  }
  return { destroy: () => canvas.remove() };
}
