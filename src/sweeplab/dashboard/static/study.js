// The study page: configurations (paged, sorted and filtered on the server), curves of the
// selected configurations, effects, heat map, parallel coordinates and the comparison.
"use strict";

const RID = pathPart(2);
const state = {metric: null, sort: null, desc: null, q: "", offset: 0, limit: 25, stamp: null,
               selected: [], summary: null};
const curveCache = new Map();

async function loadSummary() {
  const s = await api(`/api/runs/${encodeURIComponent(RID)}/summary` + (state.metric ? "?metric=" + encodeURIComponent(state.metric) : ""));
  state.summary = s;
  document.title = s.name + " · sweeplab";
  document.getElementById("name").textContent = s.name;
  document.getElementById("crumb").textContent = s.name;
  document.getElementById("description").textContent = s.description;
  if (s.empty) {
    document.getElementById("best").textContent = "No finished trials yet: this page fills in as groups are saved.";
    return;
  }
  state.metric = s.metric;
  const sel = document.getElementById("metric");
  if (!sel.options.length) {
    s.metrics.forEach(m => sel.append(el("option", {value: m, text: m})));
    sel.addEventListener("change", () => { state.metric = sel.value; state.sort = null; state.offset = 0; refresh(true); });
  }
  sel.value = s.metric;
  document.getElementById("best").textContent = s.best;
  const note = document.getElementById("note");
  note.textContent = s.selection.note; note.hidden = !s.selection.note;
  if (!state.selected.length) state.selected = [s.best_config];
}

// Effects, heat map, parallel coordinates and the comparison: asked for after the table and curves.
async function loadAnalyses() {
  const a = await api(`/api/runs/${encodeURIComponent(RID)}/analyses?metric=` + encodeURIComponent(state.metric));
  drawEffects(a);
  drawHeat(a.heatmap);
  drawParallel(a.parallel);
  drawComparison(a.comparison);
}

function drawEffects(s) {
  const box = clear(document.getElementById("effects"));
  document.getElementById("effects-sec").hidden = !s.effects.length;
  s.effects.forEach(e => effectPlot(box, e, s.metric));
}

function drawHeat(hm) {
  document.getElementById("heat-sec").hidden = !hm;
  if (!hm) return;
  const rs = document.getElementById("heat-row"), cs = document.getElementById("heat-col");
  if (!rs.options.length) {
    for (const sel of [rs, cs]) {
      hm.axes.forEach(a => sel.append(el("option", {value: a, text: a})));
      sel.addEventListener("change", async () => {
        if (rs.value === cs.value) return;
        try {
          const q = `?metric=${encodeURIComponent(state.metric)}&row=${encodeURIComponent(rs.value)}&col=${encodeURIComponent(cs.value)}`;
          heatmapPlot(document.getElementById("heatmap"), await api(`/api/runs/${encodeURIComponent(RID)}/heatmap` + q));
        } catch (e) { showError(e); }
      });
    }
    rs.value = hm.row; cs.value = hm.col;
  }
  if (rs.value === hm.row && cs.value === hm.col) heatmapPlot(document.getElementById("heatmap"), hm);
}

function drawParallel(par) {
  document.getElementById("par-sec").hidden = !par.dims.length;
  if (!par.dims.length) return;
  document.getElementById("par-note").textContent = par.shown < par.total
    ? `The best ${par.shown} of ${par.total} configurations, coloured by ${par.metric} (dark: low, light: high).`
    : `All ${par.total} configurations, coloured by ${par.metric} (dark: low, light: high).`;
  parallelPlot(document.getElementById("parallel"), par);
}

function drawComparison(sec) {
  document.getElementById("cmp-title").textContent = sec.title;
  const box = clear(document.getElementById("comparison"));
  const node = renderSection(sec, "h3");
  node.querySelector("h3").remove();
  box.append(node);
}

