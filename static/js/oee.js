/* A line's OEE view (production/templates/production/line_oee.html): the current shift's availability,
   performance and quality bars per machine, each machine's OEE and the line's, pushed over the page's one socket
   (lib/socket.js) whenever a stop of the line changes and on the server's periodic tick. Names are set as text
   (the table) or escaped (Plotly's labels read a few HTML tags). */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("oee-config").textContent);
  const socket = MillwrightSocket.page();
  const escape = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`);
  const SERIES = [
    ["availability", gettext("Availability"), MillwrightChart.colour("chart-availability")],
    ["performance", gettext("Performance"), MillwrightChart.colour("chart-performance")],
    ["quality", gettext("Quality"), MillwrightChart.colour("chart-quality")],
  ];

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function show(m) {
    const shift = m.shift;
    $("oee-shift").textContent = shift
      ? interpolate(gettext("%(name)s shift %(date)s: %(start)s – %(end)s, as of %(at)s"), {
        name: shift.name, date: shift.date, start: MillwrightFormat.time(shift.start, {zone: false}),
        end: MillwrightFormat.time(shift.end), at: MillwrightFormat.time(m.at),
      }, true)
      : gettext("No shift is running now.");
    $("oee-line-value").textContent = pct(m.kpis.oee);
    $("oee-line-apq").textContent = `A ${pct(m.kpis.availability)} · P ${pct(m.kpis.performance)} · Q ${pct(m.kpis.quality)}`;
    $("oee-machines").replaceChildren(...m.machines.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.machine = row.id;
      tr.dataset.oee = row.oee === null ? "" : row.oee;
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = row.name;
      tr.append(name, cell(pct(row.oee), "oee-big"), cell(pct(row.availability)), cell(pct(row.performance)), cell(pct(row.quality)));
      return tr;
    }));
    const names = m.machines.map((row) => escape(row.name));
    const traces = SERIES.map(([key, label, color]) => ({
      type: "bar",
      name: label,
      x: names,
      y: m.machines.map((row) => (row[key] === null ? 0 : row[key] * 100)),
      text: m.machines.map((row) => pct(row[key])),
      textposition: "auto",
      marker: {color},
      hoverinfo: "x+name+text",
    }));
    traces.push({
      type: "scatter", mode: "markers+text", name: "OEE", x: names,
      y: m.machines.map((row) => (row.oee === null ? null : row.oee * 100)),
      text: m.machines.map((row) => `OEE ${pct(row.oee)}`), textposition: "top center",
      marker: {size: 18, symbol: "diamond", color: MillwrightChart.colour("chart-target")},
    });
    Plotly.react($("oee-chart"), traces, {
      barmode: "group",
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: {color: MillwrightChart.colour("chart-text"), size: 16},
      margin: {l: 60, r: 20, t: 30, b: 60},
      yaxis: {range: [0, 110], ticksuffix: " %", gridcolor: MillwrightChart.colour("chart-grid"), fixedrange: true},
      xaxis: {fixedrange: true},
      legend: {orientation: "h", y: -0.15},
    }, {displaylogo: false, responsive: true, displayModeBar: false});
    const line = $("oee-line");
    line.dataset.oee = m.kpis.oee === null ? "" : m.kpis.oee;
    line.dataset.ready = "true";
  }

  socket.expect("oee");
  socket.onOpen(() => socket.send({action: "oee_subscribe", line: config.line}));
  socket.on("oee", (m) => { if (m.line === config.line) show(m); });
  socket.on("error", (m) => { if (m.stream === "oee") $("oee-shift").textContent = m.message; });
})();
