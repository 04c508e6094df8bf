// The trial page: swept values, results, curves and the report's per-trial analyses.
"use strict";

const RID = pathPart(2), TID = pathPart(4);

function kv(tbody, rows) {
  clear(tbody);
  rows.forEach(([k, v]) => tbody.append(el("tr", {}, el("th", {text: k}), el("td", {class: typeof v === "number" ? "num" : null, text: typeof v === "number" ? fmt(v) : v}))));
}

(async () => {
  try {
    const t = await api(`/api/runs/${encodeURIComponent(RID)}/trials/${encodeURIComponent(TID)}`);
    document.title = "trial " + t.trial_id + " · " + t.run;
    document.getElementById("title").textContent = "Trial " + t.trial_id;
    const crumb = document.getElementById("crumb");
    crumb.textContent = t.run;
    crumb.href = "/run/" + encodeURIComponent(RID);
    kv(document.querySelector("#facts tbody"), t.facts);
    kv(document.querySelector("#results tbody"), t.results);
    const byMetric = {};
    t.history.forEach(h => (byMetric[h.metric] = byMetric[h.metric] || []).push({split: h.split, metric: h.metric, epoch: h.epoch, mean: h.value, std: null}));
    const groups = [{label: "trial " + t.trial_id, series: Object.values(byMetric).flat()}];
    curveCharts(document.getElementById("curves"), groups, 520);
    const box = clear(document.getElementById("sections"));
    t.sections.forEach(s => box.append(renderSection(s)));
    if (!t.sections.length) box.append(el("p", {class: "muted", text: "No saved predictions or parameters for this trial."}));
  } catch (e) { showError(e); clear(document.getElementById("sections")); }
})();
