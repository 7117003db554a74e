// minigpt viewers' shared helpers (no dependencies, no network): elements, a token shown
// with its whitespace visible, the tooltip. Every view's script comes after this one.
(function () {
  "use strict";
  if (window.minigptUI) return;

  function el(tag, cls, parent, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function show(s) { return JSON.stringify(s).slice(1, -1); }

  function tip(root, text, x, y) {
    const t = root.querySelector(".mg-tip");
    if (text === null) { t.style.display = "none"; return; }
    t.textContent = text; t.style.display = "block";
    t.style.left = (x + 14) + "px"; t.style.top = (y + 14) + "px";
  }

  window.minigptUI = { el, show, tip };
})();
