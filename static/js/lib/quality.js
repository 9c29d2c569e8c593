/* Sample quality codes (historian/quality.py), OPC DA style: the top two bits say good / uncertain / bad, the
   rest why. The one decoder every page uses. */
"use strict";

const MillwrightQuality = (() => {
  const MAJOR = 0xc0;
  const GOOD = 0xc0;
  const UNCERTAIN = 0x40;
  const BAD_DETAIL = {0x04: gettext("config error"), 0x08: gettext("not connected"), 0x0c: gettext("device failure"),
                      0x10: gettext("sensor failure"), 0x14: gettext("last known value"), 0x18: gettext("comm failure"),
                      0x1c: gettext("out of service"), 0x24: gettext("no data: acquisition down")};
  const UNCERTAIN_DETAIL = {0x44: gettext("last usable"), 0x48: gettext("quarantined"), 0x50: gettext("sensor not accurate")};

  function isGood(q) { return (q & MAJOR) === GOOD; }
  function isBad(q) { return (q & MAJOR) === 0; }
  function isUncertain(q) { return (q & MAJOR) === UNCERTAIN; }

  /* 'good', 'uncertain: last usable', 'bad: comm failure' ... ('–' when there is no value yet). */
  function label(q) {
    if (q === null || q === undefined) return "–";
    if (isGood(q)) return gettext("good");
    if ((q & MAJOR) === UNCERTAIN) return UNCERTAIN_DETAIL[q] ? gettext("uncertain") + ": " + UNCERTAIN_DETAIL[q] : gettext("uncertain");
    const detail = BAD_DETAIL[q & 0xfc];
    return detail ? gettext("bad") + ": " + detail : gettext("bad");
  }

  return {GOOD, isGood, isBad, isUncertain, label};
})();
