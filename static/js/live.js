/* Live values of machines over the page's one socket (lib/socket.js); value formatting shared by the pages.
   Server messages: {type: "samples", machine, samples: [[tagId, epochMs, value, quality], ...]}. */
"use strict";

const Millwright = (() => {
  function formatValue(tag, value, quality) {
    // An uncertain value (last usable, quarantined ...) is shown, marked by the page; a bad one is not a value.
    if (value === null || value === undefined || MillwrightQuality.isBad(quality)) return "–";
    if (tag.data_type === "string") return String(value);  // a string tag's value is its text
    const entry = labelEntry(tag, value);
    if (entry) return entry.label;
    if (tag.data_type === "bool") return value ? gettext("on") : gettext("off");
    const abs = Math.abs(value);
    const digits = Number.isInteger(value) ? 0 : abs >= 1000 ? 0 : abs >= 100 ? 1 : 2;
    return MillwrightFormat.number(value, digits);
  }

  // The tag's value label set (page data: {"1": {label, colour}}): the entry of a whole value, or null.
  function labelEntry(tag, value) {
    if (!tag.labels || typeof value !== "number" || !Number.isInteger(value)) return null;
    return Object.prototype.hasOwnProperty.call(tag.labels, String(value)) ? tag.labels[String(value)] : null;
  }

  /* The label's colour as a small swatch before the element's text (CSS .labelled::before); none without one.
     Colours are validated #rrggbb on the server, and a CSS property set through CSSOM cannot carry markup. */
  function showSwatch(el, tag, value, quality) {
    const entry = MillwrightQuality.isBad(quality) ? null : labelEntry(tag, value);
    const colour = entry && entry.colour ? entry.colour : "";
    el.classList.toggle("labelled", Boolean(colour));
    if (colour) el.style.setProperty("--swatch", colour);
    else el.style.removeProperty("--swatch");
  }

  function stateClass(label) {
    return "state-" + String(label || "unknown").toLowerCase().replace(/[^a-z]+/g, "-");
  }

  /* connect({machines, onSamples, onReady, onDevice}): subscribes on every (re)connection. onReady({reconnected})
     runs once the server has joined us to the machines' groups (from then on nothing is missed), on the first
     connection too, so a page loads its history there and fills the gap after a reconnection the same way.
     onDevice(device) gets each device link status pushed by the pollers ({id, name, status, retries, last_error,
     last_good_read}). */
  function connect({machines, onSamples, onReady, onDevice}) {
    const socket = MillwrightSocket.page();
    if (machines.length) {
      socket.expect("subscribed");
      socket.onOpen(() => socket.send({action: "subscribe", machines}));
    }
    socket.on("samples", (message) => onSamples(message.machine, message.samples));
    if (onDevice) socket.on("device", (message) => onDevice(message.device));
    socket.on("error", (message) => { if (message.stream !== "alarms") console.warn("live:", message.message); });
    if (onReady) socket.onReady(onReady);
  }

  return {connect, formatValue, labelEntry, showSwatch, stateClass};
})();
