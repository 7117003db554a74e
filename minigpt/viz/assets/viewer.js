// minigpt attention viewers: no dependencies, no network. Each view reads its
// JSON payload (uint8 weights, deflate + base64) and draws on <canvas>.
// window.minigptViews[id] exposes the weights that are drawn, for tests.
(function () {
  "use strict";
  if (window.minigptRender) return;
  window.minigptViews = window.minigptViews || {};
  const { el, show, tip } = window.minigptUI;   // ui.js

  async function decode(b64) {
    const bin = atob(b64), u8 = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
    const stream = new Blob([u8]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // Weights of one payload: w(l, h, q, k) in [0, 1].
  function store(d, u8) {
    const nq = d.n_q, nk = d.n_k, tri = d.tri;
    const per = tri ? nq * (nq + 1) / 2 : nq * nk;
    const rowStart = (q) => (tri ? q * (q + 1) / 2 : q * nk);
    const rowLen = (q) => (tri ? q + 1 : nk);
    const base = (l, h) => (l * d.n_heads + h) * per;
    return {
      u8, rowStart, rowLen, base,
      w(l, h, q, k) { return k < rowLen(q) ? u8[base(l, h) + rowStart(q) + k] / 255 : 0; },
      row(l, h, q) {
        const out = new Array(nk).fill(0), b = base(l, h) + rowStart(q), n = rowLen(q);
        for (let k = 0; k < n; k++) out[k] = u8[b + k] / 255;
        return out;
      },
      col(l, h, k) {
        const out = new Array(nq).fill(0);
        for (let q = 0; q < nq; q++) if (k < rowLen(q)) out[q] = u8[base(l, h) + rowStart(q) + k] / 255;
        return out;
      },
    };
  }

  function selector(bar, label, n, prefix, extra, onChange) {
    const lab = el("label", null, bar, label + " ");
    const s = el("select", null, lab);
    if (extra) { const o = el("option", null, s, extra); o.value = "-1"; }
    for (let i = 0; i < n; i++) { const o = el("option", null, s, prefix + i); o.value = String(i); }
    s.addEventListener("change", () => onChange(parseInt(s.value, 10)));
    return s;
  }

  function topText(tokens, weights, n) {
    const idx = weights.map((w, i) => [w, i]).filter((p) => p[0] > 0).sort((a, b) => b[0] - a[0]).slice(0, n);
    return idx.map((p) => p[0].toFixed(3) + "  [" + p[1] + "] " + show(tokens[p[1]])).join("\n");
  }

  // ---------------------------------------------------------------- head view
  function headView(root, d, W, api) {
    const toks = d.tokens, nq = d.n_q, nk = d.n_k, rowH = 18, pad = 8, gap = 220;
    const state = { layer: d.layer || 0, head: d.head || 0, hover: null };
    const bar = el("div", "mg-bar", root);
    selector(bar, "Layer", d.n_layers, "", null, (v) => { state.layer = v; draw(); }).value = String(state.layer);
    selector(bar, "Head", d.n_heads, "", "all heads", (v) => { state.head = v; draw(); }).value = String(state.head);
    el("span", null, bar, "hover a token: left = where it attends, right = what attends to it");
    const scroll = el("div", "mg-scroll", root);
    const canvas = el("canvas", null, scroll);
    const ctx = canvas.getContext("2d");
    const font = "12px ui-monospace,Menlo,Consolas,monospace";
    ctx.font = font;
    let colW = 40;
    for (const t of toks) colW = Math.max(colW, Math.min(160, ctx.measureText(show(t)).width + 12));
    const width = 2 * colW + gap, height = pad * 2 + Math.max(nq, nk) * rowH;
    const dpr = Math.max(1, Math.min(window.devicePixelRatio || 1, 30000 / height));
    canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr);
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    const y = (i) => pad + i * rowH + rowH / 2, x0 = colW + 2, x1 = colW + gap - 2;
    const hue = (h) => "hsl(" + Math.round((h * 360) / d.n_heads) + ",70%,45%)";

    // Lines grouped by opacity (16 levels ~ weight) in short paths: one huge path with
    // crossing segments is very slow to stroke in software rasterisers.
    function lines(heads, q0, q1, onlyK, minV) {
      ctx.lineWidth = 1.5;
      for (const h of heads) {
        ctx.strokeStyle = state.head < 0 ? hue(h) : "#1f5fbf";
        const paths = new Array(16).fill(null), counts = new Array(16).fill(0);
        const flush = (i) => { ctx.globalAlpha = Math.min(1, (i * 17 - 8) / 255); ctx.stroke(paths[i]); paths[i] = null; counts[i] = 0; };
        const b = W.base(state.layer, h);
        for (let q = q0; q < q1; q++) {
          const s = b + W.rowStart(q), n = W.rowLen(q);
          const kEnd = onlyK < 0 ? n : Math.min(n, onlyK + 1);
          for (let k = onlyK < 0 ? 0 : onlyK; k < kEnd; k++) {
            const v = W.u8[s + k];
            if (v < minV) continue;
            const i = Math.ceil(v / 17);
            if (!paths[i]) paths[i] = new Path2D();
            paths[i].moveTo(x0, y(q)); paths[i].lineTo(x1, y(k));
            if (++counts[i] === 64) flush(i);
          }
        }
        for (let i = 1; i < 16; i++) if (paths[i]) flush(i);
      }
      ctx.globalAlpha = 1;
    }

    function draw() {
      const t0 = performance.now();
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, width, height);
      const hv = state.hover, heads = state.head < 0 ? [...Array(d.n_heads).keys()] : [state.head];
      let weights = null;
      if (hv) {
        const h = heads[0];
        weights = hv.side === "q" ? W.row(state.layer, h, hv.index) : W.col(state.layer, h, hv.index);
        if (hv.side === "q") lines(heads, hv.index, hv.index + 1, -1, 1);
        else lines(heads, 0, nq, hv.index, 1);
        ctx.fillStyle = "#ffe08a";
        ctx.fillRect(hv.side === "q" ? 0 : x1, y(hv.index) - rowH / 2, colW, rowH);
      } else lines(heads, 0, nq, -1, heads.length > 1 ? 13 : 3);   // skip lines under 1 % (5 % overlaid)
      ctx.font = font; ctx.textBaseline = "middle";
      for (let i = 0; i < nq; i++) { ctx.textAlign = "right"; ctx.fillStyle = "#222"; ctx.fillText(show(toks[i]), colW - 4, y(i)); }
      for (let k = 0; k < nk; k++) { ctx.textAlign = "left"; ctx.fillStyle = "#222"; ctx.fillText(show(toks[k]), x1 + 4, y(k)); }
      if (weights) {   // the hovered weights, written beside the other column
        ctx.fillStyle = "#b00";
        weights.forEach((w, i) => {
          if (w < 0.005) return;
          if (hv.side === "q") { ctx.textAlign = "right"; ctx.fillText(w.toFixed(2), x1 - 4, y(i)); }
          else { ctx.textAlign = "left"; ctx.fillText(w.toFixed(2), x0 + 4, y(i)); }
        });
      }
      api.shown = hv ? { side: hv.side, index: hv.index, layer: state.layer, head: heads[0], weights } : null;
      canvas.dataset.layer = state.layer; canvas.dataset.head = state.head;
      canvas.dataset.hover = hv ? hv.side + hv.index : "";
      api.drawCount++; api.lastDrawMs = performance.now() - t0;
      if (api.firstDrawMs === null) api.firstDrawMs = performance.now();
    }

    function hoverAt(ev) {
      const r = canvas.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
      const i = Math.floor((my - pad) / rowH), side = mx < width / 2 ? "q" : "k";
      const n = side === "q" ? nq : nk;
      const hv = i >= 0 && i < n ? { side, index: i } : null;
      const same = (a, b) => (a === b) || (a && b && a.side === b.side && a.index === b.index);
      if (!same(hv, state.hover)) { state.hover = hv; draw(); }
      const rr = root.getBoundingClientRect();
      tip(root, hv ? (hv.side === "q" ? "[" + i + "] " + show(toks[i]) + " attends to\n" : "attending to [" + i + "] " + show(toks[i]) + "\n") +
        topText(toks, api.shown.weights, 8) : null, ev.clientX - rr.left, ev.clientY - rr.top);
    }
    canvas.addEventListener("mousemove", hoverAt);
    canvas.addEventListener("mouseleave", () => { state.hover = null; tip(root, null); draw(); });

    Object.assign(api, {
      state, canvas, draw,
      setLayer(l) { state.layer = l; root.querySelectorAll("select")[0].value = String(l); draw(); },
      setHead(h) { state.head = h; root.querySelectorAll("select")[1].value = String(h); draw(); },
      hover(side, index) { state.hover = side ? { side, index } : null; draw(); },
      // where to put the mouse to hover token i ("q": left column, "k": right column), in CSS px of the canvas
      tokenPoint(side, i) { return { x: side === "q" ? colW / 2 : x1 + colW / 2, y: y(i) }; },
    });
    draw();
  }

  // --------------------------------------------------------------- model view
  function color(v) {   // 0 -> white, 1 -> dark blue
    return [255 - 224 * v, 255 - 180 * v, 255 - 64 * v];
  }

  function heatmap(canvas, W, d, l, h, size) {
    // max-pool the [q, k] pattern into size x size pixels (size = n when it fits)
    const nq = d.n_q, nk = d.n_k, sq = Math.min(size, nq), sk = Math.min(size, nk);
    canvas.width = sk; canvas.height = sq;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(sk, sq), m = new Uint8Array(sq * sk);
    const b = W.base(l, h);
    for (let q = 0; q < nq; q++) {
      const s = b + W.rowStart(q), n = W.rowLen(q), r = Math.floor((q * sq) / nq) * sk;
      for (let k = 0; k < n; k++) {
        const v = W.u8[s + k], c = r + Math.floor((k * sk) / nk);
        if (v > m[c]) m[c] = v;
      }
    }
    for (let i = 0; i < m.length; i++) {
      const c = color(m[i] / 255);
      img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function modelView(root, d, W, api) {
    const state = { layer: d.layer || 0, head: d.head || 0 };
    el("div", null, root, "click a head to open it; hover the large map for the weight");
    const grid = el("div", "mg-grid", root);
    grid.style.gridTemplateColumns = "28px repeat(" + d.n_heads + ", 68px)";
    el("span", null, grid);
    for (let h = 0; h < d.n_heads; h++) el("span", "mg-rowlab", grid, "H" + h);
    const cells = [];
    for (let l = 0; l < d.n_layers; l++) {
      el("span", "mg-rowlab", grid, "L" + l);
      for (let h = 0; h < d.n_heads; h++) {
        const cell = el("div", "mg-cell", grid), c = el("canvas", null, cell);
        c.title = "layer " + l + ", head " + h;
        heatmap(c, W, d, l, h, 64);
        cell.addEventListener("click", () => api.select(l, h));
        cells.push(cell);
      }
    }
    const detail = el("div", "mg-detail", root), title = el("div", "mg-title", detail);
    const big = el("canvas", null, detail);
    const side = Math.min(640, Math.max(256, 4 * Math.max(d.n_q, d.n_k)));
    big.addEventListener("mousemove", (ev) => {
      const r = big.getBoundingClientRect(), rr = root.getBoundingClientRect();
      const k = Math.floor(((ev.clientX - r.left) / r.width) * d.n_k), q = Math.floor(((ev.clientY - r.top) / r.height) * d.n_q);
      if (q < 0 || k < 0 || q >= d.n_q || k >= d.n_k) return tip(root, null);
      tip(root, "query [" + q + "] " + show(d.tokens[q]) + "\nkey   [" + k + "] " + show(d.tokens[k]) +
        "\nweight " + W.w(state.layer, state.head, q, k).toFixed(3), ev.clientX - rr.left, ev.clientY - rr.top);
    });
    big.addEventListener("mouseleave", () => tip(root, null));
    Object.assign(api, {
      state, canvas: big,
      select(l, h) {
        state.layer = l; state.head = h;
        cells.forEach((c, i) => c.classList.toggle("mg-sel", i === l * d.n_heads + h));
        title.textContent = "layer " + l + ", head " + h + "  (rows: query, columns: key)";
        heatmap(big, W, d, l, h, 2048);
        big.style.width = side + "px"; big.style.height = Math.round((side * d.n_q) / d.n_k) + "px";
        big.dataset.layer = l; big.dataset.head = h;
        api.drawCount++;
      },
    });
    api.select(state.layer, state.head);
    api.firstDrawMs = performance.now();
  }

  window.minigptRender = function (id) {
    const root = document.getElementById("minigpt-" + id);
    const d = JSON.parse(document.getElementById("minigpt-data-" + id).textContent);
    const api = { id, kind: d.kind, nLayers: d.n_layers, nHeads: d.n_heads, nQ: d.n_q, nK: d.n_k,
      tokens: d.tokens, drawCount: 0, firstDrawMs: null, lastDrawMs: null, error: null };
    window.minigptViews[id] = api;
    if (d.title) el("div", "mg-title", root, d.title);
    el("div", "mg-tip", root);
    api.ready = (async () => {
      if (typeof DecompressionStream === "undefined") throw new Error("this browser has no DecompressionStream");
      const W = store(d, await decode(d.data));
      Object.assign(api, {
        weight: (l, h, q, k) => W.w(l, h, q, k),
        rowWeights: (l, h, q) => W.row(l, h, q),
        colWeights: (l, h, k) => W.col(l, h, k),
      });
      (d.kind === "model" ? modelView : headView)(root, d, W, api);
      root.dataset.ready = "1";
      return api;
    })().catch((e) => { api.error = String(e); el("div", "mg-err", root, "minigpt viewer: " + e); throw e; });
  };
})();
