/* Millwright live connection: one WebSocket per page, subscribes to machines, reconnects by itself.
   Server messages: {type: "samples", machine, samples: [[tagId, epochMs, value, quality], ...]}. */
"use strict";

const Millwright = (() => {
  const QUALITY_GOOD = 0xc0;

  function qualityLabel(q) {
    if (q === null || q === undefined) return "–";
    if ((q & 0xc0) === 0xc0) return "good";
    if ((q & 0xc0) === 0x40) return "uncertain";
    const sub = {0x04: "config error", 0x08: "not connected", 0x0c: "device failure", 0x10: "sensor failure",
                 0x14: "last known", 0x18: "comm failure", 0x1c: "out of service",
                 0x24: "no data: acquisition down"}[q & 0xfc];
    return sub ? "bad: " + sub : "bad";
  }

  function isGood(q) { return (q & 0xc0) === QUALITY_GOOD; }

  function formatValue(tag, value, quality) {
    if (value === null || value === undefined || !isGood(quality)) return "–";
    if (tag.data_type === "string") return String(value);  // a string tag's value is its text
    if (tag.labels && Object.keys(tag.labels).length) {
      const label = tag.labels[String(Math.round(value))];
      if (label) return label;
    }
    if (tag.data_type === "bool") return value ? "on" : "off";
    const abs = Math.abs(value);
    const digits = Number.isInteger(value) ? 0 : abs >= 1000 ? 0 : abs >= 100 ? 1 : 2;
    return value.toLocaleString(undefined, {minimumFractionDigits: digits, maximumFractionDigits: digits});
  }

  function stateClass(label) {
    return "state-" + String(label || "unknown").toLowerCase().replace(/[^a-z]+/g, "-");
  }

  function setLinkStatus(state) {
    const el = document.getElementById("link-status");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = {live: "live", connecting: "connecting", down: "reconnecting"}[state] || state;
  }

  /* connect({machines, onSamples, onReconnect, onDevice}): onReconnect runs after every reconnection (not the
     first connection) so that a page can fetch what it missed while the link was down; onDevice(device) gets
     each device link status pushed by the pollers ({id, name, status, retries, last_error, last_good_read}). */
  function connect({machines, onSamples, onReconnect, onDevice}) {
    let socket = null;
    let attempts = 0;
    let everConnected = false;
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/live/";

    function open() {
      setLinkStatus(everConnected ? "down" : "connecting");
      socket = new WebSocket(url);
      socket.onopen = () => {
        attempts = 0;
        if (machines.length) socket.send(JSON.stringify({action: "subscribe", machines}));
        else { setLinkStatus("live"); everConnected = true; }  // nothing to subscribe to (device status only)
      };
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "subscribed") {
          // Live only once the server has joined us to the machines' groups: from here on nothing is missed,
          // so this is also the moment to fetch what a reconnection skipped.
          setLinkStatus("live");
          if (everConnected && onReconnect) onReconnect();
          everConnected = true;
        } else if (message.type === "samples") onSamples(message.machine, message.samples);
        else if (message.type === "device") { if (onDevice) onDevice(message.device); }
        else if (message.type === "error") console.warn("live:", message.message);
      };
      socket.onclose = (event) => {
        if (event.code === 4401) { location.reload(); return; }  // session ended: the login page follows
        setLinkStatus("down");
        attempts += 1;
        const delay = Math.min(10000, 500 * 2 ** Math.min(attempts, 5)) * (0.5 + Math.random() / 2);
        setTimeout(open, delay);
      };
    }
    open();
    return {close: () => socket && socket.close()};
  }

  return {connect, formatValue, qualityLabel, isGood, stateClass};
})();
