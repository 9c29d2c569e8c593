"""The charts draw in the page's theme: in the light theme the OEE bars, the loss Pareto, the state timeline's
markers and the explorer's pens take the light theme's colours of static/css/tokens.css (checked for contrast by
tests/test_themes.py), not the dark theme's."""

from tests.browser import BROWSER_TESTS
from tests.pages import plant_pages, settle, sign_in  # noqa: F401  (plant_pages: a fixture)
from tests.test_themes import _theme

pytestmark = BROWSER_TESTS

#: A chart's drawn colours: its layout's font and each trace's marker or line colour (Plotly's full layout).
CHART_COLOURS = """(id) => {
  const el = document.getElementById(id);
  const colours = (el.data || []).flatMap((t) => [].concat((t.marker || {}).color || [], (t.line || {}).color || []));
  return {font: el._fullLayout.font.color, grid: el._fullLayout.yaxis.gridcolor, traces: colours};
}"""


def _hex(colour: str) -> str:
    return colour.lower()


def test_charts_take_the_colours_of_the_theme_chosen(plant_pages, browser):  # noqa: F811
    def charts_in(page, theme: str) -> dict[str, dict]:
        if page.get_attribute("html", "data-theme") != theme:
            page.click("#theme-switch")
            page.wait_for_selector(f'html[data-theme="{theme}"]')
        drawn = {}
        for name, chart, ready in (
            ("oee", "oee-chart", "#oee-line[data-ready=true]"),
            ("pareto", "pareto-chart", "#pareto-chart[data-ready=true]"),
        ):
            page.goto(plant_pages.url + plant_pages.paths[name])
            page.wait_for_selector(ready, timeout=20_000)
            drawn[name] = page.evaluate(CHART_COLOURS, chart)
        page.goto(plant_pages.url + plant_pages.paths["explorer"])
        settle(page)
        drawn["pens"] = page.evaluate("() => MillwrightChart.pens()")
        return drawn

    def both_themes(page) -> dict[str, dict]:
        sign_in(page, plant_pages)
        return {theme: charts_in(page, theme) for theme in ("light", "dark")}

    drawn = browser.run(both_themes, timeout=120)
    for theme in ("light", "dark"):
        tokens = _theme(theme)
        oee, pareto = drawn[theme]["oee"], drawn[theme]["pareto"]
        assert _hex(oee["font"]) == tokens["chart-text"], theme
        assert _hex(oee["grid"]) == tokens["chart-grid"], theme
        series = {tokens[f"chart-{name}"] for name in ("availability", "performance", "quality", "target")}
        assert {_hex(c) for c in oee["traces"]} == series, theme
        assert _hex(pareto["font"]) == tokens["chart-text"], theme
        allowed = {tokens[f"chart-{name}"] for name in ("reason", "unclassified", "other", "text")}
        assert pareto["traces"], theme
        assert {_hex(c) for c in pareto["traces"]} <= allowed, theme
        assert [_hex(c) for c in drawn[theme]["pens"]] == [tokens[f"pen-{i}"] for i in range(1, 13)], theme
    # The two themes really differ (a chart stuck in one theme's colours would pass neither assertion above).
    assert drawn["light"]["oee"]["font"] != drawn["dark"]["oee"]["font"]
