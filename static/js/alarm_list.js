/* The live alarm list: a snapshot on (re)connection, then every change pushed to every browser.
   Sorted by priority, then newest first; filtered by category, area, line, priority and state. A security alarm
   (for those who may see one) shows its evidence as text in the row, never as HTML. Acknowledge and shelve go
   through the alarm WebSocket; the server checks permissions and pushes the result to all browsers. */
"use strict";
(() => {
  const ANNUNCIATED = new Set(["unack_active", "ack_active", "unack_rtn", "latched"]);
  const alarms = new Map();
  const can = JSON.parse(document.getElementById("alarm-permissions").textContent);
  const $ = (id) => document.getElementById(id);
  const tbody = $("alarm-rows");

  // Texts of the server's codes, in the page's language (the socket's messages carry codes and English labels).
  const PRIORITY = {critical: gettext("critical"), high: gettext("high"), medium: gettext("medium"), low: gettext("low")};
  const STATE = {
    normal: gettext("Normal"), unack_active: gettext("Unacknowledged, active"),
    ack_active: gettext("Acknowledged, active"), unack_rtn: gettext("Unacknowledged, returned to normal"),
    latched: gettext("Latched, waiting for reset"), shelved: gettext("Shelved"),
    suppressed: gettext("Suppressed by design"), out_of_service: gettext("Out of service"),
  };

  // In the page's time zone (the plant's by default), labelled with it.
  function when(ms) {
    return ms ? MillwrightFormat.when(ms) : "–";
  }

  function formatValue(a) {
    if (a.value === null || a.value === undefined) return "–";
    const abs = Math.abs(a.value);
    const digits = Number.isInteger(a.value) ? 0 : abs >= 100 ? 1 : 2;
    return MillwrightFormat.number(a.value, digits) + (a.units ? " " + a.units : "");
  }

  function shown(a) {
    const area = $("filter-area").value, line = $("filter-line").value;
    const priority = $("filter-priority").value, state = $("filter-state").value;
    const category = $("filter-category") ? $("filter-category").value : "";
    if (!a.listed) return false;
    if (category && a.category !== category) return false;
    if (area && String(a.area_id) !== area) return false;
    if (line && String(a.line_id) !== line) return false;
    if (priority && a.priority !== priority) return false;
    if (state === "annunciated") return ANNUNCIATED.has(a.state);
    if (state === "unacknowledged") return a.unacknowledged;
    if (state !== "all") return a.state === state;
    return true;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function button(label, action, enabled) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset.action = action;
    b.disabled = !enabled;
    return b;
  }

  function messageCell(a) {
    const td = cell(a.message, "message");
    const link = document.createElement("a");
    link.href = $("alarm-table").dataset.detailBase + a.id + "/";
    link.className = "alarm-detail-link";
    link.textContent = gettext("details");
    if (a.category === "security") {
      const badge = document.createElement("span");
      badge.className = "alarm-category";
      badge.textContent = a.repeat_count ? interpolate(gettext("security · seen %(n)s×"), {n: a.repeat_count + 1}, true) : gettext("security");
      const evidence = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = gettext("evidence");
      const pre = document.createElement("pre");
      pre.className = "alarm-evidence";
      pre.textContent = JSON.stringify(a.evidence || {}, null, 2);  // text: a device's strings never become markup
      evidence.append(summary, pre);
      td.append(badge, " ", link, evidence);
    } else {
      td.append(" ", link);
    }
    return td;
  }

  /* The value, a button to its tag's quick trend (static/js/quick_trend.js) where the page has it. */
  function valueCell(a) {
    const td = cell("", "r");
    if (!a.tag_id || !document.getElementById("quick-trend")) {
      td.textContent = formatValue(a);
      return td;
    }
    const b = document.createElement("button");
    b.type = "button";
    b.className = "trend-value";
    b.dataset.trendTag = String(a.tag_id);
    b.textContent = formatValue(a);
    b.title = gettext("Show its trend");
    td.append(b);
    return td;
  }

  function where(a) {
    return a.category === "security" ? `security · ${a.source}` : `${a.machine} · ${a.line} · ${a.area}`;
  }

  function row(a, checked) {
    const tr = document.createElement("tr");
    tr.className = "alarm prio-" + a.priority;
    tr.dataset.alarm = a.id;
    tr.dataset.state = a.state;
    tr.dataset.category = a.category;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = checked;
    box.setAttribute("aria-label", interpolate(gettext("Select %(name)s"), {name: a.name}, true));
    const first = document.createElement("td");
    first.append(box);
    const badge = document.createElement("span");
    badge.className = "prio-badge";
    badge.textContent = PRIORITY[a.priority] || a.priority;
    const prio = document.createElement("td");
    prio.append(badge);
    const actions = document.createElement("td");
    actions.className = "alarm-actions";
    if (a.unacknowledged) actions.append(button(gettext("Ack"), "acknowledge", can.acknowledge));
    if (a.state === "shelved") actions.append(button(gettext("Unshelve"), "unshelve", can.shelve));
    else if (a.state !== "out_of_service") actions.append(button(gettext("Shelve"), "shelve", can.shelve));
    let state = STATE[a.state] || a.state_label;
    if (a.acknowledged_by && a.state === "ack_active") state += " " + interpolate(gettext("by %(name)s"), {name: a.acknowledged_by}, true);
    if (a.shelved_until) state += " " + interpolate(gettext("until %(when)s"), {when: when(a.shelved_until)}, true);
    tr.append(
      first, prio, cell(when(a.active_since)), cell(where(a)), messageCell(a),
      valueCell(a), cell(state, "alarm-state"), actions,
    );
    return tr;
  }

  function render() {
    const checked = new Set(selected());
    const list = [...alarms.values()].filter(shown);
    list.sort((x, y) => x.rank - y.rank || (y.active_since || 0) - (x.active_since || 0) || x.id - y.id);
    tbody.replaceChildren(...list.map((a) => row(a, checked.has(a.id))));
    $("alarm-table").dataset.count = list.length;
    $("alarm-empty").hidden = list.length > 0;
    const unack = list.filter((a) => a.unacknowledged).length;
    $("alarm-summary").textContent = interpolate(gettext("%(shown)s shown, %(unack)s unacknowledged"), {shown: list.length, unack}, true);
  }

  function selected() {
    return [...tbody.querySelectorAll("tr.alarm")]
      .filter((tr) => tr.querySelector("input[type=checkbox]").checked)
      .map((tr) => Number(tr.dataset.alarm));
  }

  function feedback(text, isError) {
    const el = $("alarm-feedback");
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
  }

  function act(action, ids) {
    if (!ids.length) { feedback(gettext("Select at least one alarm."), true); return; }
    const message = {action, alarms: ids, comment: $("alarm-comment").value};
    if (action === "shelve") message.minutes = Number($("shelve-minutes").value);
    MillwrightAlarms.send(message);
  }

  MillwrightAlarms.onOpen(() => MillwrightAlarms.send({action: "snapshot"}));
  MillwrightAlarms.on("snapshot", (m) => {
    alarms.clear();
    for (const a of m.alarms) alarms.set(a.id, a);
    Object.assign(can, m.can);
    render();
    $("alarm-table").dataset.ready = "true";
  });
  MillwrightAlarms.on("alarms", (m) => {
    for (const a of m.alarms) alarms.set(a.id, a);
    render();
  });
  MillwrightAlarms.on("done", (m) => {
    const refused = Object.entries(m.refused).map(([id, why]) => `#${id}: ${why}`);
    feedback(interpolate(gettext("%(action)s: %(n)s done"), {action: m.action, n: m.done.length}, true) + (refused.length ? "; " + interpolate(gettext("refused %(list)s"), {list: refused.join(", ")}, true) : ""), false);
    $("alarm-comment").value = "";
    MillwrightAlarms.clearNew();
  });
  MillwrightAlarms.on("error", (m) => feedback(m.message, true));
  MillwrightAlarms.clearNew();

  // The filter and action forms never submit: their buttons act through the socket.
  for (const id of ["alarm-filters", "alarm-actions"]) $(id).addEventListener("submit", (e) => e.preventDefault());
  for (const id of ["filter-category", "filter-area", "filter-line", "filter-priority", "filter-state"]) $(id)?.addEventListener("change", render);
  $("filter-area").addEventListener("change", () => {
    const area = $("filter-area").value;
    for (const option of $("filter-line").options) option.hidden = Boolean(area && option.dataset.area && option.dataset.area !== area);
  });
  $("select-all").addEventListener("change", (e) => {
    for (const box of tbody.querySelectorAll("input[type=checkbox]")) box.checked = e.target.checked;
  });
  $("ack-selected").addEventListener("click", () => act("acknowledge", selected()));
  $("shelve-selected").addEventListener("click", () => act("shelve", selected()));
  $("unshelve-selected").addEventListener("click", () => act("unshelve", selected()));
  tbody.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (b) act(b.dataset.action, [Number(b.closest("tr").dataset.alarm)]);
  });
})();
