// The machine health page: the health score's trend (with its limit), the RUL with its band, and each signal's
// contribution now, drawn with Plotly from the page's data (maintenance.queries.health.machine_health), then kept
// live from the page socket's health frames (maintenance/consumers.py): each new score extends the trends and
// redraws the bars; a new fit, a re-baseline or a request's change updates the model and the open requests.
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
  const bars = (c) => Plotly.react("contribution-chart", [{
    type: "bar", orientation: "h", x: c.map((r) => r.sigma), y: c.map((r) => r.signal.replace(/_/g, " ")),
    text: c.map((r) => `${Math.round(r.share * 100)} %`), textposition: "auto", name: "σ from normal",
  }], { ...layout("Contributions now (σ from normal running)", ""), showlegend: false,
        yaxis: { autorange: "reversed" } }, config);
  bars(data.contributions);

  const $ = (id) => document.getElementById(id);
  let lastAt = 0;
  MillwrightHealth.subscribe((f) => {
    if (f.machine !== data.machine) return;
    if ("model_version" in f) {
      $("model-version").textContent = f.model_version === null ? "not fitted yet" : `version ${f.model_version}`;
      $("training-window").textContent = f.training_window
        ? `${MillwrightHealth.timeText(f.training_window[0])} – ${MillwrightHealth.timeText(f.training_window[1])}`
        : `Waiting for training data: fitted from the normal running after ${MillwrightHealth.timeText(f.training_start)}.`;
      $("open-requests").textContent = String(f.open_requests);
    }
    if (!("score" in f)) return;
    const score = $("score-now");
    score.textContent = MillwrightHealth.scoreText(f.score);
    score.classList.toggle("high", f.score !== null && f.score >= data.score_high);
    $("rul-now").textContent = MillwrightHealth.rulText(f.rul);
    $("explanation-now").textContent = f.explanation || "";
    if (!f.at || f.at <= lastAt) return;  // the snapshot (no time) or a frame already drawn
    lastAt = f.at;
    $("score-at").textContent = `at ${MillwrightHealth.timeText(f.at)} UTC`;
    const x = MillwrightHealth.plotTime(f.at);
    if (f.score !== null) Plotly.extendTraces("score-chart", { x: [[x]], y: [[f.score]] }, [0]);
    if (f.rul && f.rul.median_h !== null) {
      const high = f.rul.high_h === null ? f.rul.median_h : f.rul.high_h;  // an open-ended band: drawn to the median
      Plotly.extendTraces("rul-chart", { x: [[x], [x], [x]], y: [[high], [f.rul.low_h], [f.rul.median_h]] }, [0, 1, 2]);
    }
    if (f.contributions && f.contributions.length) bars(f.contributions);
  });
})();
