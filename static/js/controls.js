/* The machine page's operator controls (shown only to users who may operate its area): setpoints and commands of
   the machine's writable tags, over the page's one socket (lib/socket.js) through the write service, which checks
   and audits everything. Arm-then-confirm shows a confirm button with a countdown; two-person writes show
   "awaiting approval", and other operators an Approve button; every write's state arrives live ("write" frames). */
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("controls-data").textContent);
  const machine = JSON.parse(document.getElementById("machine-data").textContent);
  const {el, number, stateText, secondsLeft} = MillwrightWrites;
  const socket = MillwrightSocket.page();
  const grid = document.getElementById("controls-grid");
  const list = document.getElementById("controls-writes");
  const cards = new Map();  // tag id -> {control, value, status, action, timer}

  function rangeText(c) {
    let text = `Range ${number(c.min)} – ${number(c.max)}${c.units ? " " + c.units : ""}`;
    if (c.max_step !== null) text += `, step ≤ ${number(c.max_step)}`;
    if (c.confirmation === "arm") text += `, confirm within ${c.confirm_seconds} s`;
    if (c.confirmation === "two_person") text += ", two-person approval";
    if (c.interlock) text += `, interlock ${c.interlock}`;
    return text;
  }

  function write(tag, value) {
    const card = cards.get(tag);
    showStatus(card, "pending", "Sending…");
    socket.send({action: "write", tag, value});
  }

  function showStatus(card, state, text) {
    card.status.className = `control-status state-${state}`;
    card.status.textContent = text;
  }

  function clearAction(card) {
    if (card.timer) clearInterval(card.timer);
    card.timer = null;
    card.action.replaceChildren();
  }

  function armed(card, result) {
    clearAction(card);
    const button = el("button", {type: "button", class: "control-button confirm"}, "");
    const tick = () => {
      const left = secondsLeft(result.expires);
      button.textContent = interpolate(gettext("Confirm (%(s)s s)"), {s: left}, true);
      if (left <= 0) {
        clearAction(card);
        showStatus(card, "expired", "Expired: not written. Ask again.");
      }
    };
    button.addEventListener("click", () => {
      clearAction(card);
      showStatus(card, "pending", "Confirming…");
      socket.send({action: "write_confirm", token: result.token});
    });
    card.action.append(button);
    tick();
    card.timer = setInterval(tick, 250);
    showStatus(card, "armed", result.message);
  }

  function approveButton(card, event) {
    clearAction(card);
    const button = el("button", {type: "button", class: "control-button approve"}, `Approve ${number(event.value)}`);
    button.addEventListener("click", () => {
      clearAction(card);
      showStatus(card, "pending", "Approving…");
      socket.send({action: "write_approve", request: event.request});
    });
    card.action.append(button);
    if (event.expires) {
      card.timer = setInterval(() => { if (secondsLeft(event.expires) <= 0) clearAction(card); }, 500);
    }
  }

  function build(c) {
    const card = el("article", {class: "control-card", "data-control": c.tag});
    card.append(el("h3", {}, c.name + (c.units ? ` (${c.units})` : "")));
    const value = el("p", {class: "control-value"}, "–");
    card.append(value, el("p", {class: "control-range"}, rangeText(c)));
    const form = el("div", {class: "control-form"});
    if (c.kind === "command") {
      for (const label of c.labels) {
        const button = el("button", {type: "button", class: "control-button command"}, label.label);
        button.addEventListener("click", () => write(c.tag, label.value));
        form.append(button);
      }
    } else {
      const input = el("input", {type: "number", inputmode: "decimal", step: "any", min: c.min, max: c.max,
                                 class: "control-input", "aria-label": interpolate(gettext("New %(name)s"), {name: c.name}, true)});
      const button = el("button", {type: "button", class: "control-button write"}, "Write");
      button.addEventListener("click", () => {
        if (input.value.trim() === "") return;
        write(c.tag, Number(input.value));
      });
      form.append(input, button);
    }
    const status = el("p", {class: "control-status", role: "status", "aria-live": "polite"});
    const action = el("div", {class: "control-action"});
    card.append(form, action, status);
    grid.append(card);
    cards.set(c.tag, {control: c, value, status, action, timer: null});
  }

  function listWrite(row) {
    const c = cards.get(row.tag);
    const name = c ? c.control.name : `tag ${row.tag}`;
    const when = MillwrightFormat.time(row.at || Date.now());
    const item = el("li", {class: `state-${row.state}`});
    item.append(el("time", {}, when), el("span", {}, ` ${name} := ${number(row.value)} `),
                el("strong", {}, stateText(row.state)),
                el("span", {}, row.by ? ` by ${row.by}` : ""));
    if (row.read_back !== null && row.read_back !== undefined) item.append(el("span", {}, ` (read back ${number(row.read_back)})`));
    list.prepend(item);
    while (list.children.length > 10) list.lastChild.remove();
  }

  for (const c of data.controls) build(c);
  for (const row of data.recent.slice().reverse()) {
    listWrite({tag: row.tag, value: row.value, state: row.outcome || row.state, by: row.requested_by,
               read_back: row.read_back, at: row.executed_at || row.requested_at});
  }

  socket.on("samples", (message) => {
    if (message.machine !== machine.id) return;
    for (const [tag, , value] of message.samples) {
      const card = cards.get(tag);
      if (card) card.value.textContent = interpolate(gettext("Now %(value)s"), {value: number(value)}, true) + (card.control.units ? " " + card.control.units : "");
    }
  });
  socket.on("write_result", (result) => {
    const card = cards.get(result.tag);
    if (!card && result.action !== "write_confirm" && result.action !== "write_approve") return;
    const target = card || [...cards.values()].find((k) => k.status.classList.contains("state-pending"));
    if (!target) return;
    if (result.state === "armed") armed(target, result);
    else if (result.state === "awaiting_approval") { clearAction(target); showStatus(target, "awaiting", result.message); }
    else { clearAction(target); showStatus(target, result.outcome ? result.outcome.status : "executed", result.message); }
  });
  socket.on("error", (message) => {
    if (message.stream !== "write") return;
    const card = cards.get(message.tag) || [...cards.values()].find((k) => k.status.classList.contains("state-pending"));
    if (card) { clearAction(card); showStatus(card, "refused", `Refused (${message.rule}): ${message.message}`); }
  });
  socket.on("write", (message) => {
    if (message.machine !== machine.id) return;
    const event = message.write;
    listWrite({...event, at: Date.now()});
    const card = cards.get(event.tag);
    if (!card) return;
    if (event.state === "awaiting_approval" && event.by !== data.me) {
      showStatus(card, "awaiting", `${event.by} asks to write ${number(event.value)}: awaiting approval`);
      approveButton(card, event);
    } else if (["confirmed", "mismatched", "failed"].includes(event.state)) {
      clearAction(card);
      showStatus(card, event.state, `${stateText(event.state)}: read back ${number(event.read_back)}`);
    }
  });
})();
