// picsellia_tf local dashboard: training curves drawn as SVG from /ui/series.
// Our own small script (no library). One chart per metric family; x by step or wall time,
// log scale, TensorBoard's debiased exponential moving average, hover read-out, and live
// updates: /ui/stamp is polled and the series fetched again when it changes.
"use strict";

(function () {
  const root = document.getElementById("charts");
  if (!root) return;
  document.documentElement.classList.add("js");

  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const HEIGHT = 260;
  const M = { left: 58, right: 14, top: 10, bottom: 30 };
  const FAST = 2000, SLOW = 10000, PATIENCE = 30;
  const controls = document.getElementById("controls");
  const live = document.getElementById("live");
  const state = { x: "step", log: false, smooth: 0, data: null, stamp: null, quiet: 0 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const key in attrs) node.setAttribute(key, String(attrs[key]));
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(name, cls, text, parent) {
    const node = document.createElement(name);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function fmt(v) {
    if (v === null || !isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
    return String(Number(v.toPrecision(4)));
  }

  function fmtX(v) {
    if (state.x === "step") return fmt(Math.round(v));
    const d = new Date(v * 1000);
    return d.toTimeString().slice(0, 8);
  }

  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    const step = (norm >= 5 ? 10 : norm >= 2 ? 5 : norm >= 1 ? 2 : 1) * mag;
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(t);
    return ticks;
  }

  // TensorBoard's smoothing: an EMA debiased by the weight of the points seen so far.
  function smooth(values, weight) {
    if (weight <= 0) return values;
    let last = 0, seen = 0;
    return values.map(function (v) {
      if (v === null || !isFinite(v)) return v;
      last = last * weight + (1 - weight) * v;
      seen += 1;
      return last / (1 - Math.pow(weight, seen));
    });
  }

  function prepared(s) {
    const xs = state.x === "step" ? s.step : s.wall;
    const ys = smooth(s.value, state.smooth);
    const pts = [];
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i], y = ys[i], raw = s.value[i];
      if (x === null) continue;
      const ok = y !== null && isFinite(y) && (!state.log || y > 0);
      pts.push({ x: x, y: ok ? y : null, raw: raw, step: s.step[i] });
    }
    return pts;
  }

  function extent(all, key) {
    let lo = Infinity, hi = -Infinity;
    for (const pts of all) for (const p of pts) {
      const v = p[key];
      if (v === null) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) return null;
    if (lo === hi) { const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05; lo -= pad; hi += pad; }
    return [lo, hi];
  }

  function pathOf(pts, sx, sy) {
    let d = "", pen = false;
    for (const p of pts) {
      if (p.y === null) { pen = false; continue; }
      d += (pen ? "L" : "M") + sx(p.x).toFixed(1) + "," + sy(p.y).toFixed(1);
      pen = true;
    }
    return d;
  }

  function drawChart(chart, parent, width) {
    const fig = html("figure", "chart", undefined, parent);
    fig.dataset.family = chart.key;
    html("figcaption", "", chart.title, fig);
    const all = chart.series.map(prepared);
    const xr = extent(all, "x"), yr0 = extent(all, "y");
    const svg = el("svg", { viewBox: "0 0 " + width + " " + HEIGHT, role: "img",
      "aria-label": chart.title }, fig);
    const pw = width - M.left - M.right, ph = HEIGHT - M.top - M.bottom;
    let sx = function () { return M.left; }, sy = sx;
    if (xr && yr0) {
      const yr = state.log ? [Math.log10(yr0[0]), Math.log10(yr0[1])] : yr0;
      if (state.log && yr[0] === yr[1]) { yr[0] -= 0.5; yr[1] += 0.5; }
      sx = function (x) { return M.left + (x - xr[0]) / (xr[1] - xr[0] || 1) * pw; };
      const ty = state.log ? Math.log10 : function (y) { return y; };
      sy = function (y) { return M.top + ph - (ty(y) - yr[0]) / (yr[1] - yr[0]) * ph; };
      const grid = el("g", { class: "grid" }, svg);
      const axis = el("g", { class: "axis" }, svg);
      for (const t of niceTicks(yr[0], yr[1], 5)) {
        const y = M.top + ph - (t - yr[0]) / (yr[1] - yr[0]) * ph;
        el("line", { x1: M.left, x2: M.left + pw, y1: y, y2: y }, grid);
        const label = el("text", { x: M.left - 6, y: y + 4, "text-anchor": "end" }, axis);
        label.textContent = state.log ? fmt(Math.pow(10, t)) : fmt(t);
      }
      for (const t of niceTicks(xr[0], xr[1], Math.max(2, Math.floor(pw / 90)))) {
        const x = sx(t);
        el("line", { x1: x, x2: x, y1: M.top + ph, y2: M.top + ph + 4 }, axis);
        const label = el("text", { x: x, y: M.top + ph + 17, "text-anchor": "middle" }, axis);
        label.textContent = fmtX(t);
      }
      el("path", { d: "M" + M.left + "," + M.top + "V" + (M.top + ph) + "H" + (M.left + pw),
        fill: "none" }, axis);
    } else {
      const t = el("text", { x: width / 2, y: HEIGHT / 2, "text-anchor": "middle",
        class: "empty" }, svg);
      t.textContent = state.log ? "no positive values for a log scale" : "no finite values";
    }
    const legend = html("div", "legend", undefined, undefined);
    let shown = 0, stored = 0, downsampled = false;
    chart.series.forEach(function (s, i) {
      const color = PALETTE[i % PALETTE.length];
      const g = el("g", { class: "series", "data-tag": s.tag, "data-points": s.points,
        "data-version": s.version, "data-shown": s.shown }, svg);
      const d = pathOf(all[i], sx, sy);
      if (state.smooth > 0) {
        const rawPts = all[i].map(function (p) {
          const ok = p.raw !== null && isFinite(p.raw) && (!state.log || p.raw > 0);
          return { x: p.x, y: ok ? p.raw : null };
        });
        el("path", { d: pathOf(rawPts, sx, sy), fill: "none", stroke: color,
          "stroke-opacity": 0.25, "stroke-width": 1.2 }, g);
      }
      el("path", { d: d, fill: "none", stroke: color, "stroke-width": 1.8,
        "stroke-linejoin": "round" }, g);
      if (s.shown <= 60) {
        for (const p of all[i]) {
          if (p.y !== null) el("circle", { cx: sx(p.x), cy: sy(p.y), r: 2.4, fill: color }, g);
        }
      }
      const item = html("span", "", undefined, legend);
      const sw = el("svg", { width: 18, height: 10, class: "swatch" }, item);
      el("line", { x1: 0, x2: 18, y1: 5, y2: 5, stroke: color, "stroke-width": 3 }, sw);
      item.appendChild(document.createTextNode(" " + s.label + " (" + s.points.toLocaleString() +
        ")"));
      shown += s.shown; stored += s.points; downsampled = downsampled || s.downsampled;
    });
    fig.appendChild(legend);
    if (downsampled) {
      fig.dataset.downsampled = "true";
      html("p", "note", "Downsampled: showing " + shown.toLocaleString() + " of " +
        stored.toLocaleString() + " points (each pixel keeps its minimum and maximum).", fig);
    }
    if (xr && yr0) hover(fig, svg, chart, all, sx, sy, pw, ph, width);
  }

  function hover(fig, svg, chart, all, sx, sy, pw, ph, width) {
    const tip = html("div", "tooltip", undefined, fig);
    tip.hidden = true;
    const cursor = el("line", { y1: M.top, y2: M.top + ph, stroke: "#9ca3af",
      "stroke-dasharray": "3,3", visibility: "hidden" }, svg);
    const dots = chart.series.map(function () {
      return el("circle", { r: 3.5, fill: "#111827", visibility: "hidden" }, svg);
    });
    function leave() {
      tip.hidden = true;
      cursor.setAttribute("visibility", "hidden");
      for (const dot of dots) dot.setAttribute("visibility", "hidden");
    }
    svg.addEventListener("mouseleave", leave);
    svg.addEventListener("mousemove", function (event) {
      const box = svg.getBoundingClientRect();
      const px = (event.clientX - box.left) * width / box.width;
      if (px < M.left - 4 || px > M.left + pw + 4) return leave();
      const lines = [];
      let anchor = null;
      all.forEach(function (pts, i) {
        // the point whose pixel column is nearest (sx grows with x)
        let lo = 0, hi = pts.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (sx(pts[mid].x) < px) lo = mid + 1; else hi = mid;
        }
        if (lo > 0 && Math.abs(sx(pts[lo - 1].x) - px) < Math.abs(sx(pts[lo].x) - px)) lo -= 1;
        const p = pts.length ? pts[lo] : null;
        if (!p || p.y === null) { dots[i].setAttribute("visibility", "hidden"); return; }
        if (anchor === null) anchor = p;
        dots[i].setAttribute("cx", sx(p.x));
        dots[i].setAttribute("cy", sy(p.y));
        dots[i].setAttribute("visibility", "visible");
        lines.push(chart.series[i].label + ": " + fmt(p.y) +
          (state.smooth > 0 ? " (raw " + fmt(p.raw) + ")" : "") + "  @ step " + p.step);
      });
      if (anchor === null) return leave();
      cursor.setAttribute("x1", sx(anchor.x));
      cursor.setAttribute("x2", sx(anchor.x));
      cursor.setAttribute("visibility", "visible");
      tip.textContent = "";
      if (state.x === "wall") html("div", "", fmtX(anchor.x), tip);
      for (const line of lines) html("div", "", line, tip);
      tip.hidden = false;
      const fbox = fig.getBoundingClientRect();
      let left = event.clientX - fbox.left + 14;
      if (left + tip.offsetWidth > fbox.width) left = event.clientX - fbox.left - tip.offsetWidth - 14;
      tip.style.left = Math.max(0, left) + "px";
      tip.style.top = (event.clientY - fbox.top + 12) + "px";
    });
  }

  function chartWidth() {
    const total = root.clientWidth || 900;
    const columns = Math.max(1, Math.floor((total + 16) / (440 + 16)));
    return Math.max(320, Math.floor((total - 16 * (columns - 1)) / columns) - 18);
  }

  function render() {
    const data = state.data;
    if (!data) return;
    const width = chartWidth();
    const frag = document.createDocumentFragment();
    let index = 0;
    for (const section of Object.keys(data.sections)) {
      const charts = data.charts.filter(function (c) { return c.section === section; });
      if (!charts.length) continue;
      html("h2", "", data.sections[section], frag);
      const grid = html("div", "chart-grid", undefined, frag);
      grid.dataset.section = section;
      for (const chart of charts) { drawChart(chart, grid, width); index += 1; }
    }
    if (!index) html("p", "empty", "No points yet: this page draws them as a fit sends them.", frag);
    root.textContent = "";
    root.appendChild(frag);
    root.dataset.loaded = data.stamp;
    root.dataset.charts = String(index);
  }

  function load() {
    const url = root.dataset.seriesUrl + "&width=" + Math.max(50, chartWidth() - M.left - M.right);
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("the server answered " + r.status);
        return r.json();
      })
      .then(function (data) {
        state.data = data;
        state.stamp = data.stamp;
        render();
        if (root.dataset.ready !== "true" && window.performance && performance.mark) {
          // once the first drawing has been painted (the frame after it): bench_dashboard
          window.requestAnimationFrame(function () {
            window.setTimeout(function () { performance.mark("charts-drawn"); }, 0);
          });
        }
        root.dataset.ready = "true";
      });
  }

  function status(text) { if (live) live.textContent = text; }

  function poll() {
    const delay = state.quiet >= PATIENCE ? SLOW : FAST;
    window.setTimeout(function () {
      if (document.visibilityState === "hidden") return poll();
      fetch(root.dataset.stampUrl, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body && body.stamp !== state.stamp) {
            state.quiet = 0;
            return load().then(function () {
              status("live · updated " + new Date().toTimeString().slice(0, 8));
            });
          }
          state.quiet += 1;
        })
        .catch(function () { status("live · server unreachable, retrying"); })
        .then(poll);
    }, delay);
  }

  if (controls) {
    controls.addEventListener("input", function (event) {
      const t = event.target;
      if (t.name === "x") state.x = t.value;
      else if (t.name === "log") state.log = t.checked;
      else if (t.name === "smooth") {
        state.smooth = Number(t.value);
        const out = controls.querySelector("output");
        if (out) out.textContent = t.value;
      }
      render();
    });
  }
  let resizing = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(render, 150);
  });
  load()
    .then(function () { status("live"); })
    .catch(function (err) { status("could not load the series: " + err.message); })
    .then(poll);
})();
