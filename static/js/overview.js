"use strict";
(() => {
  const machines = JSON.parse(document.getElementById("machines-data").textContent);
  const tags = new Map();
  for (const m of machines) for (const t of m.tags) tags.set(t.id, {...t, machine: m.id, isState: t.id === m.state_tag});

  function show(tagId, value, quality) {
    const tag = tags.get(tagId);
    if (!tag) return;
    const text = Millwright.formatValue(tag, value, quality);
    if (tag.isState) {
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
    el.parentElement.parentElement.classList.toggle("bad", MillwrightQuality.isBad(quality));
    el.parentElement.parentElement.classList.toggle("uncertain", MillwrightQuality.isUncertain(quality));
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
    if (lastGood) parts.push("last good read " + Math.max(0, Math.round((Date.now() - lastGood) / 1000)) + " s ago");
    if (Number(detail.dataset.retries)) parts.push("retry " + detail.dataset.retries);
    detail.textContent = parts.join(" · ");
  }

  for (const tag of tags.values()) show(tag.id, tag.value, tag.quality);
  for (const el of document.querySelectorAll(".device")) describeDevice(el);
  setInterval(() => { for (const el of document.querySelectorAll(".device")) describeDevice(el); }, 1000);
  Millwright.connect({
    machines: machines.map((m) => m.id),
    onSamples: (machine, samples) => { for (const [tagId, , value, quality] of samples) show(tagId, value, quality); },
    onDevice: showDevice,
  });
})();
