/* Numbers, dates and times as the page's language writes them, times in the page's time zone and labelled with
   it. The server renders both into <html>: lang (the user's language, else the browser's) and data-time-zone (the
   plant's zone, or the user's own on request: the header's switch). Loaded on every page after /jsi18n/ (the
   Django catalog: gettext, ngettext, interpolate); should the catalog be missing, texts stay English. */
"use strict";

if (typeof window.gettext !== "function") {
  window.gettext = (msgid) => msgid;
  window.ngettext = (singular, plural, count) => (count === 1 ? singular : plural);
  window.pgettext = (context, msgid) => msgid;
  window.interpolate = (fmt, obj, named) =>
    named ? fmt.replace(/%\(\w+\)s/g, (m) => String(obj[m.slice(2, -2)])) : fmt.replace(/%s/g, () => String(obj.shift()));
}

const MillwrightFormat = (() => {
  const root = document.documentElement;
  const lang = root.lang || "en";
  const timeZone = root.dataset.timeZone || undefined;
  const cache = new Map();

  function formatter(kind, options) {
    const key = kind + JSON.stringify(options);
    if (!cache.has(key)) {
      cache.set(key, kind === "number" ? new Intl.NumberFormat(lang, options) : new Intl.DateTimeFormat(lang, {timeZone, ...options}));
    }
    return cache.get(key);
  }

  /* 1234.5 -> "1,234.50" (en) or "1.234,50" (de), with exactly `digits` decimals (or between min and max). */
  function number(value, digits = null, {min = digits, max = digits} = {}) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const options = {};
    if (min !== null) options.minimumFractionDigits = min;
    if (max !== null) options.maximumFractionDigits = max;
    return formatter("number", options).format(value);
  }

  /* A percentage from a fraction: 0.853 -> "85.3 %" / "85,3 %". */
  function percent(fraction, digits = 1) {
    return formatter("number", {style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits}).format(fraction);
  }

  const asDate = (t) => (t instanceof Date ? t : new Date(t));

  /* Times are labelled with their zone ("14:03:07 CET", "14:03:07 MEZ"), unless `zone` is false (a column whose
     heading names the zone). */
  function time(t, {seconds = true, zone = true} = {}) {
    const options = {hour: "2-digit", minute: "2-digit"};
    if (seconds) options.second = "2-digit";
    if (zone) options.timeZoneName = "short";
    return formatter("date", options).format(asDate(t));
  }

  function dateTime(t, {seconds = true, zone = true} = {}) {
    const options = {dateStyle: "short", timeStyle: seconds ? "medium" : "short"};
    let text = formatter("date", options).format(asDate(t));
    if (zone) text += " " + zoneLabel(t);
    return text;
  }

  function date(t) {
    return formatter("date", {dateStyle: "medium"}).format(asDate(t));
  }

  /* Today (in the page's zone): the time only; another day: date and time. */
  function when(t, options = {}) {
    const day = formatter("date", {year: "numeric", month: "2-digit", day: "2-digit"});
    return day.format(asDate(t)) === day.format(new Date()) ? time(t, options) : dateTime(t, options);
  }

  /* The zone's abbreviation at `t` (now by default): "CET", "MEZ", "UTC", "GMT+1" where the language has none. */
  function zoneLabel(t = Date.now()) {
    const part = formatter("date", {timeZoneName: "short"}).formatToParts(asDate(t)).find((p) => p.type === "timeZoneName");
    return part ? part.value : timeZone || "";
  }

  /* The header's "your time" switch posts the browser's own zone. */
  for (const input of document.querySelectorAll("input[data-browser-zone]")) {
    input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  }

  return {lang, timeZone, number, percent, time, dateTime, date, when, zoneLabel};
})();
