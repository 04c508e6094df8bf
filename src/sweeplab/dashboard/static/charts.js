// Charts: learning curves with seed bands (uPlot), and small canvas plots for
// effects with error bars, a heat map and parallel coordinates. Labels are drawn
// on canvas or set with textContent; nothing is parsed as HTML.
"use strict";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22"];
const colour = i => PALETTE[i % PALETTE.length];

function rgba(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16 & 255},${n >> 8 & 255},${n & 255},${a})`;
}

function chartBox(parent, title, legend) {
  const box = el("div", {class: "chart"}, el("div", {class: "title", text: title}));
  const plot = el("div");
  box.append(plot);
  if (legend && legend.length) {
    const ul = el("div", {class: "muted"});
    for (const [label, c] of legend) {
      const sw = el("span", {class: "swatch"});
      sw.style.background = c;  // a style property, not a style attribute (the CSP forbids those)
      ul.append(el("div", {}, sw, label));
    }
    box.append(ul);
  }
  parent.append(box);
  return plot;
}

// groups: [{label, series: [{split, metric, epoch[], mean[], std[]}]}]; one chart per metric.
function curveCharts(parent, groups, width) {
  clear(parent);
  const metrics = [];
  groups.forEach(g => g.series.forEach(s => { if (!metrics.includes(s.metric)) metrics.push(s.metric); }));
  const charts = [];
  for (const metric of metrics) {
    const epochs = [...new Set(groups.flatMap(g => g.series.filter(s => s.metric === metric).flatMap(s => s.epoch)))]
      .sort((a, b) => a - b);
    const data = [epochs], series = [{label: "epoch"}], bands = [];
    const legend = [];
    groups.forEach((g, gi) => {
      const c = g.colour || colour(gi);
      legend.push([g.label, c]);
      for (const s of g.series.filter(s => s.metric === metric)) {
        const at = new Map(s.epoch.map((e, i) => [e, i]));
        const pick = f => epochs.map(e => at.has(e) ? f(at.get(e)) : null);
        const mean = pick(i => s.mean[i]);
        const sd = i => (s.std && s.std[i] !== null ? s.std[i] : 0);
        const dash = s.split === "train" ? [6, 4] : (s.split === "test" ? [2, 3] : undefined);
        data.push(mean);
        series.push({label: g.label + " " + s.split, stroke: c, width: 1.6, dash: dash, points: {show: false}});
        const main = data.length - 1;
        if (s.std && s.std.some(x => x !== null && x > 0)) {
          data.push(pick(i => s.mean[i] === null ? null : s.mean[i] + sd(i)));
          series.push({label: "", stroke: "transparent", points: {show: false}});
          data.push(pick(i => s.mean[i] === null ? null : s.mean[i] - sd(i)));
          series.push({label: "", stroke: "transparent", points: {show: false}});
          bands.push({series: [main + 1, main + 2], fill: rgba(c, s.split === "train" ? 0.08 : 0.16)});
        }
      }
    });
    const plot = chartBox(parent, metric, legend);
    const opts = {width: width || 560, height: 280, series, bands, legend: {show: false},
                  scales: {x: {time: false}}, axes: [{label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]}, {label: metric, size: 60}],
                  cursor: {drag: {x: false, y: false}}};
    charts.push(new uPlot(opts, data, plot));
  }
  parent.setAttribute("data-groups", String(groups.length));
  parent.setAttribute("data-charts", String(charts.length));
  return charts;
}

function canvas(parent, w, h) {
  const ratio = window.devicePixelRatio || 1;
  const c = el("canvas", {class: "plot", width: Math.round(w * ratio), height: Math.round(h * ratio)});
  c.style.width = w + "px";
  c.style.height = h + "px";
  parent.append(c);
  const ctx = c.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.font = "12px system-ui, sans-serif";
  return ctx;
}

function range(values) {
  const v = values.filter(x => x !== null && Number.isFinite(x));
  if (!v.length) return [0, 1];
  let lo = Math.min(...v), hi = Math.max(...v);
  if (lo === hi) { lo -= 0.5 * (Math.abs(lo) || 1); hi += 0.5 * (Math.abs(hi) || 1); }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

function clip(text, n) { text = String(text); return text.length > n ? text.slice(0, n - 1) + "…" : text; }

// One axis's effect: mean per value with ± std bars.
function effectPlot(parent, eff, metric) {
  const box = chartBox(parent, eff.axis);
  const w = Math.max(260, Math.min(520, 70 * eff.labels.length + 80)), h = 220;
  const ctx = canvas(box, w, h);
  const L = 62, R = 12, T = 10, B = 40;
  const [lo, hi] = range(eff.mean.flatMap((m, i) => m === null ? [] : [m - (eff.std[i] || 0), m + (eff.std[i] || 0)]));
  const y = v => T + (h - T - B) * (1 - (v - lo) / (hi - lo));
  const x = i => L + (w - L - R) * (eff.labels.length === 1 ? 0.5 : i / (eff.labels.length - 1)) * 0.9 + (w - L - R) * 0.05;
  ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#555";
  ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, h - B); ctx.lineTo(w - R, h - B); ctx.stroke();
  for (let k = 0; k <= 4; k++) {
    const v = lo + (hi - lo) * k / 4;
    ctx.fillText(v.toPrecision(3), 4, y(v) + 4);
  }
  ctx.save(); ctx.textAlign = "center";
  eff.labels.forEach((lab, i) => ctx.fillText(clip(lab, 12), x(i), h - B + 16));
  ctx.restore();
  ctx.strokeStyle = colour(0); ctx.fillStyle = colour(0); ctx.lineWidth = 1.5;
  ctx.beginPath();
  let started = false;
  eff.mean.forEach((m, i) => { if (m === null) return; started ? ctx.lineTo(x(i), y(m)) : ctx.moveTo(x(i), y(m)); started = true; });
  ctx.stroke();
  eff.mean.forEach((m, i) => {
    if (m === null) return;
    const s = eff.std[i] || 0;
    ctx.beginPath(); ctx.moveTo(x(i), y(m - s)); ctx.lineTo(x(i), y(m + s));
    ctx.moveTo(x(i) - 5, y(m - s)); ctx.lineTo(x(i) + 5, y(m - s));
    ctx.moveTo(x(i) - 5, y(m + s)); ctx.lineTo(x(i) + 5, y(m + s)); ctx.stroke();
    ctx.beginPath(); ctx.arc(x(i), y(m), 3.5, 0, 2 * Math.PI); ctx.fill();
  });
}

// viridis-like ramp from 0..1
function ramp(t) {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  t = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function heatmapPlot(parent, hm, metric) {
  clear(parent);
  const cell = Math.max(28, Math.min(70, Math.floor(640 / Math.max(hm.cols.length, 1))));
  const L = 110, T = 30, w = L + cell * hm.cols.length + 20, h = T + cell * hm.rows.length + 30;
  const ctx = canvas(parent, w, h);
  const [lo, hi] = range(hm.values.flat());
  ctx.fillStyle = "#333";
  ctx.fillText(clip(hm.col, 60) + " →", L, 14);
  hm.rows.forEach((r, i) => {
    ctx.fillStyle = "#333"; ctx.textAlign = "right";
    ctx.fillText(clip(r, 16), L - 6, T + cell * i + cell / 2 + 4);
    hm.cols.forEach((c, j) => {
      const v = hm.values[i][j];
      ctx.fillStyle = v === null ? "#eee" : ramp((v - lo) / (hi - lo));
      ctx.fillRect(L + cell * j, T + cell * i, cell - 1, cell - 1);
      if (v !== null && cell >= 34) {
        ctx.fillStyle = (v - lo) / (hi - lo) > 0.6 ? "#000" : "#fff"; ctx.textAlign = "center";
        ctx.fillText(v.toFixed(3), L + cell * j + cell / 2, T + cell * i + cell / 2 + 4);
      }
    });
  });
  ctx.textAlign = "center"; ctx.fillStyle = "#333";
  hm.cols.forEach((c, j) => ctx.fillText(clip(c, 10), L + cell * j + cell / 2, T + cell * hm.rows.length + 16));
  ctx.textAlign = "left";
  ctx.fillText(clip(hm.row, 14) + " ↓", 4, 14);
}

// Parallel coordinates: one vertical axis per swept field plus the metric; one line per configuration.
function parallelPlot(parent, par) {
  clear(parent);
  const dims = par.dims.length + 1, w = Math.max(480, Math.min(1200, 170 * dims)), h = 320;
  const L = 50, R = 70, T = 26, B = 30;
  const ctx = canvas(parent, w, h);
  const xs = i => L + (w - L - R) * (dims === 1 ? 0.5 : i / (dims - 1));
  const [lo, hi] = range(par.values);
  const yCode = (d, code) => T + (h - T - B) * (d.labels.length === 1 ? 0.5 : code / (d.labels.length - 1));
  const yVal = v => T + (h - T - B) * (1 - (v - lo) / (hi - lo));
  // worst first, so the best lines are drawn on top
  const order = par.values.map((v, i) => i).reverse();
  ctx.lineWidth = 1;
  for (const r of order) {
    const v = par.values[r];
    if (v === null) continue;
    const t = (v - lo) / (hi - lo);
    ctx.strokeStyle = ramp(0.05 + 0.8 * t);  // the palest yellow is hard to see on white
    ctx.globalAlpha = par.values.length > 300 ? 0.25 : 0.7;
    ctx.beginPath();
    par.dims.forEach((d, i) => {
      const c = d.codes[r];
      const yy = c === null ? h - B : yCode(d, c);
      i === 0 ? ctx.moveTo(xs(i), yy) : ctx.lineTo(xs(i), yy);
    });
    ctx.lineTo(xs(dims - 1), yVal(v));
    ctx.stroke();
  }
  ctx.globalAlpha = 1; ctx.strokeStyle = "#333"; ctx.fillStyle = "#222";
  par.dims.forEach((d, i) => {
    ctx.beginPath(); ctx.moveTo(xs(i), T); ctx.lineTo(xs(i), h - B); ctx.stroke();
    ctx.textAlign = "center"; ctx.fillText(clip(d.name.split(".").pop(), 22), xs(i), 14);
    ctx.textAlign = "left";
    d.labels.forEach((lab, k) => ctx.fillText(clip(lab, 14), xs(i) + 4, yCode(d, k) + 4));
  });
  const i = dims - 1;
  ctx.beginPath(); ctx.moveTo(xs(i), T); ctx.lineTo(xs(i), h - B); ctx.stroke();
  ctx.textAlign = "center"; ctx.fillText(clip(par.metric, 24), xs(i), 14);
  ctx.textAlign = "left";
  for (let k = 0; k <= 4; k++) { const v = lo + (hi - lo) * k / 4; ctx.fillText(v.toPrecision(3), xs(i) + 4, yVal(v) + 4); }
}
