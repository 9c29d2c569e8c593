/* Tables read as cards on a phone (static/css/responsive.css): every cell gets its column's heading as
   data-label, for the card to show beside the value. Cells of rows drawn later by a page's script (the alarm list,
   the journal) are labelled as they arrive. */
"use strict";
(() => {
  function label(table) {
    const head = table.tHead && table.tHead.rows[0];
    if (!head) return;
    const names = [...head.cells].map((th) => th.textContent.trim() || th.getAttribute("aria-label") || "");
    for (const body of table.tBodies) {
      for (const row of body.rows) {
        [...row.cells].forEach((cell, i) => {
          if (!cell.hasAttribute("data-label")) cell.dataset.label = names[i] || "";
        });
      }
    }
  }

  function watch(table) {
    label(table);
    new MutationObserver(() => label(table)).observe(table, {childList: true, subtree: true});
  }

  for (const table of document.querySelectorAll("main table")) watch(table);
})();
