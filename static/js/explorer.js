"use strict";
/* Trend explorer. Pens are found by search or in the Site/Area/Line/Machine tree; one y axis per engineering unit.
   Every draw asks the API for plot values over the visible range at the chart's pixel width, so a zoom or a pan
   refetches at the resolution the chart can show (raw, 1-minute or 1-hour rollups are chosen by the server) and the
   browser never receives more than a few points per pixel. The state (pens, range, follow, compare) lives in the
   URL: a copied link reproduces the view. */
(() => {
  const config = JSON.parse(document.getElementById("explorer-config").textContent);
  const el = document.getElementById("explorer-chart");
  const statusEl = document.getElementById("explorer-status");
  const COLORS = MillwrightChart.pens();  // the theme's pens (static/css/tokens.css)

  const state = {pens: [], range: 3600, start: null, end: null, follow: false, compare: false};
  const shown = {current: new Map(), previous: new Map(), shift: 0};
  let requests = 0;
  let sequence = 0;
  let followTimer = null;
  let drawing = false;

  // -- helpers

  const pad = (n, w = 2) => String(n).padStart(w, "0");

  function localString(ms) {
    // Plotly's date axes take zone-less strings: give them local time, as the operator reads the clock.
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:` +
      `${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  function parseLocal(value) {
    if (typeof value === "number") return value;
    return new Date(String(value).replace(" ", "T")).getTime();
  }
  function inputValue(ms) { return localString(ms).slice(0, 19).replace(" ", "T"); }

  async function api(url) {
    const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = body.detail || Object.values(body).flat().join(" ") || response.statusText;
      throw new Error(detail);
    }
    return body;
  }

  function setStatus(text, error = false) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", error);
  }

  // -- the range

  function currentRange() {
    if (state.start !== null && state.end !== null && !state.follow) return [state.start, state.end];
    const end = Date.now();
    return [end - state.range * 1000, end];
  }

  function pixels() {
    const size = el._fullLayout && el._fullLayout._size;
    const width = size ? size.w : el.clientWidth - 160;
    return Math.max(50, Math.min(config.max_pixels, Math.round(width)));
  }

  // -- the URL

  function writeUrl() {
    const params = new URLSearchParams();
    if (state.pens.length) params.set("tags", state.pens.map((p) => p.id).join(","));
    if (state.follow || state.start === null) {
      params.set("range", String(state.range));
    } else {
      params.set("start", new Date(state.start).toISOString());
      params.set("end", new Date(state.end).toISOString());
    }
    if (state.follow) params.set("follow", "1");
    if (state.compare) params.set("compare", "1");
    history.replaceState(null, "", `${location.pathname}?${params}`);
  }

  function readUrl() {
    const params = new URLSearchParams(location.search);
    const ids = (params.get("tags") || "").split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0);
    const start = Date.parse(params.get("start") || "");
    const end = Date.parse(params.get("end") || "");
    if (Number.isFinite(start) && Number.isFinite(end) && end > start) {
      state.start = start;
      state.end = end;
      state.range = Math.round((end - start) / 1000);
    } else {
      const range = Number(params.get("range"));
      if (Number.isFinite(range) && range > 0) state.range = range;
    }
    state.follow = params.get("follow") === "1";
    state.compare = params.get("compare") === "1";
    return ids.slice(0, config.max_pens);
  }

  // -- drawing

  function axisLayout(units) {
    // One y axis per unit: the first on the left, the second on the right, then alternating further out.
    const step = 0.055;
    const left = units.filter((_, i) => i % 2 === 0).length;
    const right = units.length - left;
    const domain = [Math.max(0, left - 1) * step, 1 - Math.max(0, right - 1) * step];
    const axes = {};
    units.forEach((unit, i) => {
      const name = "yaxis" + (i ? i + 1 : "");
      const onLeft = i % 2 === 0;
      const k = Math.floor(i / 2);
      const axis = {
        title: {text: MillwrightChart.unitText(unit), font: {size: 12}}, gridcolor: i ? "rgba(0,0,0,0)" : MillwrightChart.colour("chart-grid"),
        zeroline: false, side: onLeft ? "left" : "right", automargin: true,
      };
      if (i > 0) axis.overlaying = "y";
      if (k > 0) {
        axis.anchor = "free";
        axis.position = onLeft ? domain[0] - k * step : domain[1] + k * step;
      }
      axes[name] = axis;
    });
    return {axes, domain};
  }

  /* Pens with a value label set (the API's `labels`) are drawn as state bands in a strip under the numeric
     pens (lib/state_band.js), on an axis of their own whose ticks name them; the numeric pens share the rest. */
  function bandPens() {
    return state.pens.filter((pen) => {
      const series = shown.current.get(pen.id);
      return series && series.labels && Object.keys(series.labels).length;
    });
  }

  function draw(range) {
    const bands = bandPens();
    const numeric = state.pens.filter((p) => !bands.includes(p));
    const units = [...new Set(numeric.map((p) => p.units))];
    const {axes, domain} = axisLayout(units);
    const traces = [];
    const shapes = [];
    let points = 0;
    let bad = 0;
    const bandTop = !bands.length ? 0 : numeric.length ? Math.min(0.45, 0.1 * bands.length) : 1;
    if (bands.length && numeric.length) axes.yaxis.domain = [bandTop + 0.04, 1];
    const bandAxis = "yaxis" + (units.length + 1 > 1 ? units.length + 1 : "");
    if (bands.length) {
      axes[bandAxis] = {
        domain: [0, bandTop], range: [-0.5, bands.length - 0.5], fixedrange: true, zeroline: false, showgrid: false,
        tickvals: bands.map((_, i) => i), ticktext: bands.map((p) => MillwrightStateBand.plotlyText(p.name)),
        automargin: true, side: "left",
      };
    }
    const plotHeight = (el._fullLayout && el._fullLayout._size && el._fullLayout._size.h) || el.clientHeight - 80;
    const bandWidth = Math.max(6, Math.min(30, (plotHeight * bandTop / Math.max(1, bands.length)) * 0.6));
    state.pens.forEach((pen, i) => {
      const color = COLORS[i % COLORS.length];
      const series = shown.current.get(pen.id);
      if (bands.includes(pen)) {
        points += series.t.length;
        traces.push(...MillwrightStateBand.plotlyTraces(series, {
          labels: series.labels, row: bands.indexOf(pen), yaxis: bandAxis.replace("axis", ""), end: range[1],
          width: bandWidth, path: pen.path, name: pen.name, x: localString, hoverStep: (range[1] - range[0]) / 400,
        }));
        const stretches = new MillwrightChart.BadStretches().addSeries(series).list(range[1]);
        bad += stretches.length;
        shapes.push(...MillwrightChart.badShapes(stretches, {x: localString}));
        return;
      }
      const yaxis = "y" + (units.indexOf(pen.units) ? units.indexOf(pen.units) + 1 : "");
      const shape = MillwrightChart.lineShape(pen);
      if (series) {
        points += series.t.length;
        traces.push({
          x: series.t.map(localString), y: series.v, name: MillwrightChart.traceName(pen.name, pen.units),
          type: "scattergl", mode: "lines", line: {color, width: 1.6, shape}, yaxis, connectgaps: false,
          hovertemplate: `${pen.path}<br>%{y} ${pen.units}<extra></extra>`,
        });
        const stretches = new MillwrightChart.BadStretches().addSeries(series).list(range[1]);
        bad += stretches.length;
        shapes.push(...MillwrightChart.badShapes(stretches, {x: localString}));
      }
      const previous = shown.previous.get(pen.id);
      if (state.compare && previous) {
        traces.push({
          x: previous.t.map((t) => localString(t + shown.shift)), y: previous.v, name: `${pen.name}, previous period`,
          type: "scattergl", mode: "lines", line: {color, width: 1.2, dash: "dot", shape}, opacity: 0.6, yaxis,
          connectgaps: false, hovertemplate: `${pen.path} (previous period)<br>%{y} ${pen.units}<extra></extra>`,
        });
      }
    });
    const layout = {
      margin: {l: 60, r: 60, t: 10, b: 40}, paper_bgcolor: MillwrightChart.colour("panel"), plot_bgcolor: MillwrightChart.colour("panel"),
      font: {color: MillwrightChart.colour("chart-text"), size: 13}, hovermode: "x", showlegend: true,
      legend: {orientation: "h", y: -0.12}, shapes,
      xaxis: {type: "date", range: range.map(localString), gridcolor: MillwrightChart.colour("chart-grid"), domain},
      ...axes,
    };
    drawing = true;
    return Plotly.react(el, traces, layout, {responsive: true, displaylogo: false}).then(() => {
      drawing = false;
      el.dataset.points = String(points);
      el.dataset.badStretches = String(bad);
      el.dataset.stateBands = String(bands.length);
      el.dataset.bandAxis = bands.length ? bandAxis : "";
    });
  }

  async function fetchPlot(ids, start, end, width) {
    const url = new URL(config.urls.plot, location.href);
    url.searchParams.set("tags", ids.join(","));
    url.searchParams.set("start", new Date(start).toISOString());
    url.searchParams.set("end", new Date(end).toISOString());
    url.searchParams.set("pixels", String(width));
    return api(url);
  }

  async function refresh() {
    writeUrl();
    syncControls();
    const range = currentRange();
    const mine = ++sequence;
    if (!state.pens.length) {
      shown.current.clear();
      shown.previous.clear();
      setStatus(gettext("Add tags from the search or the plant tree."));
      return draw(range);
    }
    const ids = state.pens.map((p) => p.id);
    const width = pixels();
    const span = range[1] - range[0];
    requests += 1;
    el.dataset.requests = String(requests);
    el.dataset.loading = "1";
    try {
      const [body, previous] = await Promise.all([
        fetchPlot(ids, range[0], range[1], width),
        state.compare ? fetchPlot(ids, range[0] - span, range[1] - span, width) : null,
      ]);
      if (mine !== sequence) return;  // a newer request superseded this one
      shown.current = new Map(body.tags.map((s) => [s.id, s]));
      shown.previous = previous ? new Map(previous.tags.map((s) => [s.id, s])) : new Map();
      shown.shift = span;
      el.dataset.resolution = body.resolution;
      el.dataset.bucketSeconds = String(body.bucket_seconds);
      el.dataset.start = String(range[0]);
      el.dataset.end = String(range[1]);
      await draw(range);
      const bucket = body.bucket_seconds >= 1 ? `${+body.bucket_seconds.toFixed(1)} s` : `${Math.round(body.bucket_seconds * 1000)} ms`;
      setStatus(`${localString(range[0]).slice(0, 19)} – ${localString(range[1]).slice(0, 19)} · source ${body.resolution}` +
                ` · ${bucket} per pixel · ${el.dataset.points} points`);
      el.dataset.draws = String(Number(el.dataset.draws || 0) + 1);
    } catch (error) {
      if (mine === sequence) setStatus(error.message, true);
    } finally {
      if (mine === sequence) el.dataset.loading = "0";
    }
  }

  // -- follow mode

  function scheduleFollow() {
    clearTimeout(followTimer);
    if (!state.follow) return;
    const perPixel = (state.range * 1000) / pixels();
    followTimer = setTimeout(async () => {
      await refresh();
      scheduleFollow();
    }, Math.max(2000, Math.min(60000, 2 * perPixel)));
  }

  // -- pens

  function penOf(tag) {
    return {id: tag.id, path: tag.path, name: tag.name, units: tag.units, plot_interpolation: tag.plot_interpolation};
  }

  function addPen(tag) {
    if (state.pens.some((p) => p.id === tag.id)) return;
    if (tag.data_type === "string") {
      setStatus(interpolate(gettext("%(path)s is a string tag: text cannot be plotted (its values are in the CSV export and the API)."), {path: tag.path}, true), true);
      return;
    }
    if (state.pens.length >= config.max_pens) {
      setStatus(interpolate(gettext("At most %(n)s pens: remove one first."), {n: config.max_pens}, true), true);
      return;
    }
    state.pens.push(penOf(tag));
    renderPens();
    refresh();
  }

  function removePen(id) {
    state.pens = state.pens.filter((p) => p.id !== id);
    renderPens();
    refresh();
  }

  function renderPens() {
    const list = document.getElementById("pens");
    list.replaceChildren(...state.pens.map((pen, i) => {
      const li = document.createElement("li");
      li.style.setProperty("--pen", COLORS[i % COLORS.length]);
      li.dataset.pen = String(pen.id);
      const label = document.createElement("span");
      label.textContent = `${pen.path} (${pen.units || "–"})`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", interpolate(gettext("Remove %(path)s"), {path: pen.path}, true));
      remove.addEventListener("click", () => removePen(pen.id));
      li.append(label, remove);
      return li;
    }));
  }

  function tagItem(tag) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = tag.path;
    label.title = `${tag.path} ${tag.units ? "(" + tag.units + ")" : ""}`;
    const add = document.createElement("button");
    add.type = "button";
    add.textContent = "+";
    add.dataset.addTag = String(tag.id);
    add.setAttribute("aria-label", interpolate(gettext("Add %(path)s"), {path: tag.path}, true));
    add.addEventListener("click", () => addPen(tag));
    if (tag.data_type === "string") {
      add.disabled = true;
      add.title = gettext("A string tag: text cannot be plotted");
    }
    li.append(label, add);
    return li;
  }

  // -- finding tags

  let searchTimer = null;
  document.getElementById("tag-search").addEventListener("input", (event) => {
    clearTimeout(searchTimer);
    const words = event.target.value.trim();
    searchTimer = setTimeout(async () => {
      const results = document.getElementById("search-results");
      if (!words) return results.replaceChildren();
      const url = new URL(config.urls.tags, location.href);
      url.searchParams.set("search", words);
      url.searchParams.set("page_size", "50");
      try {
        const body = await api(url);
        results.replaceChildren(...body.results.map(tagItem));
      } catch (error) {
        setStatus(error.message, true);
      }
    }, 250);
  });

  function node(label, children) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = label;
    details.append(summary, ...children);
    return details;
  }

  async function loadTree() {
    const sites = await api(config.urls.hierarchy);
    const tree = document.getElementById("tree");
    tree.replaceChildren(...sites.map((site) => node(site.name, site.areas.map((area) => node(area.name,
      area.lines.map((line) => node(line.name, line.machines.map((machine) => {
        const list = document.createElement("ul");
        list.className = "tag-list";
        const details = node(`${machine.name} (${machine.tag_count})`, [list]);
        details.dataset.machine = String(machine.id);
        details.addEventListener("toggle", async () => {
          if (!details.open || list.childElementCount) return;
          const url = new URL(config.urls.tags, location.href);
          url.searchParams.set("machine", String(machine.id));
          url.searchParams.set("page_size", "1000");
          const body = await api(url);
          list.replaceChildren(...body.results.map(tagItem));
        });
        return details;
      }))))))));
  }

  // -- controls

  function syncControls() {
    document.getElementById("follow").checked = state.follow;
    document.getElementById("compare").checked = state.compare;
    const relative = state.follow || state.start === null;
    for (const button of document.querySelectorAll("[data-range]")) {
      button.setAttribute("aria-pressed", String(relative && Number(button.dataset.range) === state.range));
    }
    const [start, end] = currentRange();
    if (document.activeElement?.type !== "datetime-local") {
      document.getElementById("range-start").value = inputValue(start);
      document.getElementById("range-end").value = inputValue(end);
    }
  }

  for (const button of document.querySelectorAll("[data-range]")) {
    button.addEventListener("click", () => {
      state.range = Number(button.dataset.range);
      state.start = state.end = null;
      refresh().then(scheduleFollow);
    });
  }

  document.getElementById("custom-range").addEventListener("submit", (event) => {
    event.preventDefault();
    const start = new Date(document.getElementById("range-start").value).getTime();
    const end = new Date(document.getElementById("range-end").value).getTime();
    if (!(end > start)) return setStatus(gettext("The end of the range must be after its start."), true);
    Object.assign(state, {start, end, range: Math.round((end - start) / 1000), follow: false});
    scheduleFollow();
    refresh();
  });

  document.getElementById("follow").addEventListener("change", (event) => {
    state.follow = event.target.checked;
    if (!state.follow) [state.start, state.end] = currentRange();
    refresh().then(scheduleFollow);
  });

  document.getElementById("compare").addEventListener("change", (event) => {
    state.compare = event.target.checked;
    refresh();
  });

  document.getElementById("export-png").addEventListener("click", () => {
    Plotly.downloadImage(el, {format: "png", filename: "millwright-trend", width: el.clientWidth, height: el.clientHeight});
  });

  function shownCsv() {
    const quote = (s) => `"${String(s).replace(/"/g, '""')}"`;
    // A value's label (its pen's value label set) beside it; a label that looks like a formula is exported as text.
    const guard = (text) => (/^['=+\-@\t\r]/.test(text) ? "'" + text : text);
    const lines = ["time,tag_id,tag_path,units,period,value,value_label,quality"];
    for (const [period, series] of [["shown", shown.current], ["previous", state.compare ? shown.previous : new Map()]]) {
      for (const pen of state.pens) {
        const s = series.get(pen.id);
        if (!s) continue;
        const entries = shown.current.get(pen.id)?.labels;
        for (let i = 0; i < s.t.length; i++) {
          const entry = MillwrightStateBand.entryOf(entries, s.v[i]);
          lines.push([new Date(s.t[i]).toISOString(), pen.id, quote(pen.path), quote(pen.units), period,
                      s.v[i] === null ? "" : s.v[i], entry ? quote(guard(entry.label)) : "", s.q[i]].join(","));
        }
      }
    }
    return lines.join("\n") + "\n";
  }

  document.getElementById("export-csv").addEventListener("click", () => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([shownCsv()], {type: "text/csv"}));
    link.download = "millwright-trend.csv";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  });

  // Zoom and pan: refetch the visible range at the chart's resolution (debounced: a drag fires many events).
  let relayoutTimer = null;
  function onRelayout(event) {
    if (drawing) return;
    let a = event["xaxis.range[0]"], b = event["xaxis.range[1]"];
    if (event["xaxis.range"]) [a, b] = event["xaxis.range"];
    if (event["xaxis.autorange"]) {
      // Double click resets the zoom: back to the whole range that was asked for.
      clearTimeout(relayoutTimer);
      relayoutTimer = setTimeout(refresh, 50);
      return;
    }
    if (a === undefined || b === undefined) return;
    const start = parseLocal(a), end = parseLocal(b);
    if (!(end > start)) return;
    clearTimeout(relayoutTimer);
    relayoutTimer = setTimeout(() => {
      Object.assign(state, {start, end, range: Math.max(1, Math.round((end - start) / 1000)), follow: false});
      scheduleFollow();
      refresh();
    }, 150);
  }

  // -- start

  const ids = readUrl();
  Plotly.newPlot(el, [], {paper_bgcolor: MillwrightChart.colour("panel"), plot_bgcolor: MillwrightChart.colour("panel")}, {responsive: true, displaylogo: false})
    .then(async () => {
      el.on("plotly_relayout", onRelayout);
      loadTree().catch((error) => setStatus(error.message, true));
      if (ids.length) {
        const url = new URL(config.urls.tags, location.href);
        url.searchParams.set("ids", ids.join(","));
        url.searchParams.set("page_size", String(ids.length));
        try {
          const found = new Map((await api(url)).results.map((t) => [t.id, t]));
          state.pens = ids.filter((id) => found.has(id) && found.get(id).data_type !== "string").map((id) => {
            return penOf(found.get(id));
          });
        } catch (error) {
          setStatus(error.message, true);
        }
      }
      renderPens();
      await refresh();
      scheduleFollow();
    });

  window.MillwrightExplorer = {csv: shownCsv, state};
})();
