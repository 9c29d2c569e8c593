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
      el.className = "state " + Millwright.stateClass(Millwright.isGood(quality) ? text : "bad");
      return;
    }
    const el = document.querySelector(`.value[data-tag="${tagId}"] .num`);
    if (!el) return;
    el.textContent = text;
    el.parentElement.parentElement.classList.toggle("bad", !Millwright.isGood(quality));
  }

  for (const tag of tags.values()) show(tag.id, tag.value, tag.quality);
  Millwright.connect({
    machines: machines.map((m) => m.id),
    onSamples: (machine, samples) => { for (const [tagId, , value, quality] of samples) show(tagId, value, quality); },
  });
})();
