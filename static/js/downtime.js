/* The downtime list of a line (production/templates/production/line_downtime.html): the line's stops over the
   page's one socket (lib/socket.js), unclassified first, updated live as stops open, close, are classified, split
   or commented anywhere. The selected stop (the newest unclassified one unless the operator picks another) is
   classified with two taps: its category, then its reason. What operators typed is shown as text, never as HTML. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("downtime-config").textContent);
  const socket = MillwrightSocket.page();
  const stops = new Map();
  let can = config.can_classify;
  let selected = null;
  let chosenCategory = null;
  let pickedByHand = false;

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function clock(ms) {
    const d = new Date(ms);
    return MillwrightFormat.when(d);
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  /* An open stop's length from the server's figure and the time since it arrived: a panel PC's clock may be off. */
  function seconds(stop) {
    return stop.open ? stop.duration_s + (Date.now() - stop.received) / 1000 : stop.duration_s;
  }

  function keep(stop) {
    stop.received = Date.now();
    stops.set(stop.id, stop);
  }

  function reasonText(stop) {
    if (!stop.reason) return "Unclassified";
    return `${stop.reason.category} / ${stop.reason.name}`;
  }

  function sorted() {
    return [...stops.values()].sort((a, b) => (b.unclassified - a.unclassified) || (b.start - a.start) || (b.id - a.id));
  }

  function row(stop) {
    const li = el("li", "stop");
    li.dataset.stop = stop.id;
    li.dataset.state = stop.state;
    li.dataset.unclassified = String(stop.unclassified);
    li.dataset.reason = stop.reason ? stop.reason.name : "";
    if (stop.reason_required) li.classList.add("required");
    if (stop.id === selected) li.classList.add("selected");
    li.tabIndex = 0;
    li.setAttribute("role", "button");
    const head = el("div", "stop-head");
    head.append(el("span", "machine-name", stop.machine), el("span", `state-badge state-${stop.state}`, stop.state_label));
    const when = el("div", "stop-when");
    when.append(
      el("span", null, stop.open ? `since ${clock(stop.start)}` : `${clock(stop.start)} – ${clock(stop.end)}`),
      el("span", "duration", duration(seconds(stop))),
    );
    when.lastChild.dataset.stop = stop.id;
    when.lastChild.dataset.open = String(stop.open);
    const reason = el("div", "stop-reason");
    reason.append(el("span", stop.reason ? "reason" : "reason unclassified", reasonText(stop)));
    if (stop.auto_classified) reason.append(el("span", "auto-badge", "automatic"));
    if (stop.overridden && stop.auto_reason) reason.append(el("span", "auto-overridden", `auto: ${stop.auto_reason.name}`));
    li.append(head, when, reason);
    if (stop.product) li.append(el("div", "stop-product", `product ${stop.product}`));
    if (stop.comment) li.append(el("div", "stop-comment", stop.comment));
    if (stop.classified_by) li.append(el("div", "stop-by", `by ${stop.classified_by}`));
    return li;
  }

  function autoSelect() {
    if (selected !== null && stops.has(selected) && (pickedByHand || stops.get(selected).unclassified)) return;
    pickedByHand = false;
    // The newest stop that needs a reason (longer than the machine's "reason required"), else any unclassified one.
    const list = sorted();
    const first = list.find((s) => s.unclassified && s.reason_required) || list.find((s) => s.unclassified);
    selected = first ? first.id : null;
    chosenCategory = null;
  }

  function render() {
    autoSelect();
    const list = sorted();
    $("stops").replaceChildren(...list.map(row));
    $("stops").dataset.count = list.length;
    const open = list.filter((s) => s.unclassified).length;
    const summary = $("downtime-summary");
    summary.classList.toggle("empty", list.length === 0);
    summary.textContent = list.length
      ? `${list.length} stops in the last ${config.hours} hours, ${open} unclassified`
      : `No stops in the last ${config.hours} hours.`;
    renderPanel();
  }

  function choice(label, data) {
    const b = el("button", "choice", label);
    b.type = "button";
    for (const [k, v] of Object.entries(data)) b.dataset[k] = v;
    return b;
  }

  function toLocalInput(ms) {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 19);
  }

  function renderPanel() {
    const panel = $("stop-panel");
    const stop = selected !== null ? stops.get(selected) : null;
    panel.hidden = !stop;
    if (!stop) return;
    panel.dataset.stop = stop.id;
    $("panel-title").textContent = `${stop.machine} · ${stop.state_label}`;
    const auto = stop.auto_reason ? ` · automatic: ${stop.auto_reason.name}` : "";
    $("panel-detail").textContent =
      `${stop.open ? "since " + clock(stop.start) : clock(stop.start) + " – " + clock(stop.end)} · ${reasonText(stop)}${auto}`;
    for (const id of ["picker", "comment-form", "split-form"]) $(id).hidden = !can;
    if (!can) return;
    const categories = $("picker-categories"), reasons = $("picker-reasons");
    const category = config.reasons.find((c) => c.id === chosenCategory);
    categories.hidden = Boolean(category);
    reasons.hidden = !category;
    $("picker-back").hidden = !category;
    $("picker-auto").hidden = !(stop.auto_reason && stop.overridden);
    $("picker-step").textContent = category ? interpolate(gettext("2. Reason in %(category)s"), {category: category.name}, true) : gettext("1. Category");
    categories.replaceChildren(...config.reasons.map((c) => choice(c.name, {category: c.id})));
    reasons.replaceChildren(...(category ? category.reasons.map((r) => choice(r.name, {reason: r.id})) : []));
    if (document.activeElement !== $("comment-text")) $("comment-text").value = stop.comment;
    if (document.activeElement !== $("split-at")) {
      $("split-at").value = toLocalInput(stop.start + seconds(stop) * 500);
    }
  }

  function feedback(text, isError) {
    const f = $("downtime-feedback");
    f.textContent = text;
    f.classList.toggle("error", Boolean(isError));
  }

  function send(message) {
    socket.send(message);
    feedback(gettext("Sending…"), false);
  }

  function subscribe() { socket.send({action: "downtime_subscribe", line: config.line, hours: config.hours}); }

  socket.expect("downtime_snapshot");
  socket.onOpen(subscribe);
  socket.on("downtime_snapshot", (m) => {
    if (m.line !== config.line) return;
    stops.clear();
    for (const s of m.stops) keep(s);
    can = m.can_classify;
    render();
    $("stops").dataset.ready = "true";
  });
  socket.on("downtime", (m) => {
    if (m.line !== config.line) return;
    if (m.resync) { subscribe(); return; }
    for (const [id, s] of stops) {
      if (s.machine_id === m.machine && (s.end === null || s.end >= m.since)) stops.delete(id);
    }
    for (const s of m.stops) keep(s);
    render();
  });
  socket.on("downtime_done", (m) => {
    const what = {downtime_classify: "Classified", downtime_comment: "Comment saved", downtime_split: "Split"}[m.action];
    feedback(what || gettext("Done"), false);
  });
  socket.on("error", (m) => { if (m.stream === "downtime") feedback(m.message, true); });
  socket.onDown(({final}) => feedback(final ? gettext("No connection (no right).") : gettext("Connection lost: reconnecting…"), true));

  function pick(li) {
    selected = Number(li.dataset.stop);
    pickedByHand = true;
    chosenCategory = null;
    render();
  }
  $("stops").addEventListener("click", (e) => { const li = e.target.closest("li.stop"); if (li) pick(li); });
  $("stops").addEventListener("keydown", (e) => {
    const li = e.target.closest("li.stop");
    if (li && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); pick(li); }
  });
  $("picker-categories").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-category]");
    if (!b) return;
    chosenCategory = Number(b.dataset.category);
    renderPanel();
  });
  $("picker-reasons").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-reason]");
    if (!b || selected === null) return;
    send({action: "downtime_classify", interval: selected, reason: Number(b.dataset.reason)});
    chosenCategory = null;
    pickedByHand = false;
  });
  $("picker-back").addEventListener("click", () => { chosenCategory = null; renderPanel(); });
  $("picker-auto").addEventListener("click", () => {
    if (selected !== null) send({action: "downtime_classify", interval: selected, reason: null});
  });
  $("comment-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (selected !== null) send({action: "downtime_comment", interval: selected, comment: $("comment-text").value});
    $("comment-text").blur();
  });
  $("split-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const at = new Date($("split-at").value).getTime();
    if (selected === null || Number.isNaN(at)) { feedback(gettext("Give the instant to split at."), true); return; }
    send({action: "downtime_split", interval: selected, at});
    $("split-at").blur();
  });
  // Open stops' durations grow while the page is open.
  setInterval(() => {
    for (const d of document.querySelectorAll('#stops .duration[data-open="true"]')) {
      const stop = stops.get(Number(d.dataset.stop));
      if (stop) d.textContent = duration(seconds(stop));
    }
  }, 1000);
})();
