// A small SVG line chart (no library): one line per series over time buckets.
const NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

const niceMax = (v) => {
  if (v <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(v));
  return Math.ceil(v / step) * step;
};

/**
 * series: [{name, color, values: [number]}], labels: [string] (one per bucket).
 * Returns the <svg>; each line carries data-series and data-points for tests and screen readers.
 */
export function lineChart(series, labels, { width = 720, height = 260 } = {}) {
  const pad = { left: 48, right: 16, top: 16, bottom: 40 };
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": "time series" });
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const x = (i) => pad.left + (labels.length > 1 ? (i * w) / (labels.length - 1) : w / 2);
  const y = (v) => pad.top + h - (v / top) * h;
  for (let t = 0; t <= 4; t += 1) {
    const value = (top * t) / 4;
    svg("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: "grid" }, root);
    svg("text", { x: pad.left - 6, y: y(value) + 4, "text-anchor": "end", class: "tick" }, root)
      .textContent = Number.isInteger(value) ? value : value.toFixed(1);
  }
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every) return;
    svg("text", { x: x(i), y: height - pad.bottom + 18, "text-anchor": "middle", class: "tick" }, root)
      .textContent = label;
  });
  if (labels.length === 1) { // one bucket: a line has no length, so each series is a bar
    const bar = Math.min(40, w / (series.length * 2));
    series.forEach((s, i) => {
      const v = s.values[0] || 0;
      svg("rect", { x: x(0) - (series.length * bar) / 2 + i * bar, y: y(v), width: bar - 4,
        height: Math.max(0, y(0) - y(v)), fill: s.color, "data-bar": s.name }, root);
    });
  }
  for (const s of series) {
    const points = s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ");
    svg("polyline", { points, fill: "none", stroke: s.color, "stroke-width": 2,
      "data-series": s.name, "data-points": s.values.length }, root);
    if (labels.length === 1) continue; // drawn as a bar above
    s.values.forEach((v, i) => {
      svg("circle", { cx: x(i), cy: y(v), r: 3, fill: s.color }, root)
        .appendChild(svg("title")).textContent = `${s.name} ${labels[i]}: ${v}`;
    });
  }
  series.forEach((s, i) => {
    const lx = pad.left + i * 110;
    svg("rect", { x: lx, y: height - 14, width: 10, height: 10, fill: s.color }, root);
    svg("text", { x: lx + 14, y: height - 5, class: "tick" }, root).textContent = s.name;
  });
  return root;
}

/** Waves on a UTC timeline: one dot per wave, its time and how many zones it reaches. */
export function timeline(waves, { width = 720, height = 90 } = {}) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "timeline", role: "img",
    "aria-label": "waves on a UTC timeline" });
  if (!waves.length) return root;
  const times = waves.map((w) => Date.parse(w.send_at));
  const lo = Math.min(...times);
  const hi = Math.max(...times);
  const x = (t) => 40 + (hi > lo ? ((t - lo) * (width - 80)) / (hi - lo) : (width - 80) / 2);
  svg("line", { x1: 30, x2: width - 30, y1: 40, y2: 40, class: "axis" }, root);
  waves.forEach((wave, i) => {
    const t = times[i];
    const dot = svg("circle", { cx: x(t), cy: 40, r: 6, class: `wave ${wave.status}`,
      "data-wave": wave.wave_id }, root);
    svg("title", {}, dot).textContent =
      `${wave.send_at} UTC · ${wave.time_zones.length || "all"} zones · ${wave.status}` +
      (wave.variants ? ` · ${wave.variants.join(", ")}` : "");
    if (waves.length <= 12 || i % Math.ceil(waves.length / 12) === 0) {
      svg("text", { x: x(t), y: 66 + (i % 2) * 14, "text-anchor": "middle", class: "tick" }, root)
        .textContent = wave.send_at.slice(5, 16).replace("T", " ");
    }
  });
  return root;
}
