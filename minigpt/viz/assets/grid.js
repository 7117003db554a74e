// minigpt grid views (logit lens, patching, causal trace): one <canvas> of n_rows x n_cols
// cells, each filled with the colour Python chose, an optional word in each cell, and a
// tooltip with every value of the hovered cell. No dependencies, no network.
// window.minigptViews[id] exposes what is drawn and shown, for tests.
(function () {
  "use strict";
  if (window.minigptGrid) return;
  window.minigptViews = window.minigptViews || {};
  const { el, show, tip } = window.minigptUI;   // ui.js
  const FONT = "12px ui-monospace,Menlo,Consolas,monospace";

  function ink(css) {   // dark text on light cells, white on dark ones
    const c = css.match(/\d+/g).map(Number);
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 150 ? "#fff" : "#222";
  }

  function fmt(v) { return v === 0 || Math.abs(v) >= 1e-3 ? v.toFixed(4) : v.toExponential(2); }

  function fit(ctx, text, width) {   // cut with an ellipsis to fit `width` px
    if (ctx.measureText(text).width <= width) return text;
    let n = text.length;
    while (n > 1 && ctx.measureText(text.slice(0, n) + "\u2026").width > width) n--;
    return text.slice(0, n) + "\u2026";
  }

  function cellText(d, i) {
    const lines = d.series.map((s) => s.label + " = " + fmt(s.values[i]));
    if (d.top) {
      const k = d.top.k;
      lines.push("top " + k + ":");
      for (let j = i * k; j < (i + 1) * k; j++) lines.push(fmt(d.top.probs[j]) + "  " + JSON.stringify(d.top.vocab[d.top.ids[j]]));
    }
    return lines;
  }

  function render(root, d, api) {
    const nr = d.n_rows, nc = d.n_cols, cw = d.cell[0], ch = d.cell[1];
    const canvas = el("canvas", null, root.querySelector(".mg-scroll")), ctx = canvas.getContext("2d");
    ctx.font = FONT;
    const widest = (labels) => Math.min(180, Math.max(0, ...labels.map((s) => ctx.measureText(show(s)).width)));
    const left = 26 + widest(d.rows), top = 8, gridW = nc * cw, gridH = nr * ch;
    const width = left + gridW + 8, height = top + gridH + widest(d.cols) + 34;
    const dpr = Math.max(1, Math.min(window.devicePixelRatio || 1, 30000 / Math.max(width, height)));
    canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr);
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    const gap = cw >= 10 && ch >= 10 ? 1 : 0;

    function draw() {
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, width, height);
      ctx.font = FONT; ctx.textBaseline = "middle";
      for (let r = 0; r < nr; r++) {
        for (let c = 0; c < nc; c++) {
          const i = r * nc + c, x = left + c * cw, y = top + r * ch;
          ctx.fillStyle = d.colours[i]; ctx.fillRect(x, y, cw - gap, ch - gap);
          if (d.text) {
            ctx.fillStyle = ink(d.colours[i]); ctx.textAlign = "center";
            ctx.fillText(fit(ctx, show(d.text[i]), cw - 6), x + cw / 2, y + ch / 2);
          }
        }
      }
      const hv = api.shown;
      if (hv) { ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.strokeRect(left + hv.col * cw + 1, top + hv.row * ch + 1, cw - 3, ch - 3); }
      ctx.fillStyle = "#222"; ctx.textAlign = "right";
      d.rows.forEach((s, r) => ctx.fillText(fit(ctx, show(s), 180), left - 6, top + r * ch + ch / 2));
      d.cols.forEach((s, c) => {   // column labels written downwards, below the grid
        ctx.save(); ctx.translate(left + c * cw + cw / 2, top + gridH + 6); ctx.rotate(-Math.PI / 2);
        ctx.fillText(fit(ctx, show(s), 180), 0, 0); ctx.restore();
      });
      ctx.textAlign = "center"; ctx.fillStyle = "#555";
      ctx.fillText(d.x_label, left + gridW / 2, height - 10);
      ctx.save(); ctx.translate(10, top + gridH / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(d.y_label, 0, 0); ctx.restore();
      api.drawCount++;
    }

    function hover(row, col) {   // the cell under the mouse, or null
      const same = (api.shown && row !== null && api.shown.row === row && api.shown.col === col) || (!api.shown && row === null);
      if (same) return;
      api.shown = row === null ? null : { row, col, lines: cellText(d, row * nc + col),
        values: d.series.map((s) => s.values[row * nc + col]) };
      draw();
    }

    canvas.addEventListener("mousemove", (ev) => {
      const r = canvas.getBoundingClientRect(), rr = root.getBoundingClientRect();
      const col = Math.floor((ev.clientX - r.left - left) / cw), row = Math.floor((ev.clientY - r.top - top) / ch);
      if (row < 0 || col < 0 || row >= nr || col >= nc) { hover(null); return tip(root, null); }
      hover(row, col);
      const name = (s, axis) => (d.token_axis === axis ? JSON.stringify(s) : show(s));
      const head = d.y_label + " " + name(d.rows[row], "rows") + ", " + d.x_label + " " + name(d.cols[col], "cols");
      tip(root, [head, ...api.shown.lines].join("\n"), ev.clientX - rr.left, ev.clientY - rr.top);
    });
    canvas.addEventListener("mouseleave", () => { hover(null); tip(root, null); });

    Object.assign(api, {
      canvas, dpr, draw,
      // the centre of cell (row, col) in CSS px of the canvas: where to put the mouse
      cellPoint(row, col) { return { x: left + col * cw + cw / 2, y: top + row * ch + ch / 2 }; },
      // [r, g, b] drawn at the centre of cell (row, col)
      pixel(row, col) {
        const p = this.cellPoint(row, col), px = ctx.getImageData(Math.floor(p.x * dpr), Math.floor(p.y * dpr), 1, 1).data;
        return [px[0], px[1], px[2]];
      },
    });
    draw();
  }

  window.minigptGrid = function (id) {
    const root = document.getElementById("minigpt-" + id);
    const d = JSON.parse(document.getElementById("minigpt-data-" + id).textContent);
    const api = { id, kind: d.kind, nRows: d.n_rows, nCols: d.n_cols, rows: d.rows, cols: d.cols, shown: null,
      drawCount: 0, firstDrawMs: null, error: null };
    window.minigptViews[id] = api;
    try {
      render(root, d, api);
      api.firstDrawMs = performance.now();
      root.dataset.ready = "1";
    } catch (e) { api.error = String(e); el("div", "mg-err", root, "minigpt viewer: " + e); throw e; }
  };
})();
