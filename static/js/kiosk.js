/* The wall screen (dashboards' kiosk page): one line at a time, full screen, the next one every `cycle_seconds`;
   the line shown gets its current-shift OEE live (the OEE stream of the page's socket, one line per socket).
   Nothing to press: it keeps itself going. The socket reconnects by itself after a network blip or a server
   restart (lib/socket.js), fills what it missed (glance.js reads the sparklines again), and a session that ends
   sends the page to the login page (4401). */
"use strict";
(() => {
  const config = JSON.parse(document.getElementById("kiosk-config").textContent);
  const sections = [...document.querySelectorAll("section.line")];
  const socket = MillwrightSocket.page();
  let index = 0;

  function show(i) {
    index = sections.length ? i % sections.length : 0;
    sections.forEach((section, k) => { section.hidden = k !== index; });
    const section = sections[index];
    if (!section) return;
    const line = Number(section.dataset.line);
    document.body.dataset.shownLine = String(line);
    document.getElementById("kiosk-line").textContent = section.querySelector("h2").textContent.trim();
    document.getElementById("kiosk-pages").textContent = sections.length > 1 ? `${index + 1} / ${sections.length}` : "";
    socket.send({action: "oee_subscribe", line});
  }

  function clock() {
    document.getElementById("kiosk-clock").textContent = MillwrightFormat.time(new Date(), {seconds: false});
  }

  // After a reconnection the server has forgotten the OEE subscription: ask again for the line shown.
  socket.onOpen(({reconnected}) => { if (reconnected && sections.length) show(index); });
  socket.on("error", (message) => { if (message.stream === "oee") console.warn("oee:", message.message); });
  show(0);
  clock();
  setInterval(clock, 10000);
  if (sections.length > 1) setInterval(() => show(index + 1), config.cycle_seconds * 1000);
})();
