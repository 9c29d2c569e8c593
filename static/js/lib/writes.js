/* What writes to the plant share on the pages: the text of a write's state, the number format, building elements
   with text only (nothing user- or PLC-supplied is ever parsed as HTML: the CSP is strict, and so are we). */
"use strict";

const MillwrightWrites = (() => {
  const STATES = {
    armed: "Armed: confirm",
    awaiting_approval: "Awaiting approval",
    executed: "Written",
    confirmed: "Confirmed",
    mismatched: "Mismatched",
    failed: "Failed",
    refused: "Refused",
    expired: "Expired",
  };

  function stateText(state) { return STATES[state] || String(state); }

  function number(value) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "–";
    return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, "");
  }

  /* el("button", {class: "x", type: "button"}, "text"): attributes by setAttribute, content by textContent. */
  function el(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== "") node.textContent = String(text);
    return node;
  }

  function secondsLeft(expiresMs, now = Date.now()) {
    return Math.max(0, Math.ceil((expiresMs - now) / 1000));
  }

  return {stateText, number, el, secondsLeft};
})();
