"""Every page at tablet (768 px) and phone (390 px) width in Chromium: nothing wider than the screen, every touch
target at least 44 x 44 px, tables read as cards on a phone, and the alarm list acknowledged with a thumb.
Screenshots of each page at both widths go to .millwright/screens/responsive/ (a test artifact, not committed)."""

import pytest
from django.conf import settings

from alarms.models import Alarm
from tests.browser import BROWSER_TESTS
from tests.pages import plant_pages, settle, sign_in  # noqa: F401  (plant_pages: a fixture)

pytestmark = BROWSER_TESTS

WIDTHS = {"tablet": (768, 1024), "phone": (390, 844)}
MIN_TARGET = 44

#: The page's layout as a script sees it: horizontal overflow, and every visible touch target smaller than 44 px.
#: Links in running text (a paragraph) are exempt, as WCAG 2.5.5 exempts inline targets; so are the chart
#: library's own controls (Plotly's hover toolbar), which a finger does not need.
MEASURE = """(min) => {
  const doc = document.documentElement;
  const small = [];
  const targets = document.querySelectorAll(
    "a[href], button, select, textarea, input:not([type=hidden]), summary, [role=button], [tabindex='0']");
  for (const el of targets) {
    if (el.closest(".js-plotly-plot, .modebar")) continue;
    if (el.matches("a") && el.closest("p")) continue;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === "hidden") continue;
    if (box.width < min - 0.5 || box.height < min - 0.5) {
      small.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${[...el.classList].join(".")} ` +
                 `"${(el.textContent || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 30)}" ` +
                 `${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return {scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth, small};
}"""


def _shoot(page, name: str) -> None:
    folder = settings.MILLWRIGHT_STATE_DIR / "screens" / "responsive"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("screen", WIDTHS)
def test_every_page_fits_the_screen_with_touch_targets_of_44_px(plant_pages, browser, screen):  # noqa: F811
    width, height = WIDTHS[screen]

    def measure_every_page(page) -> dict[str, dict]:
        page.set_viewport_size({"width": width, "height": height})
        found = {}
        page.goto(plant_pages.url + plant_pages.login_path)
        settle(page)
        found["login"] = page.evaluate(MEASURE, MIN_TARGET)
        _shoot(page, f"{screen}-login")
        sign_in(page, plant_pages)
        for name, path in plant_pages.paths.items():
            page.goto(plant_pages.url + path)
            settle(page)
            found[name] = page.evaluate(MEASURE, MIN_TARGET)
            _shoot(page, f"{screen}-{name.replace(' ', '-')}")
        return found

    found = browser.run(measure_every_page, timeout=240)
    overflow = {
        n: f"{m['scrollWidth']} > {m['innerWidth']}" for n, m in found.items() if m["scrollWidth"] > m["innerWidth"]
    }
    small = {n: m["small"] for n, m in found.items() if m["small"]}
    assert not overflow, f"wider than the {screen} screen: {overflow}"
    assert not small, f"touch targets under {MIN_TARGET} px on the {screen}: {small}"


def test_on_a_phone_the_alarm_list_is_cards_and_acknowledged_with_a_thumb(plant_pages, browser):  # noqa: F811
    alarm = plant_pages.alarm
    card = f'tr.alarm[data-alarm="{alarm.pk}"]'

    def open_on_a_phone(page) -> dict:
        page.set_viewport_size({"width": 390, "height": 844})
        sign_in(page, plant_pages)
        page.goto(plant_pages.url + plant_pages.paths["alarm list"])
        page.wait_for_selector(f'{card}[data-state="unack_active"]', timeout=10_000)
        return page.evaluate(
            """(card) => {
              const row = document.querySelector(card);
              const ack = row.querySelector('button[data-action="acknowledge"]');
              const box = row.getBoundingClientRect(), button = ack.getBoundingClientRect();
              const cells = [...row.cells].filter((td) => td.getBoundingClientRect().height > 0);
              return {
                display: getComputedStyle(row).display,
                header: getComputedStyle(document.querySelector("#alarm-table thead")).display,
                width: box.width, left: box.left, right: box.right,
                labels: cells.map((td) => td.dataset.label),
                before: getComputedStyle(row.querySelector("td:nth-child(4)"), "::before").content,
                ack: {left: button.left, right: button.right, width: button.width, height: button.height},
              };
            }""",
            card,
        )

    layout = browser.run(open_on_a_phone)
    assert layout["display"] in ("block", "grid", "flex")  # a card, not a table row
    assert layout["header"] == "none"  # the column headings move into the cards
    assert layout["left"] >= 0
    assert layout["right"] <= 390
    assert {"Where", "Message", "Value"} <= set(layout["labels"])  # each value says what it is
    assert layout["before"] != "none"  # ... and shows it
    ack = layout["ack"]
    assert ack["left"] >= 0
    assert ack["right"] <= 390
    assert ack["width"] >= 88
    assert ack["height"] >= 48

    def acknowledge_with_a_tap(page) -> str:
        page.click(f'{card} button[data-action="acknowledge"]')
        page.wait_for_selector(f'{card}[data-state="ack_active"]', timeout=5_000)
        _shoot(page, "phone-alarm-list-acknowledged")
        return page.inner_text(card)

    assert "by admin1" in browser.run(acknowledge_with_a_tap)
    assert Alarm.objects.get(pk=alarm.pk).acknowledged_by.username == "admin1"
