"use strict";
// Sorting and filtering, in the file itself: no external script, no network.
(() => {
  const $ = (s, root) => (root || document).querySelector(s);
  const $$ = (s, root) => Array.from((root || document).querySelectorAll(s));
  const rows = $$("#answer-table tbody tr");
  const sections = new Map($$("article.answer").map((a) => [a.id, a]));
  const state = { text: "", q: "", flag: "", point: null, meta: null };
  let haystack = null;  // the text of each row and its section, read on the first text filter
  const textOf = (r) => {
    if (!haystack) haystack = new Map(rows.map((x) => {
      const a = sections.get(x.querySelector("a").getAttribute("href").slice(1));
      return [x, (x.textContent + " " + (a ? a.textContent : "")).toLowerCase()];
    }));
    return haystack.get(r);
  };

  // a section's verdicts spelled out (the key points' texts, kept once in the legend)
  const legend = JSON.parse($("#legend").textContent);
  function open(a) {
    if (a.classList.contains("open")) return;
    const texts = legend[a.dataset.q] || {}, ids = Object.keys(texts);
    const vd = $(".vd", a);
    if (vd && !$("ol.verdicts", a)) {
      const ol = document.createElement("ol");
      ol.className = "verdicts";
      for (const item of vd.dataset.v.split(" ").filter(Boolean)) {
        const [pid, v, c] = item.split("=");
        const li = document.createElement("li");
        li.className = "v-" + v;
        const num = document.createElement("b"), pt = document.createElement("span");
        num.textContent = String(ids.indexOf(pid) + 1);
        pt.className = "pt";
        pt.textContent = texts[pid] || pid;
        li.append(num, " " + v + (v === "partial" ? " " + Math.round(+c * 100) + "%" : "") + " ", pt);
        ol.append(li);
      }
      vd.after(ol);
    }
    a.classList.add("open");
  }

  function apply() {
    const t0 = performance.now();
    let shown = 0;
    for (const r of rows) {
      const d = r.dataset;
      let ok = (!state.q || d.q === state.q) && (!state.flag || d.flags.split(" ").includes(state.flag));
      if (ok && state.point) ok = d.q === state.point.q && d.miss.split(" ").includes(state.point.p);
      if (ok && state.meta) ok = d["m-" + state.meta.i] === state.meta.value;
      if (ok && state.text) ok = textOf(r).includes(state.text);
      r.hidden = !ok;
      const a = sections.get(r.querySelector("a").getAttribute("href").slice(1));
      if (a) a.hidden = !ok;
      shown += ok;
    }
    const what = state.point ? " missed key point " + state.point.n + " of " + state.point.q : "";
    $("#f-count").textContent = shown + " of " + rows.length + " answers" + what;
    document.body.dataset.filterMs = String(Math.round(performance.now() - t0));
  }

  $("#f-text").addEventListener("input", (e) => { state.text = e.target.value.trim().toLowerCase(); apply(); });
  $("#f-q").addEventListener("change", (e) => { state.q = e.target.value; apply(); });
  $("#f-flag").addEventListener("change", (e) => { state.flag = e.target.value; apply(); });
  $("#f-clear").addEventListener("click", () => {
    Object.assign(state, { text: "", q: "", flag: "", point: null, meta: null });
    $("#f-text").value = ""; $("#f-q").value = ""; $("#f-flag").value = "";
    $$(".cell.on").forEach((c) => c.classList.remove("on"));
    apply();
  });
  // a cell of the grid: the answers that missed that point, their verdicts spelled out
  for (const c of $$(".cell")) {
    c.addEventListener("click", () => {
      $$(".cell.on").forEach((x) => x.classList.remove("on"));
      c.classList.add("on");
      state.point = { q: c.dataset.q, p: c.dataset.p, n: c.firstChild.textContent };
      for (const a of sections.values()) open(a);
      apply();
    });
  }
  const metaNames = $$("#answer-table thead th").map((th) => th.textContent);
  for (const a of $$("a[data-filter-meta]")) {
    a.addEventListener("click", () => {
      state.meta = { i: metaNames.indexOf(a.dataset.filterMeta) - 1, value: a.dataset.value };
      apply();
    });
  }
  for (const a of sections.values()) a.addEventListener("dblclick", () => (a.classList.contains("open") ? a.classList.remove("open") : open(a)));

  // click a column's head to sort by it (numbers as numbers); again to reverse
  for (const table of $$("table.sortable")) {
    const heads = $$("thead th", table);
    heads.forEach((th, i) => th.addEventListener("click", () => {
      const dir = th.classList.contains("asc") ? -1 : 1;
      heads.forEach((h) => h.classList.remove("asc", "desc"));
      th.classList.add(dir > 0 ? "asc" : "desc");
      const body = table.tBodies[0];
      const key = (r) => { const t = r.cells[i] ? r.cells[i].textContent.trim() : ""; const n = parseFloat(t.replace(/[+,%]/g, "")); return isNaN(n) || !/^[+-]?[\d.,]+%?$/.test(t) ? t : n; };
      const sorted = Array.from(body.rows).map((r) => [key(r), r]).sort((a, b) =>
        (typeof a[0] === "number" && typeof b[0] === "number" ? a[0] - b[0] : String(a[0]).localeCompare(String(b[0]), undefined, { numeric: true })) * dir);
      body.append(...sorted.map((x) => x[1]));
      if (table.id === "answer-table") {  // the sections follow the table's order
        const host = $("#sections");
        for (const [, r] of sorted) { const a = sections.get(r.querySelector("a").getAttribute("href").slice(1)); if (a) host.append(a); }
      }
    }));
  }
  $("#f-count").textContent = rows.length + " answers";
})();
