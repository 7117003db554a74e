// minigpt neuron view (BertViz's third view): for one head, the query vector q_i, every key
// vector k_j, their elementwise product q_i * k_j (its cells sum to q_i . k_j), the score
// q_i . k_j / sqrt(d_head) (-inf for j > i: the causal mask) and the softmax over keys, all
// computed here from the model's hook_q and hook_k. Click a token to make it the query, a row
// to write its key's sum out. window.minigptViews[id].select(query, key) does the same;
// .shown holds the numbers on screen.
(function () {
  "use strict";
  if (window.minigptNeuronView) return;
  const { el, show, tip } = window.minigptUI;                                  // ui.js
  const { signed, fmt, follow, start } = window.minigptFeatureUI;             // features_ui.js

  function scoresOf(d, i) {   // q_i . k_j, the scores and the softmax weights over j <= i
    const n = d.tokens.length, q = d.q[i];
    const dots = [], scores = [], weights = [];
    for (let j = 0; j < n; j++) {
      if (j > i) { dots.push(null); scores.push(null); continue; }
      let dot = 0;
      for (let c = 0; c < d.d_head; c++) dot += q[c] * d.k[j][c];
      dots.push(dot); scores.push(dot / d.scale);
    }
    const top = Math.max(...scores.slice(0, i + 1));
    const e = scores.map((s) => (s === null ? 0 : Math.exp(s - top)));
    const total = e.reduce((a, b) => a + b, 0);
    for (let j = 0; j < n; j++) weights.push(e[j] / total);
    return { dots, scores, weights };
  }

  function vector(parent, n) {   // a row of n small cells
    const box = el("span", "mg-vec", parent);
    return Array.from({ length: n }, () => el("span", "mg-c", box));
  }

  function render(root, d, api) {
    const n = d.tokens.length, dh = d.d_head;
    let lim = 0;   // one scale for q and k, so their colours compare
    for (const rows of [d.q, d.k]) for (const row of rows) for (const v of row) lim = Math.max(lim, Math.abs(v));
    const bar = el("div", "mg-bar", root);
    const qLab = el("label", null, bar, "query ");
    const qSel = el("select", null, qLab);
    d.tokens.forEach((t, i) => { const o = el("option", null, qSel, "[" + i + "] " + show(t)); o.value = String(i); });
    el("span", null, bar, "score = q\u00b7k / " + d.scale.toFixed(3) + " (\u221ad_head, d_head = " + dh + "); click a token or a row");
    const strip = el("div", "mg-nv-tokens", root);
    const toks = d.tokens.map((t, i) => {
      const s = el("span", "mg-nv-tok", strip, show(t));
      s.title = "[" + i + "]";
      s.addEventListener("click", () => api.select(i, null));
      return s;
    });
    const detail = el("div", "mg-nv-detail", root);
    const table = el("table", "mg-nv", el("div", "mg-scroll", root));
    const head = el("tr", null, el("thead", null, table));
    ["key", "k", "q \u2218 k", "q\u00b7k", "score", "softmax"].forEach((h) => el("th", null, head, h));
    const body = el("tbody", null, table);
    const qRow = el("tr", "mg-nv-query", body);
    const qTok = el("td", "mg-nv-key", qRow);
    const qCells = vector(el("td", null, qRow), dh);
    el("td", null, qRow, "\u2190 q (query)").colSpan = 4;
    const rows = d.tokens.map((t, j) => {
      const tr = el("tr", "mg-nv-row", body);
      const r = { tr, tok: el("td", "mg-nv-key", tr, "[" + j + "] " + show(t)) };
      r.k = vector(el("td", null, tr), dh);
      r.p = vector(el("td", null, tr), dh);
      r.dot = el("td", "mg-nv-dot", tr); r.score = el("td", "mg-nv-score", tr);
      const w = el("td", "mg-nv-weight", tr);
      r.bar = el("span", "mg-wbar", w); r.weight = el("span", null, w);
      r.k.forEach((cell, c) => { cell.style.background = signed(d.k[j][c], lim); });
      tr.addEventListener("click", () => { if (j <= api.shown.query) api.select(api.shown.query, j); });
      return r;
    });

    function cellTip(cells, text) {
      cells.forEach((cell, c) => {
        cell.addEventListener("mousemove", (ev) => { ev.stopPropagation(); follow(root, ev, text(c)); });
        cell.addEventListener("mouseleave", () => tip(root, null));
      });
    }
    cellTip(qCells, (c) => "q[" + c + "] = " + fmt(d.q[api.shown.query][c]));
    rows.forEach((r, j) => {
      cellTip(r.k, (c) => "k" + j + "[" + c + "] = " + fmt(d.k[j][c]));
      cellTip(r.p, (c) => (j > api.shown.query ? "masked: key after the query"
        : "q[" + c + "] \u00d7 k" + j + "[" + c + "] = " + fmt(d.q[api.shown.query][c]) + " \u00d7 " + fmt(d.k[j][c])
          + " = " + fmt(d.q[api.shown.query][c] * d.k[j][c])));
    });

    api.select = function (i, key) {
      const s = scoresOf(d, i);
      if (key === null || key === undefined || key > i) key = s.weights.indexOf(Math.max(...s.weights));
      const q = d.q[i], products = d.k[key].map((v, c) => q[c] * v);
      let plim = 0;
      for (let j = 0; j <= i; j++) for (let c = 0; c < dh; c++) plim = Math.max(plim, Math.abs(q[c] * d.k[j][c]));
      qSel.value = String(i);
      toks.forEach((t, j) => t.classList.toggle("mg-sel", j === i));
      qTok.textContent = "[" + i + "] " + show(d.tokens[i]);
      qCells.forEach((cell, c) => { cell.style.background = signed(q[c], lim); });
      rows.forEach((r, j) => {
        const masked = j > i;
        r.tr.classList.toggle("mg-masked", masked);
        r.tr.classList.toggle("mg-key-sel", j === key);
        r.p.forEach((cell, c) => { cell.style.background = masked ? "#f2f2f2" : signed(q[c] * d.k[j][c], plim); });
        r.dot.textContent = fmt(s.dots[j]);
        r.score.textContent = masked ? "-\u221e" : fmt(s.scores[j]);
        r.weight.textContent = fmt(s.weights[j]);
        r.bar.style.width = Math.round(60 * s.weights[j]) + "px";
      });
      const terms = products.map((v, c) => [v, c]).sort((a, b) => Math.abs(b[0]) - Math.abs(a[0])).slice(0, 4);
      detail.textContent = [
        "query [" + i + "] " + JSON.stringify(d.tokens[i]) + ", key [" + key + "] " + JSON.stringify(d.tokens[key]),
        "q\u00b7k = \u03a3_d q[d] k[d] = " + fmt(s.dots[key]) + "   (largest terms: "
          + terms.map((t) => "d=" + t[1] + ": " + fmt(t[0])).join(", ") + ")",
        "score = q\u00b7k / \u221a" + dh + " = " + fmt(s.dots[key]) + " / " + d.scale.toFixed(4) + " = " + fmt(s.scores[key]),
        "softmax = exp(score) / \u03a3_{j \u2264 " + i + "} exp(score_j) = " + fmt(s.weights[key]),
      ].join("\n");
      api.shown = { query: i, key, dots: s.dots, scores: s.scores, weights: s.weights, products };
      api.drawCount++;
    };
    qSel.addEventListener("change", () => api.select(parseInt(qSel.value, 10), null));
    api.select(d.query, d.key);
  }

  window.minigptNeuronView = (id) => start(id, render);
})();
