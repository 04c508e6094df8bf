// Shared helpers of the dashboard pages. Every value from a run (study names,
// sweep values, messages) is put into the page with textContent, never as HTML.
"use strict";

// How often pages ask the server for changes (?poll=MS to change it, at least 250 ms).
const POLL_MS = Math.max(250, Number(new URLSearchParams(location.search).get("poll")) || 2000);

// el("td", {class: "num"}, "text", child...) -> a DOM element; strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

async function api(path) {
  const res = await fetch(path, {credentials: "same-origin", cache: "no-store"});
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new Error((body && body.error) || (res.status + " " + res.statusText));
  return body;
}

function showError(err) {
  const box = document.getElementById("error");
  if (!box) return;
  if (err) { box.textContent = String(err.message || err); box.hidden = false; }
  else box.hidden = true;
}

function fmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  return x.toFixed(digits === undefined ? 4 : digits);
}

// A duration as the CLI prints it (analysis.stats.format_seconds): 4.1 ms, 350 ms, 2.35 s.
function fmtSeconds(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return "–";
  if (s < 0.01) return (s * 1e3).toPrecision(2) + " ms";
  return s < 1 ? (s * 1e3).toFixed(0) + " ms" : s.toFixed(2) + " s";
}

// A metric column's "mean ± std" cell; durations (time_per_epoch, time…) with their unit.
function fmtMeanStd(pair, name) {
  const [m, s] = pair;
  if (m === null) return "–";
  const f = name && name.startsWith("time") ? fmtSeconds : fmt;
  return s === null ? f(m) : f(m) + " ± " + f(s);
}

function ago(t) {
  if (!t) return "";
  const s = Math.max(0, Date.now() / 1000 - t);
  if (s < 60) return Math.round(s) + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return (s / 3600).toFixed(1) + " h ago";
  return new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

function clock(s) {
  if (s === null || s === undefined) return "-:--:--";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
  return h + ":" + String(m).padStart(2, "0") + ":" + String(r).padStart(2, "0");
}

function progressText(p) {
  if (!p) return "";
  let t = "group " + ((p.group === null ? 0 : p.group) + 1) + " of " + (p.n_groups || "?");
  if (p.epochs) t += ", epoch " + (p.epoch || 0) + "/" + p.epochs;
  if (p.group_trials) t += ", " + p.group_trials + " trials";
  t += " · " + Math.round((p.fraction || 0) * 100) + " % · ETA " + clock(p.eta);
  return t;
}

// Calls fn(runsPayload) every POLL_MS; the page shows when it last heard from the server.
function pollRuns(fn) {
  const live = document.getElementById("live");
  async function tick() {
    try {
      const data = await api("/api/runs");
      await fn(data);
      if (live) live.textContent = "live · " + new Date().toLocaleTimeString();
    } catch (e) {
      if (live) live.textContent = "server unreachable";
    }
    setTimeout(tick, POLL_MS);
  }
  tick();
}

function param(name) { return new URLSearchParams(location.search).get(name); }

// A run's id is the path segment after /run/.
function pathPart(i) { return decodeURIComponent(location.pathname.split("/")[i] || ""); }

// A table from a report section's table item (strings only).
function sectionTable(item) {
  const t = el("table", {class: "grid"});
  t.append(el("thead", {}, el("tr", {}, ...item.columns.map(c => el("th", {text: c})))));
  const body = el("tbody");
  item.rows.forEach((r, i) => body.append(el("tr", {class: item.highlight.includes(i) ? "best" : null},
    ...r.map(c => el("td", {text: c})))));
  t.append(body);
  return t;
}

// A report section (text, tables, figures as PNG data URLs) as DOM nodes.
function renderSection(sec, headingLevel) {
  const box = el("section", {"data-key": sec.key});
  box.append(el(headingLevel || "h2", {text: sec.title}));
  for (const it of sec.items) {
    if (it.type === "text") box.append(el("p", {class: it.kind === "note" ? "note" : null, text: it.text}));
    else if (it.type === "table") {
      box.append(el("p", {class: "muted", text: it.caption}));
      box.append(el("div", {class: "scroll"}, sectionTable(it)));
      if (it.note) box.append(el("p", {class: "muted", text: it.note}));
    } else if (it.type === "figure") {
      const img = el("img", {alt: it.caption});
      if (typeof it.png === "string" && it.png.startsWith("data:image/png;base64,")) img.src = it.png;
      box.append(el("figure", {}, img, el("figcaption", {text: it.caption})));
    }
  }
  return box;
}

function stateBadge(node, state) {
  node.className = "badge " + state;
  node.textContent = state;
}
