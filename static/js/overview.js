"use strict";
(() => {
  const machines = JSON.parse(document.getElementById("machines-data").textContent);
  const tags = new Map();
  for (const m of machines) for (const t of m.tags) tags.set(t.id, {...t, machine: m.id, isState: t.id === m.state_tag});

  /* Current-shift OEE and "state since" (production.queries.pages.overview_production): ages counted on the
     server's clock (a panel PC's may be off), restarted when the state tag's value changes. */
  const offset = JSON.parse(document.getElementById("server-now").textContent) - Date.now();
  const since = new Map();
  const lastState = new Map();

  function age(ms) {
    const s = Math.max(0, Math.round((Date.now() + offset - ms) / 1000));
    if (s < 60) return interpolate(gettext("%(s)s s"), {s}, true);
    const m = Math.floor(s / 60);
    if (m < 60) return interpolate(gettext("%(m)s min"), {m}, true);
    return interpolate(gettext("%(h)s h %(m)s min"), {h: Math.floor(m / 60), m: m % 60}, true);
  }

  function showSince() {
    for (const [machine, ms] of since) {
      const el = document.querySelector(`[data-since-for="${machine}"]`);
      if (el) el.textContent = interpolate(gettext("for %(age)s"), {age: age(ms)}, true);
    }
  }

  function showProduction(machine, p) {
    const el = document.querySelector(`[data-oee-for="${machine}"]`);
    if (el && p) {
      el.textContent = p.oee === null ? gettext("OEE –") : interpolate(gettext("OEE %(oee)s %%"), {oee: MillwrightFormat.number(p.oee * 100, 1)}, true);
      el.dataset.oee = p.oee === null ? "" : p.oee;
    }
    if (p && p.since) since.set(machine, p.since);
  }

  for (const m of machines) showProduction(m.id, m.production);

  function show(tagId, value, quality, at) {
    const tag = tags.get(tagId);
    if (!tag) return;
    const text = Millwright.formatValue(tag, value, quality);
    if (tag.isState) {
      if (at !== undefined && lastState.has(tag.machine) && lastState.get(tag.machine) !== value) since.set(tag.machine, at);
      lastState.set(tag.machine, value);
      showSince();
      const el = document.querySelector(`[data-state-for="${tag.machine}"]`);
      if (!el) return;
      el.textContent = text;
      el.className = "state " + Millwright.stateClass(MillwrightQuality.isBad(quality) ? "bad" : text);
      Millwright.showSwatch(el, tag, value, quality);
      return;
    }
    const el = document.querySelector(`.value[data-tag="${tagId}"] .num`);
    if (!el) return;
    el.textContent = text;
    Millwright.showSwatch(el, tag, value, quality);
    el.closest(".value").classList.toggle("bad", MillwrightQuality.isBad(quality));
    el.closest(".value").classList.toggle("uncertain", MillwrightQuality.isUncertain(quality));
  }

  function showDevice(device) {
    const el = document.querySelector(`.device[data-device="${device.id}"]`);
    if (!el) return;
    el.dataset.status = device.status;
    el.querySelector(".device-status").textContent = device.status;
    const detail = el.querySelector(".device-detail");
    detail.dataset.lastGood = device.last_good_read || "";
    detail.dataset.retries = device.retries;
    el.querySelector(".device-error").textContent = device.last_error || "";
    describeDevice(el);
  }

  /* "last good read 3 s ago", "retry 4", refreshed every second so the age keeps counting between polls. */
  function describeDevice(el) {
    const detail = el.querySelector(".device-detail");
    const parts = [];
    const lastGood = Number(detail.dataset.lastGood);
    if (lastGood) parts.push(interpolate(gettext("last good read %(s)s s ago"), {s: Math.max(0, Math.round((Date.now() - lastGood) / 1000))}, true));
    if (Number(detail.dataset.retries)) parts.push(interpolate(gettext("retry %(n)s"), {n: detail.dataset.retries}, true));
    detail.textContent = parts.join(" · ");
  }

  for (const tag of tags.values()) show(tag.id, tag.value, tag.quality);
  for (const el of document.querySelectorAll(".device")) describeDevice(el);
  showSince();
  setInterval(() => { for (const el of document.querySelectorAll(".device")) describeDevice(el); showSince(); }, 1000);
  /* The same figures pushed by the server (production/consumers.py OverviewStream) when a stop of a card's line
     changes and every 15 s: the current shift's OEE moves with the counters, state since with the intervals. */
  if (machines.length) {
    const socket = MillwrightSocket.page();
    socket.onOpen(() => socket.send({action: "overview_subscribe", machines: machines.map((m) => m.id)}));
    socket.on("overview_production", (message) => {
      for (const [machine, p] of Object.entries(message.machines)) showProduction(Number(machine), p);
      showSince();
    });
  }
  Millwright.connect({
    machines: machines.map((m) => m.id),
    onSamples: (machine, samples) => { for (const [tagId, at, value, quality] of samples) show(tagId, value, quality, at); },
    onDevice: showDevice,
  });
})();
