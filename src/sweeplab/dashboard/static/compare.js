// Two runs side by side: the best configurations' curves on shared charts, and each
// run's best sentence and first page of configurations.
"use strict";

async function side(rid, box, colourIndex) {
  clear(box);
  const s = await api(`/api/runs/${encodeURIComponent(rid)}/summary`);
  box.append(el("h2", {}, el("a", {href: "/run/" + encodeURIComponent(rid), text: s.name})));
  box.append(el("p", {class: "muted", text: s.dir + " · " + (s.counts.finished + s.counts.diverged + (s.counts.pruned || 0)) + " of " + s.counts.total + " trials finished"}));
  if (s.empty) { box.append(el("p", {text: "No finished trials yet."})); return null; }
  box.append(el("p", {class: "lead", text: s.best}));
  const t = await api(`/api/runs/${encodeURIComponent(rid)}/configs?limit=20`);
  const table = el("table", {class: "grid", "data-run": rid});
  table.append(el("thead", {}, el("tr", {}, el("th", {text: "#"}), ...t.axes.map(a => el("th", {text: a})),
    ...t.metrics.map(m => el("th", {text: m})), el("th", {text: "seeds"}))));
  const body = el("tbody");
  t.rows.forEach(r => body.append(el("tr", {class: r.best ? "best" : null}, el("td", {class: "num", text: (r.best ? "★ " : "") + r.rank}),
    ...r.values.map(v => el("td", {text: v})), ...r.metrics.map((p, i) => el("td", {class: "num", text: fmtMeanStd(p, t.metrics[i])})),
    el("td", {class: "num", text: r.n}))));
  table.append(body);
  box.append(el("p", {class: "muted", text: `The first ${t.rows.length} of ${t.total} configurations by ${t.metric}.`}));
  box.append(el("div", {class: "scroll"}, table));
  const c = await api(`/api/runs/${encodeURIComponent(rid)}/curves?config=${encodeURIComponent(s.best_config)}`);
  return {label: s.name + ": " + c.label, colour: colour(colourIndex), series: c.series};
}

async function show() {
  const a = document.getElementById("left").value, b = document.getElementById("right").value;
  const u = new URL(location.href);
  u.searchParams.set("a", a); u.searchParams.set("b", b);
  history.replaceState(null, "", u.pathname + u.search);
  try {
    const groups = (await Promise.all([side(a, document.getElementById("side-a"), 0),
                                       side(b, document.getElementById("side-b"), 1)])).filter(g => g);
    curveCharts(document.getElementById("both"), groups, 620);
    showError(null);
  } catch (e) { showError(e); }
}

(async () => {
  try {
    const runs = (await api("/api/runs")).runs;
    for (const [id, want] of [["left", param("a")], ["right", param("b")]]) {
      const sel = document.getElementById(id);
      runs.forEach(r => sel.append(el("option", {value: r.id, text: r.name + " (" + r.dir + ")"})));
      if (want && runs.some(r => r.id === want)) sel.value = want;
      sel.addEventListener("change", show);
    }
    if (!param("b") && runs.length > 1) document.getElementById("right").value = runs[1].id;
    await show();
  } catch (e) { showError(e); }
})();
