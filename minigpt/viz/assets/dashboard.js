// minigpt feature dashboard: one neuron or SAE latent. Its top-activating contexts (each token's
// background is its activation on white-to-red, the peak outlined, hover for the value), the
// histogram of its non-zero activations (hover a bar for its range and count) and its direct
// logit effect (the most promoted and suppressed next tokens). window.minigptViews[id].binPoint(i)
// is where bar i is drawn, for tests.
(function () {
  "use strict";
  if (window.minigptDashboard) return;
  const { el, tip } = window.minigptUI;                                       // ui.js
  const { colour, fmt, follow, context, start } = window.minigptFeatureUI;   // features_ui.js
  const FONT = "11px ui-monospace,Menlo,Consolas,monospace";

  function histogram(root, parent, h, api) {
    const W = 360, H = 150, left = 40, right = 8, top = 8, bottom = 22;
    const canvas = el("canvas", null, parent), ctx = canvas.getContext("2d");
    const dpr = Math.max(1, window.devicePixelRatio || 1);
    canvas.width = W * dpr; canvas.height = H * dpr; canvas.style.width = W + "px"; canvas.style.height = H + "px";
    const n = h.counts.length, most = Math.max(1, ...h.counts), bw = (W - left - right) / n;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0); ctx.font = FONT;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    h.counts.forEach((c, i) => {
      const bh = (H - top - bottom) * c / most;
      ctx.fillStyle = colour((i + 0.5) / n, false);
      ctx.fillRect(left + i * bw, H - bottom - bh, Math.max(1, bw - 1), bh);
    });
    ctx.strokeStyle = "#999"; ctx.beginPath(); ctx.moveTo(left, H - bottom + 0.5); ctx.lineTo(W - right, H - bottom + 0.5); ctx.stroke();
    ctx.fillStyle = "#333"; ctx.textBaseline = "top";
    ctx.textAlign = "left"; ctx.fillText(fmt(h.edges[0], 3), left, H - bottom + 4);
    ctx.textAlign = "right"; ctx.fillText(fmt(h.edges[n], 3), W - right, H - bottom + 4);
    ctx.textBaseline = "middle"; ctx.fillText(String(most), left - 4, top + 4); ctx.fillText("0", left - 4, H - bottom);
    api.binPoint = (i) => ({ x: left + (i + 0.5) * bw, y: H - bottom - 2 });
    canvas.addEventListener("mousemove", (ev) => {
      const r = canvas.getBoundingClientRect(), i = Math.floor((ev.clientX - r.left - left) / bw);
      if (i < 0 || i >= n || ev.clientY - r.top > H - bottom + 2) { api.shown = null; return tip(root, null); }
      api.shown = { bin: i, count: h.counts[i] };
      follow(root, ev, "[" + fmt(h.edges[i]) + ", " + fmt(h.edges[i + 1]) + "): " + h.counts[i] + " tokens");
    });
    canvas.addEventListener("mouseleave", () => { api.shown = null; tip(root, null); });
  }

  function logits(parent, lg) {
    const table = el("table", "mg-logits", parent);
    const head = el("tr", null, table);
    ["promoted", "", "suppressed", ""].forEach((h) => el("th", null, head, h));
    for (let i = 0; i < Math.max(lg.promoted.length, lg.suppressed.length); i++) {
      const tr = el("tr", null, table);
      for (const side of [lg.promoted, lg.suppressed]) {
        const item = side[i];
        // a byte that is not text on its own (U+FFFD) also shows its id
        el("td", "mg-logit-token", tr, !item ? "" : JSON.stringify(item[0]) + (item[0].includes("\ufffd") ? " #" + item[2] : ""));
        el("td", "mg-num", tr, item ? (item[1] > 0 ? "+" : "") + fmt(item[1], 3) : "");
      }
    }
  }

  function render(root, d, api) {
    const s = d.stats;
    el("div", "mg-stats", root, d.label + ": max " + fmt(s.max, 3) + ", min " + fmt(s.min, 3) + "; non-zero on "
      + (100 * s.density).toFixed(2) + "% of " + s.n_tokens + " tokens (" + s.n_nonzero + ")");
    const row = el("div", "mg-row", root);
    const hist = el("div", "mg-hist", row);
    el("div", null, hist, "histogram of the non-zero " + d.label + "s");
    histogram(root, hist, d.hist, api);
    if (d.logits) {
      const box = el("div", null, row);
      el("div", null, box, "direct logit effect (through ln_final and W_U)");
      logits(box, d.logits);
    }
    el("div", "mg-title", root, "top " + d.contexts.length + " contexts (white = 0, red = " + fmt(d.vmax, 3) + ")");
    for (const c of d.contexts) {
      const line = el("div", "mg-ctx", root);
      el("span", "mg-ctx-val", line, fmt(c.value, 3));
      context(root, line, c, d.label, d.vmax);
    }
    api.nContexts = d.contexts.length;
    api.drawCount++;
  }

  window.minigptDashboard = (id) => start(id, render);
})();
