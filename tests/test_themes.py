"""The colour tokens of static/css/tokens.css: every text pair meets WCAG AA in both themes, and the alarm
priority and machine state palettes stay apart for colour-blind people (simulated, tests/colour.py)."""

import itertools
import re
from pathlib import Path

import pytest

from alarms.models import PRIORITY_COLOUR
from tests.colour import MACHADO_2009, ciede2000, contrast_ratio, lab, perceived_difference

TOKENS = Path(__file__).resolve().parent.parent / "static" / "css" / "tokens.css"

#: Smallest CIEDE2000 between two fills of one palette, for every vision simulated. About 2.3 is "just noticeable";
#: 12 is "another colour" at a glance on a badge or a band.
MIN_DIFFERENCE = 12.0
AA_TEXT = 4.5

#: (text, background) pairs the stylesheets use for text.
TEXT_PAIRS = [
    ("text", "bg"), ("text", "panel"), ("text", "raised"), ("muted", "bg"), ("muted", "panel"),
    ("accent", "bg"), ("accent", "panel"), ("bad", "bg"), ("bad", "panel"), ("good", "panel"), ("idle", "panel"),
    ("uncertain", "bg"), ("uncertain", "panel"), ("on-accent", "accent"), ("banner-text", "banner-bg"),
]  # fmt: skip


def _blocks() -> dict[str, dict[str, str]]:
    """Selector -> {token: colour} of every rule in tokens.css (comments dropped)."""
    css = re.sub(r"/\*.*?\*/", "", TOKENS.read_text(), flags=re.S)
    return {
        selector.strip(): dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", body))
        for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)
    }


def _theme(name: str) -> dict[str, str]:
    blocks = _blocks()
    shared = blocks[":root"]
    selector = next(s for s in blocks if f'[data-theme="{name}"]' in s)
    return {**shared, **blocks[selector]}


def _palette(prefix: str) -> dict[str, str]:
    return {k.removeprefix(prefix): v for k, v in _blocks()[":root"].items() if k.startswith(prefix)}


def test_the_colour_difference_matches_the_published_ciede2000_test_data():
    # Sharma, Wu and Dalal (2005), table 1, pairs 1, 7 and 17.
    assert ciede2000((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000((50.0, 0.0, 0.0), (50.0, -1.0, 2.0)) == pytest.approx(2.3669, abs=1e-4)
    assert ciede2000((50.0, 2.5, 0.0), (73.0, 25.0, -18.0)) == pytest.approx(27.1492, abs=1e-4)


def test_the_simulations_merge_what_each_deficiency_confuses():
    # Red and green, told apart at a glance with normal vision, nearly merge for protanopes and deuteranopes;
    # blue and green for tritanopes. A simulation that changed nothing would pass every palette.
    assert perceived_difference("#d4442a", "#6a8f00") > 30
    assert perceived_difference("#d4442a", "#6a8f00", "deuteranopia") < 2.3  # not even noticeable
    assert perceived_difference("#a05a2c", "#6b7a00") > 30
    assert perceived_difference("#a05a2c", "#6b7a00", "protanopia") < MIN_DIFFERENCE
    assert perceived_difference("#3a88c0", "#3aa088") > 25
    assert perceived_difference("#3a88c0", "#3aa088", "tritanopia") < MIN_DIFFERENCE
    assert lab((1.0, 1.0, 1.0)) == pytest.approx((100.0, 0.0, 0.0), abs=0.01)


@pytest.mark.parametrize("prefix", ["prio-", "state-"])
@pytest.mark.parametrize("deficiency", [None, *MACHADO_2009])
def test_each_palette_stays_distinguishable_for_colour_blind_people(prefix, deficiency):
    palette = _palette(prefix)
    assert len(palette) >= 4
    close = [
        f"{a} {palette[a]} / {b} {palette[b]}: {difference:.1f}"
        for a, b in itertools.combinations(palette, 2)
        if (difference := perceived_difference(palette[a], palette[b], deficiency)) < MIN_DIFFERENCE
    ]
    assert not close, f"too close for {deficiency or 'normal vision'} (CIEDE2000 < {MIN_DIFFERENCE}): {close}"


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_every_text_colour_meets_wcag_aa_on_its_background(theme):
    tokens = _theme(theme)
    low = [
        f"{text} on {background}: {ratio:.2f}"
        for text, background in TEXT_PAIRS
        if (ratio := contrast_ratio(tokens[text], tokens[background])) < AA_TEXT
    ]
    assert not low, f"{theme} theme below WCAG AA ({AA_TEXT}:1): {low}"


def test_every_fill_carries_its_text_at_wcag_aa():
    shared = _blocks()[":root"]
    fills = {k: v for k, v in shared.items() if k.startswith(("prio-", "state-"))}
    low = [
        f"{name}: {ratio:.2f}"
        for name, fill in fills.items()
        if (ratio := contrast_ratio(shared["on-state-off" if name == "state-off" else "on-fill"], fill)) < AA_TEXT
    ]
    assert not low, f"text on these fills is below WCAG AA: {low}"


def test_the_alarm_priority_colours_in_python_are_the_tokens():
    assert {str(priority): colour for priority, colour in PRIORITY_COLOUR.items()} == _palette("prio-")


#: WCAG 2.1 1.4.11: graphical objects (a chart's lines, bars and markers) need 3:1 against what they are drawn on.
AA_GRAPHICS = 3.0
CHART_SERIES = ("availability", "performance", "quality", "target", "reason", "unclassified", "other", "event", "limit")


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_every_chart_colour_stands_out_from_the_chart_background(theme):
    tokens = _theme(theme)
    pens = [tokens[f"pen-{i}"] for i in range(1, 13)]
    series = [tokens[f"chart-{name}"] for name in CHART_SERIES]
    for colour in (*pens, *series, tokens["chart-text"]):
        assert contrast_ratio(colour, tokens["panel"]) >= AA_GRAPHICS, (theme, colour)
        assert contrast_ratio(colour, tokens["bg"]) >= AA_GRAPHICS, (theme, colour)
    # Pens next to each other in the explorer are told apart at a glance.
    for a, b in itertools.combinations(pens, 2):
        assert perceived_difference(a, b) >= MIN_DIFFERENCE * 0.75, (theme, a, b)
