/* Sample quality codes (historian/quality.py), OPC DA style: the top two bits say good / uncertain / bad, the
   rest why. The one decoder every page uses. */
"use strict";

const MillwrightQuality = (() => {
  const MAJOR = 0xc0;
  const GOOD = 0xc0;
  const UNCERTAIN = 0x40;
  const BAD_DETAIL = {0x04: "config error", 0x08: "not connected", 0x0c: "device failure", 0x10: "sensor failure",
                      0x14: "last known value", 0x18: "comm failure", 0x1c: "out of service",
                      0x24: "no data: acquisition down"};
  const UNCERTAIN_DETAIL = {0x44: "last usable", 0x48: "quarantined", 0x50: "sensor not accurate"};

  function isGood(q) { return (q & MAJOR) === GOOD; }
  function isBad(q) { return (q & MAJOR) === 0; }
  function isUncertain(q) { return (q & MAJOR) === UNCERTAIN; }

  /* 'good', 'uncertain: last usable', 'bad: comm failure' ... ('–' when there is no value yet). */
  function label(q) {
    if (q === null || q === undefined) return "–";
    if (isGood(q)) return "good";
    if ((q & MAJOR) === UNCERTAIN) return UNCERTAIN_DETAIL[q] ? "uncertain: " + UNCERTAIN_DETAIL[q] : "uncertain";
    const detail = BAD_DETAIL[q & 0xfc];
    return detail ? "bad: " + detail : "bad";
  }

  return {GOOD, isGood, isBad, isUncertain, label};
})();
