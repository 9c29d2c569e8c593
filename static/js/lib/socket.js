/* The page's one WebSocket (/ws/page/: live values and alarms on one connection) and the reconnection rules every
   page shares.

   Reconnection: exponential backoff with jitter. The backoff resets only once a socket has stayed up for
   STABLE_MS, not when it opens: a server that accepts then closes (Redis away, say) must not be hammered.
   Close codes: 4401 (signed out, session expired or ended) reloads the page, which the server answers with the
   login page; 4403 (no right to any stream) stops retrying.
   Gap fill: a page registers onReady(({reconnected}) => ...); it runs once the socket is open and every message
   the page waits for (expect(type), e.g. "subscribed") has arrived, so nothing pushed from then on is missed and
   the page can fetch what came before. */
"use strict";

const MillwrightSocket = (() => {
  const STABLE_MS = 10000;
  const BASE_MS = 500;
  const MAX_MS = 10000;

  /* Delay before reconnection attempt number `attempts` (1, 2, ...): 1 s, 2 s, 4 s ... up to 10 s, each
     randomised to 50-100 % so that many pages do not come back in step after a server restart. */
  function backoffDelay(attempts) {
    return Math.min(MAX_MS, BASE_MS * 2 ** Math.min(attempts, 5)) * (0.5 + Math.random() / 2);
  }

  function socketUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  /* A self-reconnecting socket: onOpen(reconnected), onMessage(object), onDown() after an unexpected close. */
  function reconnecting({path, onOpen, onMessage, onDown, stableMs = STABLE_MS}) {
    let socket = null;
    let attempts = 0;
    let opened = false;
    let stableTimer = null;
    let stopped = false;

    function open() {
      socket = new WebSocket(socketUrl(path));
      socket.onopen = () => {
        stableTimer = setTimeout(() => { attempts = 0; }, stableMs);
        const reconnected = opened;
        opened = true;
        onOpen(reconnected);
      };
      socket.onmessage = (event) => onMessage(JSON.parse(event.data));
      socket.onclose = (event) => {
        clearTimeout(stableTimer);
        if (stopped) return;
        if (event.code === 4401) { stopped = true; location.reload(); return; }  // the login page follows
        if (event.code === 4403) { stopped = true; if (onDown) onDown(true); return; }  // no right: no retry
        if (onDown) onDown(false);
        attempts += 1;
        setTimeout(open, backoffDelay(attempts));
      };
    }

    open();
    return {
      send: (message) => {
        if (!socket || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify(message));
        return true;
      },
      close: () => { stopped = true; if (socket) socket.close(); },
    };
  }

  function setLinkStatus(state) {
    const el = document.getElementById("link-status");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = {live: gettext("live"), connecting: gettext("connecting"), down: gettext("reconnecting"), off: gettext("off")}[state] || state;
  }

  /* The page connection, created on first use and opened once the page's scripts have all registered. */
  function createPage() {
    const listeners = {};
    const openHooks = [];
    const readyHooks = [];
    const downHooks = [];
    const expected = new Set();
    let waiting = new Set();
    let reconnected = false;
    let queue = [];
    let conn = null;

    function emit(type, message) { for (const fn of listeners[type] || []) fn(message); }

    function ready() {
      setLinkStatus("live");
      for (const fn of readyHooks) fn({reconnected});
    }

    function start() {
      setLinkStatus("connecting");
      conn = reconnecting({
        path: "/ws/page/",
        onOpen: (again) => {
          reconnected = again;
          waiting = new Set(expected);
          const pending = queue;
          queue = [];
          for (const m of pending) conn.send(m);
          for (const fn of openHooks) fn({reconnected});
          if (!waiting.size) ready();
        },
        onMessage: (message) => {
          emit(message.type, message);
          if (waiting.delete(message.type) && !waiting.size) ready();
        },
        onDown: (final) => {
          setLinkStatus(final ? "off" : "down");
          for (const fn of downHooks) fn({final});
        },
      });
    }

    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else setTimeout(start, 0);

    return {
      on: (type, fn) => { (listeners[type] = listeners[type] || []).push(fn); },
      onOpen: (fn) => openHooks.push(fn),
      onReady: (fn) => readyHooks.push(fn),
      onDown: (fn) => downHooks.push(fn),
      expect: (type) => expected.add(type),
      send: (message) => { if (!conn || !conn.send(message)) queue.push(message); },
    };
  }

  let page = null;
  return {
    backoffDelay,
    reconnecting,
    page: () => (page = page || createPage()),
  };
})();
