// The instructor's page: polls /api/room every poll_s seconds and draws where the room is stuck,
// the grid of learners x exercises and the passes over time. Learner names and diagnoses are data:
// they reach the page only through textContent and attributes, never as HTML.
(function () {
  "use strict";
  const { el, tip } = window.minigptUI;
  const root = document.getElementById("room");
  const key = new URLSearchParams(location.search).get("key") || "";
  const SVG = "http://www.w3.org/2000/svg";
  const state = window.minigptRoom = { data: null, version: null, renders: 0, polls: 0, error: null };

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function api(path, params) {
    const q = new URLSearchParams(Object.assign({ key: key }, params || {}));
    return path + "?" + q.toString();
  }
  function svg(tag, attrs, parent) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function percent(part, whole) { return whole ? Math.round(100 * part / whole) : 0; }

  function drawStuck(data) {
    const table = clear(document.getElementById("stuck"));
    const head = el("tr", null, table);
    for (const h of ["exercise", "pass rate", "pass", "fail", "error", "todo", "most common mistakes"]) el("th", null, head, h);
    const n = data.summary.learners;
    for (const ex of data.exercises) {
      const s = data.summary.exercises[ex.id];
      const row = el("tr", null, table);
      row.dataset.exercise = ex.id;
      const name = el("td", null, row, ex.id);
      name.title = ex.title;
      const rate = el("td", null, row);
      const bar = el("span", "mg-rate", rate);
      el("span", null, bar).style.width = percent(s.pass, n) + "%";
      el("span", "mg-pct", rate, " " + percent(s.pass, n) + "%");
      for (const k of ["pass", "fail", "error", "todo"]) el("td", "mg-n-" + k, row, String(s[k]));
      const list = el("ul", "mg-mistakes", el("td", null, row));
      for (const [text, count] of Object.entries(s.mistakes).slice(0, 3)) el("li", null, list, count + " × " + text);
    }
  }

  function drawGrid(data) {
    const table = clear(document.getElementById("grid"));
    const head = el("tr", null, table);
    el("th", null, head, "learner");
    for (const ex of data.exercises) {
      const th = el("th", "mg-ex", head, ex.id);
      th.title = ex.title;
    }
    for (const learner of data.learners) {
      const row = el("tr", null, table);
      row.dataset.learner = learner.id;
      const name = el("td", "mg-name", row, learner.name);
      name.title = learner.name;
      const mine = data.cells[learner.id] || {};
      for (const ex of data.exercises) {
        const cell = mine[ex.id];
        const status = cell ? cell.status : "todo";
        const td = el("td", "mg-c " + status, row);
        td.dataset.exercise = ex.id;
        td.dataset.status = status;
        const text = learner.name + " · " + ex.id + ": " + status + (cell && cell.diagnosis ? "\n" + cell.diagnosis : "");
        td.title = text;
        td.addEventListener("mouseenter", (e) => tip(root, text, e.pageX - root.offsetLeft, e.pageY - root.offsetTop));
        td.addEventListener("mouseleave", () => tip(root, null));
      }
    }
  }

  function drawTimeline(data) {
    const box = clear(document.getElementById("timeline"));
    const w = +box.getAttribute("width"), h = +box.getAttribute("height"), pad = 28;
    const passes = data.timeline;
    if (!passes.length) {
      svg("text", { x: pad, y: h / 2 }, box).textContent = "no passes yet";
      return;
    }
    const t0 = passes[0].time, t1 = Math.max(passes[passes.length - 1].time, t0 + 1);
    const x = (t) => pad + (w - 2 * pad) * (t - t0) / (t1 - t0);
    const y = (k) => h - pad - (h - 2 * pad) * k / passes.length;
    const points = passes.map((p, i) => x(p.time) + "," + y(i + 1));
    svg("polyline", { class: "mg-line", points: [x(t0) + "," + y(0)].concat(points).join(" ") }, box);
    passes.forEach((p, i) => {
      const dot = svg("circle", { class: "mg-dot", cx: x(p.time), cy: y(i + 1), r: 3 }, box);
      svg("title", {}, dot).textContent = p.name + " passed " + p.exercise + " at " + new Date(p.time * 1000).toLocaleTimeString();
    });
    svg("text", { x: 2, y: pad - 8 }, box).textContent = passes.length + " passes";
    svg("text", { x: pad, y: h - 8 }, box).textContent = new Date(t0 * 1000).toLocaleTimeString();
    svg("text", { x: w - pad - 50, y: h - 8 }, box).textContent = new Date(t1 * 1000).toLocaleTimeString();
  }

  function draw(data) {
    document.getElementById("code").textContent = data.code;
    document.getElementById("count").textContent = data.learners.length + " learners";
    const joinUrl = location.origin + "/join/" + encodeURIComponent(data.code);
    document.getElementById("join").textContent = "learners join with: minigpt classroom join " + joinUrl + " --name NAME";
    drawStuck(data);
    drawGrid(data);
    drawTimeline(data);
    state.renders += 1;
  }

  function setStatus(text, bad) {
    const s = document.getElementById("status");
    s.textContent = text;
    s.classList.toggle("mg-err", !!bad);
  }

  async function poll() {
    let wait = state.data ? state.data.poll_s : 2;
    try {
      const reply = await fetch(api("/api/room", state.version ? { since: state.version } : {}));
      const body = await reply.json();
      if (!reply.ok) throw new Error(body.error || reply.statusText);
      if (!body.unchanged) {
        state.data = body;
        state.version = body.version;
        draw(body);
      }
      state.error = null;
      state.polls += 1;
      setStatus("live · updated " + new Date().toLocaleTimeString());
      wait = body.poll_s || wait;
    } catch (err) {
      state.error = String(err.message || err);
      setStatus("cannot reach the server (" + state.error + "); retrying", true);
    }
    setTimeout(poll, wait * 1000);
  }

  for (const a of document.querySelectorAll("#exports a")) a.href = api("/api/export", { format: a.dataset.format });
  poll();
})();
