/* The alarm list from the keyboard (alarm_list.js draws the rows): one row at a time is in the tab order (a roving
   tabindex); Up/Down/Home/End move between rows, Space selects the row, A acknowledges it, S shelves it,
   U unshelves it, Enter opens its details. The list is redrawn on every change pushed by the server; the row
   that had the focus gets it back (or its neighbour, when it left the list). */
"use strict";
(() => {
  const tbody = document.getElementById("alarm-rows");
  const KEYS = {a: "acknowledge", s: "shelve", u: "unshelve"};
  let current = null;  // the alarm id of the row in the tab order
  let currentIndex = 0;
  let hadFocus = false;

  const rows = () => [...tbody.querySelectorAll("tr.alarm")];

  function roving(focus) {
    const list = rows();
    if (!list.length) return;
    let index = list.findIndex((tr) => tr.dataset.alarm === current);
    if (index < 0) index = Math.min(currentIndex, list.length - 1);
    list.forEach((tr, i) => {
      tr.tabIndex = i === index ? 0 : -1;
      tr.setAttribute("aria-keyshortcuts", "ArrowUp ArrowDown Space A S U Enter");
    });
    current = list[index].dataset.alarm;
    currentIndex = index;
    if (focus) list[index].focus();
  }

  function move(to) {
    const list = rows();
    if (!list.length) return;
    currentIndex = Math.max(0, Math.min(list.length - 1, to));
    current = list[currentIndex].dataset.alarm;
    roving(true);
  }

  tbody.addEventListener("focusin", (e) => {
    const tr = e.target.closest("tr.alarm");
    if (!tr) return;
    current = tr.dataset.alarm;
    currentIndex = rows().indexOf(tr);
    hadFocus = true;
    roving(false);
  });
  tbody.addEventListener("focusout", (e) => {
    // A row removed by a redraw takes the focus with it (relatedTarget null): the redraw gives it back.
    if (e.relatedTarget && !tbody.contains(e.relatedTarget)) hadFocus = false;
  });

  tbody.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr.alarm");
    if (!tr || e.altKey || e.ctrlKey || e.metaKey) return;
    const index = rows().indexOf(tr);
    const onRow = e.target === tr;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (key === "ArrowDown") move(index + 1);
    else if (key === "ArrowUp") move(index - 1);
    else if (key === "Home") move(0);
    else if (key === "End") move(rows().length - 1);
    else if (key === " " && onRow) {
      const box = tr.querySelector("input[type=checkbox]");
      box.checked = !box.checked;
    } else if (key === "Enter" && onRow) tr.querySelector("a.alarm-detail-link")?.click();
    else if (KEYS[key] && onRow) {
      const button = tr.querySelector(`button[data-action="${KEYS[key]}"]`);
      if (button && !button.disabled) button.click();
    } else return;
    e.preventDefault();
  });

  // Redrawn: the focused row again, by its alarm id.
  new MutationObserver(() => {
    const refocus = hadFocus && (document.activeElement === document.body || !document.activeElement);
    roving(refocus);
  }).observe(tbody, {childList: true});

  const help = document.createElement("p");
  help.className = "alarm-keys-help";
  help.id = "alarm-keys-help";
  help.textContent = gettext("Keyboard: ↑ ↓ move between alarms, Space selects, A acknowledges, S shelves, U unshelves, Enter opens.");
  document.getElementById("alarm-table").before(help);
  tbody.setAttribute("aria-describedby", help.id);
})();
