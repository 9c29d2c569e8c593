/* A machine's state timeline for one shift (production/templates/production/machine_timeline.html): one band,
   Gantt-style, coloured by state, with the reason, product and comment on hover; product changes and alarm
   activations marked on a row above it. Drawn with Plotly (served
   locally); what operators typed is escaped before Plotly sees it (its hover labels read a few HTML tags). */
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("timeline-data").textContent);
  // The state palette of static/css/tokens.css (colour-blind safe), the same as the state badges.
  const tokens = getComputedStyle(document.documentElement);
  const COLORS = Object.fromEntries(
    ["running", "idle", "blocked", "setup", "planned_stop", "unplanned_down", "off"]
      .map((state) => [state, tokens.getPropertyValue(`--state-${state}`).trim() || "#8d99a6"]),
  );
  const escape = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  function minutes(s) { return s < 60 ? `${Math.round(s)} s` : `${MillwrightFormat.number(s / 60, 1)} min`; }

  function hover(b) {
    const lines = [`<b>${escape(b.state_label)}</b> ${minutes(b.duration_s)}`];
    lines.push(`${MillwrightFormat.time(b.start, {zone: false})} – ${b.open ? gettext("now") : MillwrightFormat.time(b.end)}`);
    if (b.reason) lines.push(interpolate(gettext("Reason: %(reason)s"), {reason: `${escape(b.reason.category)} / ${escape(b.reason.name)}`}, true) + (b.auto_classified ? " " + gettext("(automatic)") : ""));
    else if (b.state !== "running" && b.state !== "off") lines.push(gettext("Unclassified"));
    if (b.auto_reason && !b.auto_classified) lines.push(interpolate(gettext("Automatic: %(reason)s"), {reason: escape(b.auto_reason.name)}, true));
    if (b.product) lines.push(interpolate(gettext("Product %(product)s"), {product: escape(b.product)}, true));
    if (b.comment) lines.push(`“${escape(b.comment)}”`);
    return lines.join("<br>");
  }

  const states = Object.keys(data.states);
  const traces = states
    .map((state) => {
      const bands = data.bands.filter((b) => b.state === state);
      return {
        type: "bar",
        orientation: "h",
        name: data.states[state],
        y: bands.map(() => data.machine),
        base: bands.map((b) => b.start),
        x: bands.map((b) => new Date(b.end) - new Date(b.start)),
        marker: {color: COLORS[state] || "#888"},
        hovertext: bands.map(hover),
        hoverinfo: "text",
        customdata: bands.map((b) => b.id),
      };
    })
    .filter((t) => t.x.length);
  // Product changes and alarm activations: a marker row above the band, the text on hover.
  for (const [kind, symbol, color, name] of [
    ["product", "diamond", MillwrightChart.colour("chart-text"), "Product change"],
    ["alarm", "triangle-down", MillwrightChart.colour("chart-event"), "Alarm"],
  ]) {
    const marks = data.marks.filter((m) => m.kind === kind);
    if (!marks.length) continue;
    traces.push({
      type: "scatter",
      mode: "markers",
      name,
      x: marks.map((m) => m.at),
      y: marks.map(() => "Events"),
      marker: {symbol, size: 16, color},
      hovertext: marks.map((m) => `${escape(m.text)}<br>${MillwrightFormat.time(m.at)}`),
      hoverinfo: "text",
    });
  }
  const el = document.getElementById("timeline");
  const layout = {
    barmode: "overlay",
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: {color: MillwrightChart.colour("chart-text"), size: 15},
    margin: {l: 110, r: 20, t: 20, b: 50},
    xaxis: {type: "date", range: [data.start, data.end], gridcolor: MillwrightChart.colour("chart-grid")},
    yaxis: {fixedrange: true, categoryorder: "array", categoryarray: [data.machine, "Events"]},
    showlegend: true,
    legend: {orientation: "h", y: -0.25},
    hoverlabel: {font: {size: 16}},
  };
  Plotly.newPlot(el, traces, layout, {displaylogo: false, responsive: true});
  el.dataset.bands = data.bands.length;
  const legend = document.getElementById("timeline-legend");
  const total = {};
  for (const b of data.bands) total[b.state] = (total[b.state] || 0) + b.duration_s;
  legend.replaceChildren(...states.filter((s) => total[s]).map((s) => {
    const li = document.createElement("li");
    li.className = `state-badge state-${s}`;
    li.textContent = `${data.states[s]}: ${minutes(total[s])}`;
    return li;
  }));
})();
