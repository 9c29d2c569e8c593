/* The trend explorer from the keyboard (explorer.js does the work): Enter in the search box adds the first match,
   Down from it walks the results' add buttons; the range presets are one toolbar stop, Left/Right between them;
   removing a pen hands the focus to the next pen's remove button (or back to the search box), never to nowhere. */
"use strict";
(() => {
  const search = document.getElementById("tag-search");
  const results = document.getElementById("search-results");
  const pens = document.getElementById("pens");
  const addButtons = () => [...results.querySelectorAll("button[data-add-tag]:not(:disabled)")];

  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      addButtons()[0]?.click();
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      addButtons()[0]?.focus();
    }
  });
  results.addEventListener("keydown", (e) => {
    const buttons = addButtons();
    const index = buttons.indexOf(e.target);
    if (index < 0) return;
    if (e.key === "ArrowDown") buttons[Math.min(index + 1, buttons.length - 1)].focus();
    else if (e.key === "ArrowUp") (index ? buttons[index - 1] : search).focus();
    else return;
    e.preventDefault();
  });

  // Range presets: a roving tabindex, Left/Right/Home/End between them.
  const presets = [...document.querySelectorAll(".presets [data-range]")];
  function rove(to) {
    presets.forEach((b, i) => { b.tabIndex = i === to ? 0 : -1; });
    presets[to].focus();
  }
  presets.forEach((b, i) => { b.tabIndex = i ? -1 : 0; });
  for (const [i, button] of presets.entries()) {
    button.addEventListener("keydown", (e) => {
      const to = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: presets.length - 1}[e.key];
      if (to === undefined) return;
      e.preventDefault();
      rove((to + presets.length) % presets.length);
    });
  }

  // A removed pen's focus goes to its neighbour.
  let removedAt = null;
  pens.addEventListener("click", (e) => {
    const button = e.target.closest("button");
    if (button && document.activeElement === button) removedAt = [...pens.querySelectorAll("li")].indexOf(button.closest("li"));
  }, true);  // capture: before explorer.js redraws the pens
  new MutationObserver(() => {
    if (removedAt === null) return;
    const buttons = [...pens.querySelectorAll("li button")];
    (buttons[Math.min(removedAt, buttons.length - 1)] || search).focus();
    removedAt = null;
  }).observe(pens, {childList: true});
})();
