/* What the trend charts share (the machine page's live trend, the trend explorer): how a tag's line is drawn
   between samples, its axis title with its units, and the shading of the stretches where its value is unknown. */
"use strict";

const MillwrightChart = (() => {
  const BAD_FILL = "rgba(248, 81, 73, 0.16)";

  /* Plotly's line shape for a tag ({plot_interpolation} from the page's data or the API): steps ("hv": the value
     holds until the next sample) for counts, states, booleans and counters; a ramp only where linear is true. */
  function lineShape(tag) {
    return tag.plot_interpolation === "linear" ? "linear" : "hv";
  }

  /* "bar", "(no unit)" for a tag without units: an axis never leaves its unit to be guessed. */
  function unitText(units) {
    return units ? units : "(no unit)";
  }

  /* A trace's name: "speed (rpm)", or the bare name of a tag without units. */
  function traceName(name, units) {
    return units ? `${name} (${units})` : name;
  }

  /* From a bad sample (or a missing value) to the next usable one, the value is unknown. Fed sample by sample in
     time order: the machine page as its live samples arrive, the explorer a whole series at once. */
  class BadStretches {
    constructor() {
      this.closed = [];
      this.from = null;
    }

    add(t, value, quality) {
      if (MillwrightQuality.isBad(quality) || value === null || value === undefined) {
        if (this.from === null) this.from = t;
      } else if (this.from !== null) {
        this.closed.push([this.from, t]);
        this.from = null;
      }
    }

    addSeries(series) {
      for (let i = 0; i < series.t.length; i++) this.add(series.t[i], series.v[i], series.q[i]);
      return this;
    }

    /* [start, end] pairs; a stretch still open (no usable sample since) runs to `end`. */
    list(end) {
      return this.from === null ? this.closed.slice() : [...this.closed, [this.from, end]];
    }

    /* Drops the stretches that ended before `time` (scrolled out of a rolling window). */
    forget(time) {
      this.closed = this.closed.filter(([, b]) => b >= time);
    }
  }

  /* Plotly shapes shading `stretches` over the plot's height (yref "paper") or one panel's ("y2 domain");
     `x` turns a time in epoch milliseconds into what the x axis takes. */
  function badShapes(stretches, {yref = "paper", x = (ms) => ms} = {}) {
    return stretches.map(([a, b]) => ({
      type: "rect", xref: "x", yref, x0: x(a), x1: x(b), y0: 0, y1: 1,
      fillcolor: BAD_FILL, line: {width: 0}, layer: "below",
    }));
  }

  /* A colour of static/css/tokens.css in the page's theme (<html data-theme>): every chart draws its series, text
     and grid in the theme's colours (tests/test_themes.py checks their contrast on the chart's background). */
  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim();
  }

  /* The explorer's pens, in order: pen-1 ... pen-12. */
  function pens() {
    return Array.from({length: 12}, (_, i) => colour(`pen-${i + 1}`));
  }

  return {BAD_FILL, BadStretches, badShapes, colour, lineShape, pens, traceName, unitText};
})();
