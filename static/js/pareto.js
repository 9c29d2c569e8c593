/* A line's loss Pareto (production/templates/production/line_pareto.html): minutes lost by reason over the
   chosen range, largest first, Unclassified one bar, pushed over the page's one socket (lib/socket.js) whenever a
   stop of the line changes and on the server's periodic tick. A bar (or a row) leads to the line's downtime
   list, where stops are classified. Reason names are set as text or escaped for Plotly. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("pareto-config").textContent);
  const socket = MillwrightSocket.page();
  const escape = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const chart = $("pareto-chart");
  let bound = false;

  function show(m) {
    const rows = m.rows;
    const total = rows.reduce((sum, r) => sum + r.minutes, 0);
    $("pareto-summary").textContent = m.start === null
      ? gettext("No shift is running now: choose the last 24 h or dates.")
      : interpolate(gettext("%(total)s min lost, %(start)s – %(end)s"), {
        total: MillwrightFormat.number(total, 1), start: MillwrightFormat.dateTime(m.start, {zone: false}),
        end: MillwrightFormat.dateTime(m.end),
      }, true);
    $("pareto-rows").replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.kind = r.kind;
      tr.dataset.minutes = r.minutes;
      if (r.reason) tr.dataset.reason = r.reason;
      const th = document.createElement("th");
      th.scope = "row";
      const a = document.createElement("a");
      a.href = config.downtime_url;
      a.textContent = r.label;
      th.append(a);
      const td = document.createElement("td");
      td.textContent = r.minutes.toFixed(1);
      tr.append(th, td);
      return tr;
    }));
    let cumulative = 0;
    Plotly.react(chart, [
      {
        type: "bar",
        name: "Minutes lost",
        x: rows.map((r) => escape(r.label)),
        y: rows.map((r) => r.minutes),
        marker: {color: rows.map((r) => MillwrightChart.colour(
          r.unclassified ? "chart-unclassified" : r.kind === "reason" ? "chart-reason" : "chart-other"))},
        hovertemplate: "%{x}: %{y:.1f} min<extra></extra>",
      },
      {
        type: "scatter", mode: "lines+markers", name: "Cumulative %", yaxis: "y2",
        x: rows.map((r) => escape(r.label)),
        y: rows.map((r) => { cumulative += r.minutes; return total ? (cumulative / total) * 100 : 0; }),
        marker: {color: MillwrightChart.colour("chart-text")}, hoverinfo: "skip",
      },
    ], {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: {color: MillwrightChart.colour("chart-text"), size: 16},
      margin: {l: 60, r: 60, t: 20, b: 120},
      yaxis: {title: {text: "min"}, gridcolor: MillwrightChart.colour("chart-grid"), fixedrange: true, rangemode: "tozero"},
      yaxis2: {overlaying: "y", side: "right", range: [0, 105], ticksuffix: " %", fixedrange: true, showgrid: false},
      xaxis: {fixedrange: true, categoryorder: "array", categoryarray: rows.map((r) => escape(r.label))},
      showlegend: false,
    }, {displaylogo: false, responsive: true, displayModeBar: false});
    if (!bound) {
      bound = true;
      chart.on("plotly_click", () => { window.location.href = config.downtime_url; });
    }
    chart.dataset.bars = rows.length;
    chart.dataset.ready = "true";
  }

  socket.expect("pareto");
  socket.onOpen(() => socket.send({
    action: "pareto_subscribe", line: config.line, range: config.range,
    ...(config.range === "dates" ? {first: config.first, last: config.last} : {}),
  }));
  socket.on("pareto", (m) => { if (m.line === config.line) show(m); });
  socket.on("error", (m) => { if (m.stream === "oee") $("pareto-summary").textContent = m.message; });
})();
