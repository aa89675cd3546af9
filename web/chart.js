/* A small SVG line chart for the history page: time on x, one or more series on y, gaps where a
 * value is null, a legend and a hover read-out. No dependencies. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg"; /* the SVG namespace name, not a download */
  const PAD_L = 52, PAD_R = 12, PAD_T = 10, PAD_B = 24;

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function niceStep(span, n) {
    const raw = span / Math.max(1, n);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
  }

  function fmtTime(t, span) {
    const d = new Date(t * 1000);
    const hm = String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
    if (span <= 1200) return hm + ":" + String(d.getSeconds()).padStart(2, "0");
    if (span <= 26 * 3600) return hm;
    return String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0") + " " + hm;
  }

  function fmtNum(v, dec) {
    return v == null || !isFinite(v) ? "–" : Number(v).toFixed(dec);
  }

  /* opts: {t: [epoch s], series: [{label, unit, data: [..], color, dash, dec}], height} */
  function line(host, opts) {
    host.textContent = "";
    host.classList.add("chart");
    /* drawn at the element's own width, so that text keeps its size on a phone */
    const W = Math.max(300, Math.round(host.clientWidth || 800));
    const H = opts.height || (W < 500 ? 180 : 220);
    const t = opts.t || [];
    const svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": opts.title || "chart"}, host);
    const tip = document.createElement("div");
    tip.className = "chart-tip";
    host.appendChild(tip);
    let lo = Infinity, hi = -Infinity;
    for (const s of opts.series) for (const v of s.data) if (v != null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!t.length || lo === Infinity) {
      el("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, svg).textContent = "no data in this range yet";
      return;
    }
    if (opts.zero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
    if (hi - lo < 1e-6) { hi += 0.5; lo -= 0.5; }
    const padY = (hi - lo) * 0.06;
    lo -= padY; hi += padY;
    const t0 = t[0], t1 = t[t.length - 1] > t0 ? t[t.length - 1] : t0 + 1;
    const x = (v) => PAD_L + (v - t0) / (t1 - t0) * (W - PAD_L - PAD_R);
    const y = (v) => PAD_T + (hi - v) / (hi - lo) * (H - PAD_T - PAD_B);
    const ystep = niceStep(hi - lo, 5);
    for (let v = Math.ceil(lo / ystep) * ystep; v <= hi; v += ystep) {
      el("line", {x1: PAD_L, x2: W - PAD_R, y1: y(v), y2: y(v), class: "axis"}, svg);
      el("text", {x: PAD_L - 6, y: y(v) + 4, "text-anchor": "end"}, svg).textContent =
        Math.abs(ystep) < 1 ? v.toFixed(ystep < 0.01 ? 3 : ystep < 0.1 ? 2 : 1) : v.toFixed(0);
    }
    const xt = W < 500 ? 3 : 6;
    for (let i = 0; i <= xt; i++) {
      const tv = t0 + (t1 - t0) * i / xt;
      el("text", {x: x(tv), y: H - 6, "text-anchor": i === 0 ? "start" : i === xt ? "end" : "middle"}, svg).textContent =
        fmtTime(tv, t1 - t0);
    }
    const maxGap = opts.gap_s || 0;
    for (const s of opts.series) {
      let d = "", pen = false, prevT = null;
      for (let i = 0; i < t.length; i++) {
        const v = s.data[i];
        if (v == null || !isFinite(v) || (maxGap && prevT != null && t[i] - prevT > maxGap)) pen = false;
        if (v == null || !isFinite(v)) { prevT = t[i]; continue; }
        d += (pen ? "L" : "M") + x(t[i]).toFixed(1) + " " + y(v).toFixed(1);
        pen = true;
        prevT = t[i];
      }
      const attrs = {d: d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-linejoin": "round"};
      if (s.dash) attrs["stroke-dasharray"] = "6 4";
      el("path", attrs, svg);
    }
    const hover = el("line", {x1: -10, x2: -10, y1: PAD_T, y2: H - PAD_B, class: "hover"}, svg);
    const legend = document.createElement("div");
    legend.className = "legend";
    for (const s of opts.series) {
      const span = document.createElement("span");
      const sw = document.createElement("i");
      sw.style.background = s.color;
      span.appendChild(sw);
      span.appendChild(document.createTextNode(s.label + (s.unit ? " (" + s.unit + ")" : "")));
      legend.appendChild(span);
    }
    host.insertBefore(legend, svg);
    function show(clientX) {
      const r = svg.getBoundingClientRect();
      const sx = (clientX - r.left) / r.width * W;
      const tv = t0 + (sx - PAD_L) / (W - PAD_L - PAD_R) * (t1 - t0);
      let best = 0;
      for (let i = 1; i < t.length; i++) if (Math.abs(t[i] - tv) < Math.abs(t[best] - tv)) best = i;
      hover.setAttribute("x1", x(t[best]));
      hover.setAttribute("x2", x(t[best]));
      const d = new Date(t[best] * 1000);
      tip.textContent = d.getFullYear() + "-" + fmtTime(t[best], 1e9) + ":" + String(d.getSeconds()).padStart(2, "0") + " — " +
        opts.series.map((s) => s.label + " " + fmtNum(s.data[best], s.dec == null ? 2 : s.dec) + (s.unit ? " " + s.unit : "")).join(", ");
    }
    svg.addEventListener("mousemove", (e) => show(e.clientX));
    svg.addEventListener("touchmove", (e) => { if (e.touches[0]) show(e.touches[0].clientX); }, {passive: true});
  }

  window.TbChart = {line: line};
})();
