// minigpt feature views' shared helpers (after ui.js): the palette of minigpt.viz.html._colour, a
// token with its whitespace made visible, a context drawn as coloured tokens, and start(), which
// reads a view's JSON payload, registers window.minigptViews[id] and reports errors on the page.
// No dependencies, no network; text from the data only ever goes into textContent.
(function () {
  "use strict";
  if (window.minigptFeatureUI) return;
  window.minigptViews = window.minigptViews || {};
  const { el, tip } = window.minigptUI;   // ui.js

  // t in [0, 1] -> white-to-red, or blue-white-red when `diverging` (t = 0.5 is white)
  function colour(t, diverging) {
    let r, g, b;
    if (diverging) {
      const s = 2 * t - 1;
      [r, g, b] = s >= 0 ? [255, 255 - 170 * s, 255 - 170 * s] : [255 + 170 * s, 255 + 120 * s, 255];
    } else {
      [r, g, b] = [255, 255 - 190 * t, 255 - 210 * t];
    }
    return "rgb(" + Math.round(r) + "," + Math.round(g) + "," + Math.round(b) + ")";
  }

  // a value on a blue-white-red scale from -lim to lim
  function signed(v, lim) { return colour(Math.min(1, Math.max(0, (lim > 0 ? v / lim : 0) / 2 + 0.5)), true); }

  function visible(tok) {   // newline, tab and other control characters as visible marks
    return tok.replace(/[\x00-\x1f\x7f]/g, (c) => (c === "\n" ? "\u23ce" : c === "\t" ? "\u21e5"
      : "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0")));
  }

  function fmt(v, digits) {
    if (v === null) return "masked";
    if (!isFinite(v)) return v > 0 ? "\u221e" : "-\u221e";
    return v.toFixed(digits === undefined ? 4 : digits);
  }

  function follow(root, ev, text) {   // the tooltip next to the mouse
    const rr = root.getBoundingClientRect();
    tip(root, text, ev.clientX - rr.left, ev.clientY - rr.top);
  }

  // A context {tokens, acts, peak} as spans in `parent`, each coloured by act / vmax on white-to-red;
  // hover for the activation.
  function context(root, parent, c, label, vmax) {
    const line = el("span", "mg-ctx-tokens", parent);
    c.tokens.forEach((tok, i) => {
      const s = el("span", "mg-tok" + (i === c.peak ? " mg-peak" : ""), line, visible(tok));
      s.style.background = colour(Math.min(1, Math.max(0, c.acts[i] / vmax)), false);
      s.addEventListener("mousemove", (ev) => follow(root, ev, JSON.stringify(tok) + "  " + label + " = " + fmt(c.acts[i])));
      s.addEventListener("mouseleave", () => tip(root, null));
    });
    return line;
  }

  function start(id, render) {
    const root = document.getElementById("minigpt-" + id);
    const d = JSON.parse(document.getElementById("minigpt-data-" + id).textContent);
    const api = { id, kind: d.kind, shown: null, drawCount: 0, firstDrawMs: null, error: null };
    window.minigptViews[id] = api;
    try {
      if (d.title) el("div", "mg-title", root, d.title);
      render(root, d, api);
      api.firstDrawMs = performance.now();
      root.dataset.ready = "1";
    } catch (e) { api.error = String(e); el("div", "mg-err", root, "minigpt viewer: " + e); throw e; }
    return api;
  }

  window.minigptFeatureUI = { colour, signed, visible, fmt, follow, context, start };
})();
