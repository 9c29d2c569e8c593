/* The alarm banner on every page: counts per priority (unacknowledged in brackets), a NEW indicator and an
   optional beep when an alarm is annunciated. Alarms come over the page's one socket (lib/socket.js); the alarm
   list page listens and sends through window.MillwrightAlarms. */
"use strict";

const MillwrightAlarms = (() => {
  const PRIORITIES = ["critical", "high", "medium", "low"];
  const SOUND_KEY = "millwright.alarmSound";
  const socket = MillwrightSocket.page();
  let audio = null;

  function showCounts(counts) {
    const banner = document.getElementById("alarm-banner");
    if (!banner || !counts) return;
    banner.dataset.unacknowledged = counts.total_unacknowledged;
    for (const p of PRIORITIES) {
      const el = banner.querySelector(`[data-priority="${p}"]`);
      if (!el) continue;
      el.dataset.count = counts.active[p];
      el.querySelector("b").textContent = counts.active[p];
      el.querySelector("small").textContent = `(${counts.unacknowledged[p]})`;
    }
    const security = document.getElementById("alarm-security");  // only for those who may see security alarms
    if (security && counts.security !== undefined) {
      security.dataset.count = counts.security;
      security.querySelector("b").textContent = counts.security;
      security.querySelector("small").textContent = `(${counts.security_unacknowledged})`;
    }
  }

  function soundOn() { return localStorage.getItem(SOUND_KEY) === "on"; }

  function showSound() {
    const button = document.getElementById("alarm-sound");
    if (!button) return;
    button.setAttribute("aria-pressed", String(soundOn()));
    button.textContent = soundOn() ? gettext("sound on") : gettext("sound off");
  }

  function beep() {
    if (!soundOn()) return;
    try {
      audio = audio || new AudioContext();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.35);
    } catch (e) { /* no audio on this device */ }
  }

  function flagNew() {
    const el = document.getElementById("alarm-new");
    if (el) el.hidden = false;
    beep();
  }

  function clearNew() {
    const el = document.getElementById("alarm-new");
    if (el) el.hidden = true;
  }

  socket.onOpen(() => document.getElementById("alarm-banner")?.classList.remove("offline"));
  socket.onDown(() => document.getElementById("alarm-banner")?.classList.add("offline"));
  socket.on("counts", (message) => showCounts(message.counts));
  socket.on("snapshot", (message) => showCounts(message.counts));
  socket.on("alarms", (message) => {
    showCounts(message.counts);
    if (message.new && message.new.length) flagNew();
  });

  document.getElementById("alarm-sound")?.addEventListener("click", () => {
    localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on");
    showSound();
    beep();  // also unlocks audio: browsers only play after a user gesture
  });
  showSound();
  return {
    on: (type, fn) => socket.on(type, type === "error" ? (m) => { if (m.stream !== "live") fn(m); } : fn),
    onOpen: socket.onOpen,
    send: socket.send,
    clearNew,
  };
})();
window.MillwrightAlarms = MillwrightAlarms;
