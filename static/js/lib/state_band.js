/* A tag with a value label set (machine state, a bool's Open/Closed, alarm codes) drawn as what it is: a band of
   coloured stretches, one colour per state from its set, its label on hover, instead of a number sliding between
   values. Used by the trend explorer (Plotly traces) and the quick trend and sparklines (SVG, lib/spark.js).

   runs(series, end): from {t, v, q} (time order; each value holds until the next sample) to the stretches
   [{from, to, value, entry}] where the value is known (bad quality and null are gaps), equal values merged. */
"use strict";

const MillwrightStateBand = (() => {
  const FALLBACK = "#8b949e";

  function entryOf(labels, value) {
    if (!labels || typeof value !== "number" || !Number.isInteger(value)) return null;
    return Object.prototype.hasOwnProperty.call(labels, String(value)) ? labels[String(value)] : null;
  }

  /* The text of a value: its label, or the number itself where the set has none. */
  function labelOf(labels, value) {
    const entry = entryOf(labels, value);
    return entry ? entry.label : String(value);
  }

  function colourOf(labels, value) {
    const entry = entryOf(labels, value);
    return entry && entry.colour ? entry.colour : FALLBACK;
  }

  function runs(series, end) {
    const out = [];
    const n = series.t.length;
    for (let i = 0; i < n; i++) {
      const value = series.v[i];
      const known = value !== null && value !== undefined && !MillwrightQuality.isBad(series.q[i]);
      const to = i + 1 < n ? series.t[i + 1] : Math.max(end, series.t[i]);
      if (!known) continue;
      const last = out[out.length - 1];
      if (last && last.value === value && last.to === series.t[i]) last.to = to;
      else out.push({from: series.t[i], to, value});
    }
    return out;
  }

  /* Plotly renders hover texts and legend names as its own pseudo-HTML (<br>, <b>, <a>): a label an administrator
     typed, or a PLC's path, is escaped so that it is shown as the text it is. */
  function plotlyText(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  /* Plotly traces drawing one tag's band at y = `row` on axis `yaxis`: one trace per state (its colour), each
     stretch a thick horizontal segment (x pairs separated by null), hover giving the tag and the state's label.
     `x` turns epoch ms into what the x axis takes. Plotly hovers over a trace's points, not between them: a
     stretch gets a point every `hoverStep` ms so that its label shows wherever the pointer is on it. */
  function plotlyTraces(series, {labels, row, yaxis, end, width, path, name, hoverStep, x = (ms) => ms}) {
    const byValue = new Map();
    for (const run of runs(series, end)) {
      if (!byValue.has(run.value)) byValue.set(run.value, {x: [], y: [], text: []});
      const trace = byValue.get(run.value);
      const text = `${plotlyText(path)}<br>${plotlyText(labelOf(labels, run.value))}`;
      const times = [run.from];
      if (hoverStep > 0) for (let t = run.from + hoverStep; t < run.to; t += hoverStep) times.push(t);
      times.push(run.to);
      for (const t of times) {
        trace.x.push(x(t));
        trace.y.push(row);
        trace.text.push(text);
      }
      trace.x.push(null);
      trace.y.push(null);
      trace.text.push(null);
    }
    return [...byValue.entries()].sort(([a], [b]) => a - b).map(([value, trace]) => ({
      ...trace, type: "scatter", mode: "lines", yaxis, connectgaps: false,
      name: plotlyText(`${name}: ${labelOf(labels, value)}`), legendgroup: `band-${row}`,
      line: {color: colourOf(labels, value), width, shape: "linear"},
      hovertemplate: "%{text}<extra></extra>",
      meta: {band: row, value},
    }));
  }

  return {colourOf, entryOf, labelOf, plotlyText, plotlyTraces, runs};
})();
