// The run list: one row per served run, refreshed every POLL_MS.
"use strict";

const picked = new Set();

function runRow(r) {
  const box = el("input", {type: "checkbox", "aria-label": "compare"});
  box.checked = picked.has(r.id);
  box.addEventListener("change", () => { box.checked ? picked.add(r.id) : picked.delete(r.id); updateCompare(); });
  const state = el("span");
  stateBadge(state, r.state);
  const prog = el("td");
  if (r.progress) {
    const fill = el("div", {class: "fill"});
    fill.style.width = Math.round((r.progress.fraction || 0) * 100) + "%";
    prog.append(el("span", {class: "bar"}, fill), " ", el("span", {class: "muted", text: progressText(r.progress)}));
  }
  const name = el("td", {}, el("a", {href: "/run/" + encodeURIComponent(r.id), text: r.name}));
  if (r.error) name.append(el("div", {class: "error", text: r.error}));
  return el("tr", {"data-run": r.id}, el("td", {}, box), name, el("td", {class: "muted", text: r.dir}),
            el("td", {}, state), el("td", {class: "num finished", text: (r.finished + r.diverged + (r.pruned || 0)) + " / " + r.total}),
            prog, el("td", {class: "muted", text: ago(r.updated)}));
}

function updateCompare() {
  const b = document.getElementById("compare");
  b.disabled = picked.size !== 2;
}

document.getElementById("compare").addEventListener("click", () => {
  const [a, b] = [...picked];
  location.href = "/compare?a=" + encodeURIComponent(a) + "&b=" + encodeURIComponent(b);
});

pollRuns(data => {
  const body = clear(document.querySelector("#runs tbody"));
  if (!data.runs.length) body.append(el("tr", {}, el("td", {colspan: 7, class: "muted",
    text: "No run directories found (a run directory holds results.sqlite)."})));
  data.runs.forEach(r => body.append(runRow(r)));
  showError(null);
});
