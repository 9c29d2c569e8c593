"use strict";
/* Machine page: a rolling live trend (one stacked panel per key tag, shared time axis) and a live tag table.
   The page subscribes first, then loads the history (live samples wait meanwhile) and merges both by time; after a
   reconnection the gap is fetched the same way. Each panel draws its tag as the tag is (steps for counts, a ramp for
   analog values: lib/chart.js), titled with its units, and shades where its value is unknown (bad quality). */
(() => {
  const machine = JSON.parse(document.getElementById("machine-data").textContent);
  const config = JSON.parse(document.getElementById("trend-config").textContent);
  const windowMs = config.window_seconds * 1000;
  const tagsById = new Map(machine.tags.map((t) => [t.id, t]));
  const trendIds = config.tags;
  const traceIndex = new Map(trendIds.map((id, i) => [id, i]));
  const el = document.getElementById("trend");
  const lastByTag = new Map();  // per trend tag, the newest time drawn: what is older or equal is already there
  const badByTag = new Map(trendIds.map((id) => [id, new MillwrightChart.BadStretches()]));
  let shaded = "";  // the shapes drawn last, to relayout only when they change
  let lastTime = 0;
  let points = 0;
  const maxPoints = 20000;
  let loaded = false;     // the first history load is done
  let filling = false;    // a history load is in flight: live samples wait in `buffered`
  let fillAgain = false;  // a reconnection happened during a load: load once more after it
  let buffered = [];

  function qualityValue(value, quality) { return MillwrightQuality.isBad(quality) ? null : value; }

  function layout() {
    const n = Math.max(trendIds.length, 1);
    const gap = 0.04;
    const height = (1 - gap * (n - 1)) / n;
    const l = {
      margin: {l: 90, r: 20, t: 10, b: 40}, showlegend: false, paper_bgcolor: MillwrightChart.colour("panel"), plot_bgcolor: MillwrightChart.colour("panel"),
      font: {color: MillwrightChart.colour("chart-text"), size: 14}, hovermode: "x unified",
      // The time axis sits under the lowest panel (the last y axis), shared by all panels.
      xaxis: {type: "date", range: [Date.now() - windowMs, Date.now()], gridcolor: MillwrightChart.colour("chart-grid"), anchor: "y" + (n > 1 ? n : "")},
    };
    trendIds.forEach((id, i) => {
      const tag = tagsById.get(id);
      const top = 1 - i * (height + gap);
      l["yaxis" + (i ? i + 1 : "")] = {
        domain: [top - height, top],
        title: {text: `${tag.name}<br>${MillwrightChart.unitText(tag.units)}`, font: {size: 12}},
        gridcolor: MillwrightChart.colour("chart-grid"), zeroline: false,
      };
    });
    return l;
  }

  function traces() {
    return trendIds.map((id, i) => {
      const tag = tagsById.get(id);
      return {
        x: [], y: [], name: MillwrightChart.traceName(tag.name, tag.units), type: "scattergl", mode: "lines",
        line: {width: 2, shape: MillwrightChart.lineShape(tag)}, yaxis: "y" + (i ? i + 1 : ""), connectgaps: false,
      };
    });
  }

  function extend(byTag) {
    const xs = [], ys = [], idx = [];
    for (const [tagId, rows] of byTag) {
      const i = traceIndex.get(tagId);
      if (i === undefined || !rows.length) continue;
      idx.push(i);
      xs.push(rows.map((r) => r[0]));
      ys.push(rows.map((r) => qualityValue(r[1], r[2])));
      const bad = badByTag.get(tagId);
      for (const [t, value, quality] of rows) bad.add(t, value, quality);
      lastByTag.set(tagId, rows[rows.length - 1][0]);
      lastTime = Math.max(lastTime, rows[rows.length - 1][0]);
      points += rows.length;
    }
    if (!idx.length) return;
    Plotly.extendTraces(el, {x: xs, y: ys}, idx, maxPoints);
    el.dataset.points = String(points);
    el.dataset.lastTime = String(lastTime);
    shade(Date.now());
  }

  /* Each panel shaded over its own height where its tag's value is unknown, up to now for a stretch still open. */
  function badShapes(now) {
    const shapes = [];
    let stretches = 0;
    trendIds.forEach((id, i) => {
      const bad = badByTag.get(id);
      bad.forget(now - windowMs);
      const list = bad.list(now);
      stretches += list.length;
      shapes.push(...MillwrightChart.badShapes(list, {yref: `y${i ? i + 1 : ""} domain`}));
    });
    el.dataset.badStretches = String(stretches);
    return shapes;
  }

  /* Relayouts the shading, with `update` (the scrolled range), only what changed. */
  function shade(now, update = {}) {
    const shapes = badShapes(now);
    const key = JSON.stringify(shapes);
    if (key !== shaded) {
      shaded = key;
      update.shapes = shapes;
    }
    if (Object.keys(update).length) Plotly.relayout(el, update);
  }

  function scroll() {
    const now = Date.now();
    shade(now, {"xaxis.range": [now - windowMs, now]});
  }

  /* Rows of one tag newer than what is drawn of it, oldest first: history and live samples overlap around the
     moment of subscription, and a time drawn once is never drawn twice. */
  function newer(tagId, rows) {
    const last = lastByTag.get(tagId) || 0;
    return rows.filter((r) => r[0] > last);
  }

  async function loadHistory() {
    const url = new URL(config.history_url, location.href);
    url.searchParams.set("window", String(config.window_seconds));
    const known = trendIds.map((id) => lastByTag.get(id)).filter(Boolean);
    const since = loaded && known.length ? Math.min(...known) : 0;
    if (since) url.searchParams.set("since", String(since));
    const response = await fetch(url, {credentials: "same-origin"});
    if (!response.ok) return;
    const body = await response.json();
    const byTag = new Map();
    for (const [tagId, rows] of Object.entries(body.tags)) byTag.set(Number(tagId), newer(Number(tagId), rows));
    extend(byTag);
    loaded = true;
  }

  function drawSamples(samples) {
    const byTag = new Map();
    for (const [tagId, t, value, quality] of samples) {
      if (!traceIndex.has(tagId)) continue;
      if (!byTag.has(tagId)) byTag.set(tagId, []);
      byTag.get(tagId).push([t, value, quality]);
    }
    for (const [tagId, rows] of byTag) byTag.set(tagId, newer(tagId, rows));
    extend(byTag);
  }

  /* Called once subscribed (the first time and after each reconnection): from then on the socket misses nothing,
     so the history loaded now plus the live samples buffered meanwhile leave no hole. */
  async function fill() {
    if (filling) { fillAgain = true; return; }
    filling = true;
    try {
      do { fillAgain = false; await loadHistory(); } while (fillAgain);
    } catch (error) {
      console.warn("history:", error);
    } finally {
      filling = false;
      const pending = buffered;
      buffered = [];
      for (const samples of pending) drawSamples(samples);
      el.dataset.loaded = "true";
    }
  }

  function showValue(tagId, value, quality) {
    const tag = tagsById.get(tagId);
    if (!tag) return;
    const text = Millwright.formatValue(tag, value, quality);
    const row = document.querySelector(`tr[data-tag="${tagId}"]`);
    if (row) {
      row.querySelector(".num").textContent = text;
      Millwright.showSwatch(row.querySelector(".num"), tag, value, quality);
      row.querySelector(".quality").textContent = MillwrightQuality.label(quality);
      row.classList.toggle("bad", MillwrightQuality.isBad(quality));
      row.classList.toggle("uncertain", MillwrightQuality.isUncertain(quality));
    }
    if (tagId === machine.state_tag) {
      const badge = document.querySelector(`[data-state-for="${machine.id}"]`);
      badge.textContent = text;
      badge.className = "state big " + Millwright.stateClass(MillwrightQuality.isBad(quality) ? "bad" : text);
      Millwright.showSwatch(badge, tag, value, quality);
    }
  }

  for (const tag of machine.tags) showValue(tag.id, tag.value, tag.quality);
  Plotly.newPlot(el, traces(), layout(), {responsive: true, displaylogo: false});
  // Subscribe first, then load the history: loading first loses what is stored before the subscription holds.
  Millwright.connect({
    machines: [machine.id],
    onSamples: (_machine, samples) => {
      for (const [tagId, , value, quality] of samples) showValue(tagId, value, quality);
      if (filling) buffered.push(samples);
      else drawSamples(samples);
    },
    onReady: fill,
  });
  setInterval(scroll, 1000);
})();
