/* Small SVG trends without Plotly (the overview's sparklines, the quick trend of a value): a numeric tag as a line
   (steps where its signal is discrete, lib/chart.js's rule), a tag with a value label set as a band of coloured
   states (lib/state_band.js), bad-quality stretches as gaps. Elements are built through the DOM: no markup.

   draw(svg, {series: {t, v, q}, start, end, tag: {plot_interpolation, labels}}) -> {min, max, last} of what it
   drew (numbers; null without usable values). */
"use strict";

const MillwrightSpark = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 300;
  const H = 60;

  function element(name, attributes) {
    const el = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, String(v));
    return el;
  }

  function hasLabels(tag) {
    return Boolean(tag && tag.labels && Object.keys(tag.labels).length);
  }

  function drawBand(svg, {series, start, end, tag}, x) {
    for (const run of MillwrightStateBand.runs(series, end)) {
      const a = Math.max(start, run.from);
      if (run.to <= start) continue;
      const rect = element("rect", {x: x(a), y: 0, width: Math.max(0.5, x(run.to) - x(a)), height: H,
                                    fill: MillwrightStateBand.colourOf(tag.labels, run.value)});
      const title = element("title", {});
      title.textContent = MillwrightStateBand.labelOf(tag.labels, run.value);  // text, never markup
      rect.append(title);
      svg.append(rect);
    }
  }

  function draw(svg, {series, start, end, tag}) {
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.replaceChildren();
    const span = Math.max(1, end - start);
    const x = (t) => Math.max(0, Math.min(W, ((t - start) / span) * W));
    let min = null, max = null, last = null;
    for (let i = 0; i < series.t.length; i++) {
      const v = series.v[i];
      if (typeof v !== "number" || MillwrightQuality.isBad(series.q[i])) continue;
      if (series.t[i] >= start) {
        min = min === null ? v : Math.min(min, v);
        max = max === null ? v : Math.max(max, v);
      }
      last = v;
    }
    if (hasLabels(tag)) {
      drawBand(svg, {series, start, end, tag}, x);
      svg.dataset.kind = "band";
      return {min, max, last};
    }
    svg.dataset.kind = "line";
    if (min === null) return {min, max, last};
    const low = min === max ? min - 1 : min;
    const high = min === max ? max + 1 : max;
    const y = (v) => (H - 3) - ((v - low) / (high - low)) * (H - 6);
    const step = tag.plot_interpolation !== "linear";  // lib/chart.js's lineShape: a ramp only where linear is true
    let d = "";
    let pen = false;
    let prevY = null;
    for (let i = 0; i < series.t.length; i++) {
      const v = series.v[i];
      if (typeof v !== "number" || MillwrightQuality.isBad(series.q[i])) { pen = false; continue; }
      const px = x(series.t[i]).toFixed(1), py = y(v).toFixed(1);
      if (!pen) d += `M${px},${py}`;
      else d += step ? `H${px}V${py}` : `L${px},${py}`;
      pen = true;
      prevY = py;
    }
    if (pen && step) d += `H${x(end).toFixed(1)}`;  // the last value holds until now
    if (prevY !== null) svg.append(element("path", {d, fill: "none", class: "spark-line", "vector-effect": "non-scaling-stroke"}));
    return {min, max, last};
  }

  return {draw};
})();
