/* The alarm banner on every page: counts per priority (unacknowledged in brackets), a NEW indicator and an
   optional beep when an alarm is annunciated. Owns the page's one alarm WebSocket; the alarm list page listens
   and sends through window.MillwrightAlarms. */
"use strict";

const MillwrightAlarms = (() => {
  const PRIORITIES = ["critical", "high", "medium", "low"];
  const SOUND_KEY = "millwright.alarmSound";
  const listeners = {};
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/alarms/";
  let socket = null;
  let attempts = 0;
  let queue = [];
  let audio = null;

  function on(type, fn) { (listeners[type] = listeners[type] || []).push(fn); }
  function emit(type, message) { for (const fn of listeners[type] || []) fn(message); }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    else queue.push(message);
  }

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
  }

  function soundOn() { return localStorage.getItem(SOUND_KEY) === "on"; }

  function showSound() {
    const button = document.getElementById("alarm-sound");
    if (!button) return;
    button.setAttribute("aria-pressed", String(soundOn()));
    button.textContent = soundOn() ? "sound on" : "sound off";
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

  // Pages without live values (alarms, history ...) show this socket's state in the top bar's link indicator.
  function linkStatus(state) {
    const el = document.getElementById("link-status");
    if (!el || typeof Millwright !== "undefined") return;
    el.dataset.state = state;
    el.textContent = {live: "live", down: "reconnecting"}[state];
  }

  function open() {
    socket = new WebSocket(url);
    socket.onopen = () => {
      attempts = 0;
      linkStatus("live");
      document.getElementById("alarm-banner")?.classList.remove("offline");
      emit("open", {});
      const pending = queue;
      queue = [];
      for (const m of pending) socket.send(JSON.stringify(m));
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.counts) showCounts(message.counts);
      if (message.type === "alarms" && message.new && message.new.length) flagNew();
      emit(message.type, message);
    };
    socket.onclose = (event) => {
      if (event.code === 4401 || event.code === 4403) return;  // signed out, or no alarm rights
      document.getElementById("alarm-banner")?.classList.add("offline");
      linkStatus("down");
      attempts += 1;
      setTimeout(open, Math.min(10000, 500 * 2 ** Math.min(attempts, 5)) * (0.5 + Math.random() / 2));
    };
  }

  document.getElementById("alarm-sound")?.addEventListener("click", () => {
    localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on");
    showSound();
    beep();  // also unlocks audio: browsers only play after a user gesture
  });
  showSound();
  open();
  return {on, send, clearNew};
})();
window.MillwrightAlarms = MillwrightAlarms;