async function loadTable() {
  const q = new URLSearchParams({metric: state.metric || "", q: state.q, offset: state.offset, limit: state.limit});
  if (!state.metric) q.delete("metric");
  if (state.sort) { q.set("sort", state.sort); if (state.desc !== null) q.set("desc", state.desc ? "1" : "0"); }
  const t = await api(`/api/runs/${encodeURIComponent(RID)}/configs?` + q);
  const head = clear(document.querySelector("#configs thead"));
  const cols = [["rank", "#"], ...t.axes.map(a => [a, a]), ...t.metrics.map(m => [m, m]), ["n", "seeds"], ["diverged", "diverged"]];
  head.append(el("tr", {}, ...cols.map(([key, label]) => el("th", {
    "data-sort": key, title: "sort by " + label,
    onclick: () => { state.desc = state.sort === key ? !state.desc : (key === "rank" ? false : null); state.sort = key; state.offset = 0; loadTable().catch(showError); },
  }, label + (state.sort === key ? (state.desc ? " ▼" : " ▲") : ""))), el("th", {text: "trial"})));
  const body = clear(document.querySelector("#configs tbody"));
  for (const r of t.rows) {
    const idx = state.selected.indexOf(r.config_id);
    const flag = (r.best ? "★ " : "") + (r.degenerate || r.diverged ? "⚠ " : "");
    const rank = el("td", {class: "num"});
    if (idx >= 0) { const sw = el("span", {class: "swatch"}); sw.style.background = colour(idx); rank.append(sw); }
    rank.append(flag + r.rank);
    const tr = el("tr", {"data-config": r.config_id, class: (idx >= 0 ? "selected " : "") + (r.best ? "best" : "")},
      rank, ...r.values.map(v => el("td", {text: v})),
      ...r.metrics.map((p, i) => el("td", {class: "num", text: fmtMeanStd(p, t.metrics[i])})),
      el("td", {class: "num", text: r.n}), el("td", {class: "num", text: r.diverged}),
      el("td", {}, el("a", {href: `/run/${encodeURIComponent(RID)}/trial/${encodeURIComponent(r.trial)}`, text: "first seed",
                            onclick: ev => ev.stopPropagation()})));
    tr.addEventListener("click", () => toggle(r.config_id));
    body.append(tr);
  }
  document.getElementById("matched").textContent =
    t.matched === t.total ? `${t.total} configurations` : `${t.matched} of ${t.total} configurations match`;
  const pages = Math.max(1, Math.ceil(t.matched / t.limit));
  document.getElementById("page").textContent = `page ${Math.floor(t.offset / t.limit) + 1} of ${pages}`;
  document.getElementById("prev").disabled = t.offset === 0;
  document.getElementById("next").disabled = t.offset + t.limit >= t.matched;
}

function toggle(cid) {
  const i = state.selected.indexOf(cid);
  if (i >= 0) state.selected.splice(i, 1); else state.selected.push(cid);
  loadTable().catch(showError);
  loadCurves().catch(showError);
}

async function loadCurves() {
  const groups = [];
  for (const cid of state.selected) {
    const key = `${state.stamp}|${state.metric}|${cid}`;
    if (!curveCache.has(key)) {
      curveCache.set(key, await api(`/api/runs/${encodeURIComponent(RID)}/curves?config=${encodeURIComponent(cid)}&metric=${encodeURIComponent(state.metric)}`));
    }
    const c = curveCache.get(key);
    groups.push({label: c.label, colour: colour(groups.length), series: c.series});
  }
  curveCharts(document.getElementById("curves"), groups, 560);
}

async function refresh(all) {
  try {
    await loadSummary();
    if (state.summary && !state.summary.empty) {
      await loadTable();
      await loadCurves();
      await loadAnalyses();
    }
    showError(null);
  } catch (e) { showError(e); }
}

function header(r) {
  stateBadge(document.getElementById("state"), r.state);
  const counts = document.getElementById("counts");
  counts.textContent = `${r.finished + r.diverged + (r.pruned || 0)} of ${r.total} trials finished` + (r.diverged ? ` (${r.diverged} diverged)` : "") + (r.pruned ? ` (${r.pruned} pruned)` : "");
  counts.setAttribute("data-finished", String(r.finished + r.diverged + (r.pruned || 0)));
  document.getElementById("updated").textContent = r.updated ? "· last update " + ago(r.updated) : "";
  const p = document.getElementById("progress");
  p.hidden = !r.progress;
  if (r.progress) {
    p.querySelector(".fill").style.width = Math.round((r.progress.fraction || 0) * 100) + "%";
    p.querySelector(".text").textContent = progressText(r.progress);
  }
}

document.getElementById("filter").addEventListener("input", ev => {
  state.q = ev.target.value; state.offset = 0; loadTable().catch(showError);
});
document.getElementById("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); loadTable().catch(showError); });
document.getElementById("next").addEventListener("click", () => { state.offset += state.limit; loadTable().catch(showError); });

pollRuns(async data => {
  const r = data.runs.find(x => x.id === RID);
  if (!r) { showError("this run is no longer served"); return; }
  header(r);
  if (r.stamp !== state.stamp) {
    state.stamp = r.stamp;
    await refresh(true);
  }
});
