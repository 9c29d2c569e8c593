/* A rule's backtest (automation/templates/automation/backtest.html): each time it would have fired, as a marker
   on a timeline over the chosen range (the triggering value when the condition is a tag comparison, with the
   threshold as a line). Drawn with Plotly (served locally). */
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("backtest-data").textContent);
  const element = document.getElementById("backtest-chart");
  const hasValues = data.threshold !== null;
  const traces = [{
    type: "scatter",
    mode: "markers",
    name: "Would have fired",
    x: data.firings.map((f) => f.time),
    y: data.firings.map((f) => (hasValues ? f.values.value : 1)),
    marker: {symbol: "triangle-down", size: 12, color: MillwrightChart.colour("chart-event")},
    hovertext: data.firings.map((f) => JSON.stringify(f.values)),
    hoverinfo: "x+text",
  }];
  const shapes = hasValues
    ? [{type: "line", xref: "paper", x0: 0, x1: 1, y0: data.threshold, y1: data.threshold, line: {dash: "dot", color: MillwrightChart.colour("chart-limit")}}]
    : [];
  Plotly.newPlot(element, traces, {
    margin: {l: 50, r: 20, t: 10, b: 40},
    xaxis: {range: [data.start, data.end], type: "date"},
    yaxis: {title: hasValues ? data.tag : "", visible: hasValues},
    shapes,
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: {color: MillwrightChart.colour("chart-text")},
    showlegend: false,
  }, {displayModeBar: false, responsive: true}).then(() => { element.dataset.ready = "true"; });
})();
