// The execution page: click a state for its details, click a Map iteration to see its path in
// the graph, and, while the execution runs, refresh the live part every second (no reload).
(function () {
  "use strict";
  const root = document.getElementById("execution");
  if (!root) return;
  const base = "/executions/" + encodeURIComponent(root.dataset.name);
  const details = document.getElementById("details");
  const live = document.getElementById("live");
  const selection = { map: null, iteration: null, run: null };
  let data = { nodes: {}, maps: {} };

  function readData() {
    const element = document.getElementById("graph-data");
    data = element ? JSON.parse(element.textContent) : { nodes: {}, maps: {} };
  }

  function states() {
    return Array.from(document.querySelectorAll("svg.graph g.state"));
  }

  function fit(text, g) {
    const room = Math.max(Math.floor((Number(g.dataset.width) - 12) / 6.0), 4);
    return text.length <= room ? text : text.slice(0, room - 1) + "\u2026";
  }

  function paint(g, status, text, error) {
    Array.from(g.classList).filter((c) => c.startsWith("status-")).forEach((c) => g.classList.remove(c));
    g.classList.add("status-" + status);
    g.dataset.status = status;
    const sub = g.querySelector("text.sub");
    const err = g.querySelector("text.err");
    if (sub) sub.textContent = fit(text, g);
    if (err) err.textContent = fit(error || "", g);
  }

  function applySelection() {
    states().forEach((g) => {
      if (g.dataset.pooledStatus === undefined) {
        const err = g.querySelector("text.err");
        g.dataset.pooledStatus = g.dataset.status;
        g.dataset.pooledText = g.querySelector("text.sub").textContent;
        g.dataset.pooledError = err ? err.textContent : "";
      }
      paint(g, g.dataset.pooledStatus, g.dataset.pooledText, g.dataset.pooledError);
    });
    document.querySelectorAll("tr.iteration").forEach((tr) => {
      tr.classList.toggle("selected",
        tr.dataset.map === selection.map && tr.dataset.iteration === selection.iteration);
    });
    if (selection.map === null) return;
    const path = (data.maps[selection.map] || {})[selection.iteration] || {};
    states().forEach((g) => {
      const id = g.dataset.node;
      if (!id.startsWith(selection.map + "/")) return;
      const step = path[id];
      if (step) paint(g, step.status, step.text, step.error);
      else paint(g, "not-run", "not run", "");
    });
  }

  function showRun(index) {
    selection.run = index;
    return fetch(base + "/runs/" + index)
      .then((answer) => answer.text())
      .then((html) => { details.innerHTML = html; });
  }

  function escapeText(text) {
    const span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  function listRuns(title, runs) {
    selection.run = null;
    const items = runs.map((r) =>
      '<li data-run="' + r.run + '">' +
      escapeText((r.iteration === null ? "" : "iteration " + r.iteration + " \u00b7 ") + r.name +
        ": " + r.text + (r.error ? ": " + r.error : "")) + "</li>");
    details.innerHTML = "<h2>" + escapeText(title) + '</h2><ul class="run-list">' +
      (items.join("") || "<li>not run</li>") + "</ul>";
  }

  function selectState(g) {
    const id = g.dataset.node;
    let runs = data.nodes[id] || [];
    if (selection.map !== null && id.startsWith(selection.map + "/")) {
      runs = runs.filter((r) => String(r.iteration) === selection.iteration);
    }
    states().forEach((other) => other.classList.toggle("selected", other === g));
    if (runs.length === 1) showRun(runs[0].run);
    else listRuns(g.dataset.name + (runs.length ? ": " + runs.length + " runs" : ": not run"), runs);
  }

  function selectIteration(tr) {
    const same = selection.map === tr.dataset.map && selection.iteration === tr.dataset.iteration;
    selection.map = same ? null : tr.dataset.map;
    selection.iteration = same ? null : tr.dataset.iteration;
    applySelection();
    if (selection.map === null) return;
    const path = data.maps[selection.map][selection.iteration] || {};
    listRuns("Iteration " + selection.iteration + ": its path", Object.values(path));
  }

  root.addEventListener("click", (event) => {
    const run = event.target.closest("[data-run]");
    if (run && run.tagName === "LI") { showRun(run.dataset.run); return; }
    const state = event.target.closest("g.state");
    if (state) { selectState(state); return; }
    const iteration = event.target.closest("tr.iteration");
    if (iteration) selectIteration(iteration);
  });

  function refresh() {
    return fetch(base + "/live")
      .then((answer) => answer.text())
      .then((html) => {
        live.innerHTML = html;
        readData();
        applySelection();
        const status = document.getElementById("execution-status").textContent.trim();
        root.dataset.status = status;
        if (selection.run !== null) showRun(selection.run);
        return status;
      });
  }

  function poll() {
    refresh().then((status) => {
      if (status === "RUNNING") setTimeout(poll, 1000);
    }).catch(() => setTimeout(poll, 3000));
  }

  readData();
  applySelection();
  if (root.dataset.status === "RUNNING") setTimeout(poll, 1000);
})();
