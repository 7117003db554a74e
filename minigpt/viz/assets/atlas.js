// minigpt feature atlas: one point per decoder direction on its first two principal components.
// Hover a point (the nearest within 12 px) for its label and top context, coloured token by token.
// window.minigptViews[id].pointXY(i) is where point i is drawn (CSS px in the canvas), .shown the
// point under the mouse, .pixel(i) the colour drawn there; for tests.
(function () {
  "use strict";
  if (window.minigptAtlas) return;
  const { el, tip } = window.minigptUI;                                       // ui.js
  const { fmt, follow, context, start } = window.minigptFeatureUI;           // features_ui.js
  const FONT = "11px ui-monospace,Menlo,Consolas,monospace";

  function render(root, d, api) {
    const n = d.xs.length, W = 540, H = 440, pad = 28, R = 4;
    const wrap = el("div", "mg-atlas", root);
    const canvas = el("canvas", null, wrap), ctx = canvas.getContext("2d");
    const info = el("div", "mg-atlas-info", wrap, "hover a point");
    const dpr = Math.max(1, window.devicePixelRatio || 1);
    canvas.width = W * dpr; canvas.height = H * dpr; canvas.style.width = W + "px"; canvas.style.height = H + "px";
    const span = (v) => { const lo = Math.min(...v), hi = Math.max(...v); return [lo, hi > lo ? hi - lo : 1]; };
    const [x0, xs] = span(d.xs), [y0, ys] = span(d.ys);
    const px = (i) => ({ x: pad + (W - 2 * pad) * (d.xs[i] - x0) / xs, y: H - pad - (H - 2 * pad) * (d.ys[i] - y0) / ys });
    const points = Array.from({ length: n }, (_, i) => px(i));

    function draw() {
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0); ctx.font = FONT;
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
      ctx.fillStyle = "#555"; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
      ctx.fillText("PC1 (" + (100 * d.explained[0]).toFixed(1) + "% of the variance)", W / 2, H - 4);
      ctx.save(); ctx.translate(12, H / 2); ctx.rotate(-Math.PI / 2);
      ctx.fillText("PC2 (" + (100 * d.explained[1]).toFixed(1) + "%)", 0, 0); ctx.restore();
      ctx.lineWidth = 1; ctx.strokeStyle = "rgba(0,0,0,.45)";
      points.forEach((p, i) => {
        ctx.beginPath(); ctx.arc(p.x, p.y, R, 0, 2 * Math.PI); ctx.fillStyle = d.colours[i]; ctx.fill(); ctx.stroke();
      });
      if (api.shown !== null) {
        const p = points[api.shown];
        ctx.lineWidth = 2; ctx.strokeStyle = "#000"; ctx.beginPath(); ctx.arc(p.x, p.y, R + 3, 0, 2 * Math.PI); ctx.stroke();
      }
      api.drawCount++;
    }

    function show(i) {
      if (api.shown === i) return;
      api.shown = i;
      info.textContent = "";
      if (i !== null) {
        el("div", "mg-title", info, d.labels[i]);
        if (d.values) el("div", null, info, d.value_label + " = " + fmt(d.values[i], 3));
        const c = d.contexts[i];
        if (c === null) el("div", null, info, "(no context)");
        else if (c.value === null) el("div", "mg-ctx-tokens", info, c.tokens[0]);
        else {
          el("div", null, info, "top context (peak " + fmt(c.value, 3) + " at position " + c.pos + "):");
          context(root, el("div", null, info), c, "activation", c.value > 0 ? c.value : 1);
        }
      } else info.textContent = "hover a point";
      draw();
    }

    canvas.addEventListener("mousemove", (ev) => {
      const r = canvas.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
      let best = null, bestD = 144;   // within 12 px
      points.forEach((p, i) => { const dd = (p.x - mx) ** 2 + (p.y - my) ** 2; if (dd <= bestD) { best = i; bestD = dd; } });
      show(best);
      if (best === null) tip(root, null); else follow(root, ev, d.labels[best]);
    });
    canvas.addEventListener("mouseleave", () => { show(null); tip(root, null); });

    Object.assign(api, {
      canvas, nPoints: n,
      pointXY(i) { return points[i]; },
      pixel(i) {
        const p = points[i], v = ctx.getImageData(Math.floor(p.x * dpr), Math.floor(p.y * dpr), 1, 1).data;
        return [v[0], v[1], v[2]];
      },
    });
    draw();
  }

  window.minigptAtlas = (id) => start(id, render);
})();
