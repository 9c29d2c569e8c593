/* The overview a supervisor reads in one glance (the plant overview and the wall screen, beside overview.js,
   which shows the values, states, "since" and OEE): each machine's state in its label's colour, a 15-minute
   sparkline under each key value (lib/spark.js), the count of its active alarms, and each line summarised in its
   heading (machines per state, the line's current-shift OEE, its active alarms). Live over the page's one socket:
   samples extend the sparklines, the alarm stream (for those who may see alarms) keeps the counts. */
"use strict";

const MillwrightGlance = (() => {
  const machines = JSON.parse(document.getElementById("machines-data").textContent);
  const config = JSON.parse(document.getElementById("lines-data").textContent);
  const WINDOW_MS = config.spark_seconds * 1000;
  const ACTIVE = new Set(["unack_active", "ack_active", "latched"]);  // the condition is still there
  const socket = MillwrightSocket.page();
  const tags = new Map();  // tag id -> {tag, machine, series}
  const alarms = new Map();  // alarm id -> {machine, active}
  for (const m of machines) {
    for (const t of m.tags) if (t.id !== m.state_tag && t.data_type !== "string") tags.set(t.id, {tag: t, machine: m, series: null});
  }
  const lineOf = new Map(machines.map((m) => [m.id, m.line_id]));

  /* --- sparklines */

  function drawSpark(id) {
    const entry = tags.get(id);
    const svg = document.querySelector(`svg[data-spark-for="${id}"]`);
    if (!entry || !entry.series || !svg) return;
    const end = Date.now();
    const s = entry.series;
    let drop = 0;
    while (drop + 1 < s.t.length && s.t[drop + 1] < end - WINDOW_MS) drop += 1;
    if (drop) for (const k of ["t", "v", "q"]) s[k].splice(0, drop);
    MillwrightSpark.draw(svg, {series: s, start: end - WINDOW_MS, end, tag: entry.tag});
    svg.dataset.points = String(s.t.length);
  }

  async function loadSparks() {
    const ids = [...tags.keys()];
    const end = Date.now();
    for (let i = 0; i < ids.length; i += 100) {
      const url = new URL(config.plot_url, location.href);
      url.searchParams.set("tags", ids.slice(i, i + 100).join(","));
      url.searchParams.set("start", new Date(end - WINDOW_MS).toISOString());
      url.searchParams.set("end", new Date(end + 1000).toISOString());
      url.searchParams.set("pixels", "120");
      const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
      if (!response.ok) continue;  // the cards' values still show; a sparkline is a bonus
      for (const series of (await response.json()).tags) {
        const entry = tags.get(series.id);
        if (!entry) continue;
        entry.series = {t: series.t.slice(), v: series.v.slice(), q: series.q.slice()};
        drawSpark(series.id);
      }
    }
    document.body.dataset.sparks = String(Number(document.body.dataset.sparks || 0) + 1);
  }

  socket.on("samples", (message) => {
    for (const [tagId, at, value, quality] of message.samples) {
      const entry = tags.get(tagId);
      if (!entry || !entry.series) continue;
      const s = entry.series;
      if (s.t.length && at <= s.t[s.t.length - 1]) continue;
      s.t.push(at);
      s.v.push(typeof value === "number" ? value : null);
      s.q.push(quality);
      drawSpark(tagId);
    }
    summarise();
  });
  // On the first connection and after each reconnection: what came before (or was missed) is read again.
  socket.onReady(() => { loadSparks().catch(() => {}); summarise(); });
  setInterval(() => { for (const id of tags.keys()) drawSpark(id); }, 10000);

  /* --- state colour: the badge takes its label's colour (the set's, validated #rrggbb on the server) */

  function colourStates() {
    for (const m of machines) {
      const el = document.querySelector(`[data-state-for="${m.id}"]`);
      if (!el) continue;
      const colour = el.classList.contains("labelled") ? el.style.getPropertyValue("--swatch") : "";
      el.classList.toggle("state-coloured", Boolean(colour));
      if (colour) el.style.setProperty("--state-colour", colour);
    }
  }

  /* --- alarms per machine */

  function onAlarms(list, replace) {
    if (replace) alarms.clear();
    for (const a of list) {
      if (a.machine_id === null || a.machine_id === undefined) continue;
      alarms.set(a.id, {machine: a.machine_id, active: a.listed && ACTIVE.has(a.state)});
    }
    const counts = new Map();
    for (const a of alarms.values()) if (a.active) counts.set(a.machine, (counts.get(a.machine) || 0) + 1);
    for (const m of machines) {
      const el = document.querySelector(`[data-alarms-for="${m.id}"]`);
      if (!el) continue;
      const n = counts.get(m.id) || 0;
      el.dataset.count = String(n);
      el.textContent = interpolate(ngettext("%(n)s alarm", "%(n)s alarms", n), {n}, true);
      el.hidden = n === 0;
    }
    summarise();
  }

  if (window.MillwrightAlarms) {
    MillwrightAlarms.onOpen(() => MillwrightAlarms.send({action: "snapshot"}));
    MillwrightAlarms.on("snapshot", (m) => onAlarms(m.alarms, true));
    MillwrightAlarms.on("alarms", (m) => onAlarms(m.alarms, false));
  }

  /* --- each line's heading: "2 Running · 1 Down", its OEE, its active alarms */

  const pct = (v) => `${MillwrightFormat.number(v * 100, 1)} %`;

  function summarise() {
    colourStates();
    for (const line of config.lines) {
      const el = document.querySelector(`[data-line-summary="${line.id}"]`);
      if (!el) continue;
      const states = new Map();
      let alarmCount = 0;
      for (const m of machines) {
        if (lineOf.get(m.id) !== line.id) continue;
        const badge = document.querySelector(`[data-state-for="${m.id}"]`);
        const text = badge ? badge.textContent.trim() || "–" : "–";
        states.set(text, (states.get(text) || 0) + 1);
        const alarmsEl = document.querySelector(`[data-alarms-for="${m.id}"]`);
        alarmCount += alarmsEl ? Number(alarmsEl.dataset.count) : 0;
      }
      el.querySelector(".line-states").textContent =
        [...states.entries()].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${n} ${s === "–" ? gettext("unknown") : s}`).join(" · ");
      el.querySelector(".line-oee").textContent = line.oee === null || line.oee === undefined ? "" : interpolate(gettext("OEE %(oee)s"), {oee: pct(line.oee)}, true);
      const alarmsEl = el.querySelector(".line-alarms");
      alarmsEl.textContent = window.MillwrightAlarms ? interpolate(ngettext("%(n)s active alarm", "%(n)s active alarms", alarmCount), {n: alarmCount}, true) : "";
      alarmsEl.dataset.count = String(alarmCount);
    }
  }

  /* The line's current-shift OEE pushed by the OEE stream (production/consumers.py), where a page subscribes a
     line (the wall screen subscribes the line it shows). */
  socket.on("oee", (message) => {
    const line = config.lines.find((l) => l.id === message.line);
    if (!line) return;
    line.oee = message.kpis.oee;
    for (const row of message.machines) {
      const el = document.querySelector(`[data-oee-for="${row.id}"]`);
      if (el) {
        el.textContent = row.oee === null ? gettext("OEE –") : interpolate(gettext("OEE %(oee)s"), {oee: pct(row.oee)}, true);
        el.dataset.oee = row.oee === null ? "" : row.oee;
      }
    }
    summarise();
  });

  summarise();
  return {summarise};
})();
