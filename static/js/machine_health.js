// The machine health page: the health score's trend (with its limit), the RUL with its band, and each signal's
// contribution now, drawn with Plotly from the page's data (maintenance.queries.health.machine_health).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("health-data").textContent);
  const s = data.series;
  const xs = (points) => points.map((p) => p[0]);
  const ys = (points) => points.map((p) => p[1]);
  const layout = (title, yTitle) => ({
    title: { text: title },
    margin: { t: 40, r: 10, b: 40, l: 50 },
    yaxis: { title: { text: yTitle }, rangemode: "tozero" },
    showlegend: true,
    legend: { orientation: "h" },
  });
  const config = { responsive: true, displaylogo: false };
  const limit = s.score.length
    ? [{ x: [s.score[0][0], s.score[s.score.length - 1][0]], y: [data.score_high, data.score_high], name: "limit",
         mode: "lines", line: { dash: "dash", color: "#b00020" } }]
    : [];
  Plotly.newPlot("score-chart", [{ x: xs(s.score), y: ys(s.score), name: "health score", mode: "lines" }, ...limit],
    layout("Health score (1.0 = limit)", "score"), config);
  Plotly.newPlot("rul-chart", [
    { x: xs(s.rul_high), y: ys(s.rul_high), name: "high (90 %)", mode: "lines", line: { width: 0 } },
    { x: xs(s.rul_low), y: ys(s.rul_low), name: "low (90 %)", mode: "lines", fill: "tonexty", line: { width: 0 } },
    { x: xs(s.rul_median), y: ys(s.rul_median), name: "median", mode: "lines" },
  ], layout("Remaining useful life", "h"), config);
  const c = data.contributions;
  Plotly.newPlot("contribution-chart", [{
    type: "bar", orientation: "h", x: c.map((r) => r.sigma), y: c.map((r) => r.signal.replace(/_/g, " ")),
    text: c.map((r) => `${Math.round(r.share * 100)} %`), textposition: "auto", name: "σ from normal",
  }], { ...layout("Contributions now (σ from normal running)", ""), showlegend: false,
        yaxis: { autorange: "reversed" } }, config);
})();
