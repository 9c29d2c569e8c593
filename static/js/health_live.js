// What both health pages share: reading the page socket's health frames (maintenance/consumers.py) into text.
"use strict";

const MillwrightHealth = (() => {
  const fixed = (x, digits) => (x === null || x === undefined ? null : Number(x).toFixed(digits));
  return {
    scoreText: (score) => (score === null || score === undefined ? "–" : fixed(score, 2)),
    rulText: (rul) => (rul && rul.median_h !== null
      ? `${fixed(rul.median_h, 1)} h (${fixed(rul.low_h, 1)}–${rul.high_h === null ? "∞" : fixed(rul.high_h, 1)} h)`
      : "no trend"),
    timeText: (ms) => new Date(ms).toISOString().slice(0, 16).replace("T", " "),
    // Plotly's dates as the page's data has them (isoformat with an offset).
    plotTime: (ms) => new Date(ms).toISOString().replace("Z", "+00:00"),
    // Subscribe on every (re)connection; `onFrame(frame)` for each machine's frame, the snapshot's included.
    subscribe(onFrame) {
      const socket = MillwrightSocket.page();
      socket.expect("health_snapshot");
      socket.onOpen(() => socket.send({action: "health_subscribe"}));
      socket.on("health_snapshot", (m) => m.machines.forEach(onFrame));
      socket.on("health", onFrame);
      return socket;
    },
  };
})();
