/* From any value to its trend: a click (or Enter / Space) on a value opens, in place, a dialog with the tag's last
   hour (lib/spark.js: a line, or a state band for a tag with a value label set), kept live over the page's one
   socket, closed by Escape or its button (focus goes back to the value), with a link to the trend explorer with
   the tag as its pen (for those who may use it).

   Which elements are values: any with data-trend-tag="<tag id>" (the overview's values and states, the alarm
   list's values), and the machine page's tag table (its rows tr[data-tag], the value cell td.num), made buttons
   here so that the machine page's template stays as it is. The page's data comes from the REST API (tag detail
   and plot values), so the same dialog serves every page (dashboards/templates/dashboards/quick_trend.html,
   its scripts quick_trend_scripts.html). */
"use strict";

const MillwrightQuickTrend = (() => {
  const dialog = document.getElementById("quick-trend");
  const config = {
    plot_url: dialog.dataset.plotUrl, tag_url: dialog.dataset.tagUrl, explorer_url: dialog.dataset.explorerUrl,
  };
  const $ = (selector) => dialog.querySelector(selector);
  const WINDOW_MS = 3600 * 1000;
  const socket = MillwrightSocket.page();
  let current = null;  // {tag, series, opener, sequence}
  let sequence = 0;
  let tick = null;

  async function api(url) {
    const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.detail || Object.values(body).flat().join(" ") || response.statusText);
    return body;
  }

  function valueText(tag, value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (tag.labels && Object.keys(tag.labels).length) return MillwrightStateBand.labelOf(tag.labels, value);
    const digits = Number.isInteger(value) ? 0 : Math.abs(value) >= 100 ? 1 : 2;
    return MillwrightFormat.number(value, digits);
  }

  function redraw() {
    if (!current || !current.series) return;
    const end = Date.now();
    const start = end - WINDOW_MS;
    const {tag, series} = current;
    // Keep one sample before the window: a step holds its value into it.
    let keep = 0;
    while (keep + 1 < series.t.length && series.t[keep + 1] < start) keep += 1;
    if (keep) for (const k of ["t", "v", "q"]) series[k].splice(0, keep);
    const drawn = MillwrightSpark.draw($(".quick-trend-chart"), {series, start, end, tag});
    const n = series.t.length;
    const bad = n && MillwrightQuality.isBad(series.q[n - 1]);
    $(".quick-trend-value").textContent = n && !bad ? valueText(tag, series.v[n - 1]) : "–";
    const band = $(".quick-trend-chart").dataset.kind === "band";
    $(".quick-trend-min").textContent = band || drawn.min === null ? "" : `${gettext("min")} ${valueText(tag, drawn.min)} ${tag.units}`;
    $(".quick-trend-max").textContent = band || drawn.max === null ? "" : `${gettext("max")} ${valueText(tag, drawn.max)} ${tag.units}`;
    dialog.dataset.points = String(n);
  }

  async function load() {
    const mine = current;
    const end = Date.now();
    const url = new URL(config.plot_url, location.href);
    url.searchParams.set("tags", String(mine.tag.id));
    url.searchParams.set("start", new Date(end - WINDOW_MS).toISOString());
    url.searchParams.set("end", new Date(end + 1000).toISOString());
    url.searchParams.set("pixels", "600");
    const body = await api(url);
    if (mine !== current) return;
    const series = body.tags[0];
    mine.tag.labels = series.labels || {};
    mine.series = {t: series.t.slice(), v: series.v.slice(), q: series.q.slice()};
    dialog.dataset.loaded = String(Number(dialog.dataset.loaded || 0) + 1);
    redraw();
  }

  async function open(tagId, opener) {
    const mine = {tag: {id: tagId, labels: {}, units: ""}, series: null, opener, sequence: ++sequence};
    current = mine;
    dialog.dataset.tag = String(tagId);
    dialog.dataset.points = "0";
    for (const selector of [".quick-trend-title", ".quick-trend-value", ".quick-trend-units", ".quick-trend-min",
                            ".quick-trend-max", ".quick-trend-status"]) $(selector).textContent = "";
    $(".quick-trend-chart").replaceChildren();
    const link = $(".quick-trend-explorer");
    link.hidden = !config.explorer_url;
    if (config.explorer_url) link.href = `${config.explorer_url}?tags=${tagId}&range=3600&follow=1`;
    if (!dialog.open) dialog.showModal();
    try {
      const tag = await api(config.tag_url.replace("/0/", `/${tagId}/`));
      if (mine !== current) return;
      Object.assign(mine.tag, tag);
      $(".quick-trend-title").textContent = tag.path;
      $(".quick-trend-units").textContent = tag.units;
      socket.send({action: "subscribe", machines: [tag.machine]});
      await load();
      clearInterval(tick);
      tick = setInterval(redraw, 5000);
    } catch (error) {
      if (mine === current) $(".quick-trend-status").textContent = error.message;
    }
  }

  function onSamples(message) {
    if (!current || !current.series || message.machine !== current.tag.machine) return;
    let added = false;
    for (const [tagId, at, value, quality] of message.samples) {
      if (tagId !== current.tag.id) continue;
      const s = current.series;
      if (s.t.length && at <= s.t[s.t.length - 1]) continue;  // already in the history read
      s.t.push(at);
      s.v.push(typeof value === "number" ? value : null);
      s.q.push(quality);
      added = true;
    }
    if (added) redraw();
  }

  socket.on("samples", onSamples);
  // After a reconnection the gap is read again, and the machine subscribed again (the server forgot it).
  socket.onOpen(({reconnected}) => {
    if (!current || !dialog.open || !current.tag.machine) return;
    socket.send({action: "subscribe", machines: [current.tag.machine]});
    if (reconnected) load().catch((error) => { $(".quick-trend-status").textContent = error.message; });
  });

  dialog.addEventListener("close", () => {
    clearInterval(tick);
    const opener = current && current.opener;
    current = null;
    if (opener && opener.isConnected) opener.focus();
  });
  $(".quick-trend-close").addEventListener("click", () => dialog.close());
  // A click on the backdrop (outside the dialog's box) closes it too.
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });

  /* The machine page's tag table: each value cell a button to its trend. */
  function markTable() {
    for (const row of document.querySelectorAll("tr[data-tag]")) {
      const cell = row.querySelector("td.num");
      if (cell && !cell.dataset.trendTag) cell.dataset.trendTag = row.dataset.tag;
    }
  }

  function trendTarget(event) {
    const el = event.target.closest("[data-trend-tag]");
    return el && !dialog.contains(el) ? el : null;
  }

  function prepare(el) {
    if (el.tagName === "BUTTON") return;
    el.setAttribute("role", "button");
    el.tabIndex = 0;
    if (!el.title) el.title = gettext("Show its trend");
  }

  // Values a script draws later (the alarm list's rows) are buttons already; clicks reach them by delegation.
  markTable();
  for (const el of document.querySelectorAll("[data-trend-tag]")) prepare(el);

  document.addEventListener("click", (event) => {
    const el = trendTarget(event);
    if (!el) return;
    event.preventDefault();
    event.stopPropagation();
    open(Number(el.dataset.trendTag), el);
  }, true);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    const el = trendTarget(event);
    if (!el || el.tagName === "BUTTON") return;  // a button's own click follows
    event.preventDefault();
    open(Number(el.dataset.trendTag), el);
  });

  return {open};
})();
