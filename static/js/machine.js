"use strict";
/* Machine page: a rolling live trend (one stacked panel per key tag, shared time axis) and a live tag table.
   History comes from the database on load; the WebSocket extends it; after a reconnection the gap is fetched. */
(() => {
  const machine = JSON.parse(document.getElementById("machine-data").textContent);
  const config = JSON.parse(document.getElementById("trend-config").textContent);
  const windowMs = config.window_seconds * 1000;
  const tagsById = new Map(machine.tags.map((t) => [t.id, t]));
  const trendIds = config.tags;
  const traceIndex = new Map(trendIds.map((id, i) => [id, i]));
  const el = document.getElementById("trend");
  let lastTime = 0;
  let points = 0;
  const maxPoints = 20000;

  function qualityValue(value, quality) { return MillwrightQuality.isGood(quality) ? value : null; }

  function layout() {
    const n = Math.max(trendIds.length, 1);
    const gap = 0.04;
    const height = (1 - gap * (n - 1)) / n;
    const l = {
      margin: {l: 90, r: 20, t: 10, b: 40}, showlegend: false, paper_bgcolor: "#1d2327", plot_bgcolor: "#1d2327",
      font: {color: "#d8dee3", size: 14}, hovermode: "x unified",
      // The time axis sits under the lowest panel (the last y axis), shared by all panels.
      xaxis: {type: "date", range: [Date.now() - windowMs, Date.now()], gridcolor: "#33404a", anchor: "y" + (n > 1 ? n : "")},
    };
    trendIds.forEach((id, i) => {
      const tag = tagsById.get(id);
      const top = 1 - i * (height + gap);
      l["yaxis" + (i ? i + 1 : "")] = {
        domain: [top - height, top], title: {text: `${tag.name}<br>${tag.units}`, font: {size: 12}},
        gridcolor: "#33404a", zeroline: false,
      };
    });
    return l;
  }

  function traces() {
    return trendIds.map((id, i) => ({
      x: [], y: [], name: tagsById.get(id).name, type: "scattergl", mode: "lines",
      line: {width: 2, shape: "linear"}, yaxis: "y" + (i ? i + 1 : ""), connectgaps: false,
    }));
  }

  function extend(byTag) {
    const xs = [], ys = [], idx = [];
    for (const [tagId, rows] of byTag) {
      const i = traceIndex.get(tagId);
      if (i === undefined || !rows.length) continue;
      idx.push(i);
      xs.push(rows.map((r) => r[0]));
      ys.push(rows.map((r) => qualityValue(r[1], r[2])));
      for (const r of rows) lastTime = Math.max(lastTime, r[0]);
      points += rows.length;
    }
    if (!idx.length) return;
    Plotly.extendTraces(el, {x: xs, y: ys}, idx, maxPoints);
    el.dataset.points = String(points);
    el.dataset.lastTime = String(lastTime);
  }

  function scroll() {
    const now = Date.now();
    Plotly.relayout(el, {"xaxis.range": [now - windowMs, now]});
  }

  async function loadHistory(since) {
    const url = new URL(window.MILLWRIGHT_HISTORY_URL, location.href);
    url.searchParams.set("window", String(config.window_seconds));
    if (since) url.searchParams.set("since", String(since));
    const response = await fetch(url, {credentials: "same-origin"});
    if (!response.ok) return;
    const body = await response.json();
    const byTag = new Map();
    for (const [tagId, rows] of Object.entries(body.tags)) {
      byTag.set(Number(tagId), rows.filter((r) => r[0] > since).map((r) => [r[0], r[1], r[2]]));
    }
    extend(byTag);
  }

  function showValue(tagId, value, quality) {
    const tag = tagsById.get(tagId);
    if (!tag) return;
    const text = Millwright.formatValue(tag, value, quality);
    const row = document.querySelector(`tr[data-tag="${tagId}"]`);
    if (row) {
      row.querySelector(".num").textContent = text;
      row.querySelector(".quality").textContent = MillwrightQuality.label(quality);
      row.classList.toggle("bad", !MillwrightQuality.isGood(quality));
    }
    if (tagId === machine.state_tag) {
      const badge = document.querySelector(`[data-state-for="${machine.id}"]`);
      badge.textContent = text;
      badge.className = "state big " + Millwright.stateClass(MillwrightQuality.isGood(quality) ? text : "bad");
    }
  }

  for (const tag of machine.tags) showValue(tag.id, tag.value, tag.quality);
  Plotly.newPlot(el, traces(), layout(), {responsive: true, displaylogo: false});
  loadHistory(0).then(() => {
    Millwright.connect({
      machines: [machine.id],
      onSamples: (_machine, samples) => {
        const byTag = new Map();
        for (const [tagId, t, value, quality] of samples) {
          showValue(tagId, value, quality);
          if (t > lastTime || !traceIndex.has(tagId)) {
            if (!byTag.has(tagId)) byTag.set(tagId, []);
            byTag.get(tagId).push([t, value, quality]);
          }
        }
        extend(byTag);
      },
      onReady: ({reconnected}) => { if (reconnected) loadHistory(lastTime); },
    });
  });
  setInterval(scroll, 1000);
})();
