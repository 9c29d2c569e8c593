"""Accessibility in Chromium: axe-core over every page, in both themes, with no serious or critical violation;
the alarm list and the trend explorer operated from the keyboard alone."""

import pytest

from alarms.models import Alarm
from tests.accessibility import AxeUnavailable, axe_source, axe_violations
from tests.browser import BROWSER_TESTS
from tests.pages import plant_pages, settle, sign_in  # noqa: F401  (plant_pages: a fixture)

pytestmark = BROWSER_TESTS


@pytest.fixture(scope="module")
def axe() -> str:
    try:
        return axe_source()
    except AxeUnavailable as exc:
        pytest.skip(f"axe-core cannot be installed here: {exc}")


def _report(found: dict[str, list[dict]]) -> str:
    lines = []
    for page, violations in found.items():
        for v in violations:
            lines.append(f"{page}: {v['impact']} {v['id']} ({v['help']})")
            lines += [f"    {node}" for node in v["nodes"]]
    return "\n".join(lines)


def test_axe_finds_no_serious_or_critical_violation_on_any_page_in_either_theme(plant_pages, browser, axe):  # noqa: F811
    def audit_every_page(page) -> dict[str, list[dict]]:
        found = {}
        page.goto(plant_pages.url + plant_pages.login_path)
        settle(page)
        found["login"] = axe_violations(page, axe)
        sign_in(page, plant_pages)
        for theme in ("dark", "light"):
            if page.get_attribute("html", "data-theme") != theme:
                page.click("#theme-switch")
                page.wait_for_selector(f'html[data-theme="{theme}"]')
            for name, path in plant_pages.paths.items():
                page.goto(plant_pages.url + path)
                settle(page)
                found[f"{name} ({theme})"] = axe_violations(page, axe)
        return found

    found = browser.run(audit_every_page, timeout=280)
    assert len(found) == 1 + 2 * len(plant_pages.paths)
    failing = {page: violations for page, violations in found.items() if violations}
    assert not failing, "axe: serious or critical violations\n" + _report(failing)


def test_axe_reports_what_it_finds(plant_pages, browser, axe):  # noqa: F811
    # The check can fail: a button without a name and an image without a text are reported.
    def broken_page(page) -> list[str]:
        sign_in(page, plant_pages)
        page.evaluate(
            """() => {
              const main = document.querySelector("main");
              const b = document.createElement("button"); main.append(b);
              const i = document.createElement("img"); i.src = "/static/none.png"; main.append(i);
            }"""
        )
        return [v["id"] for v in axe_violations(page, axe)]

    assert {"button-name", "image-alt"} <= set(browser.run(broken_page))


def test_the_alarm_list_is_worked_from_the_keyboard(plant_pages, browser):  # noqa: F811
    first, second = plant_pages.alarm, plant_pages.second_alarm  # same priority: newest first

    def open_list(page) -> list[str]:
        sign_in(page, plant_pages)
        page.goto(plant_pages.url + plant_pages.paths["alarm list"])
        page.wait_for_selector("#alarm-table[data-ready=true] tr.alarm", timeout=10_000)
        page.select_option("#filter-state", "all")  # shelved alarms stay in view
        return page.eval_on_selector_all("tr.alarm", "(rows) => rows.map((r) => r.dataset.alarm)")

    order = browser.run(open_list)
    assert set(order) == {str(first.pk), str(second.pk)}
    top, below = order

    def focused(page) -> str | None:
        return page.evaluate("() => document.activeElement.closest('tr.alarm')?.dataset.alarm ?? null")

    def keys(page) -> dict:
        page.focus("#alarm-comment")
        # Tab from the comment box through the action controls reaches the list: its one row in the tab order.
        for _ in range(10):
            page.keyboard.press("Tab")
            if focused(page):
                break
        seen = {"tabbed_to": focused(page)}
        page.keyboard.press("ArrowDown")
        seen["after_down"] = focused(page)
        page.keyboard.press(" ")
        seen["selected"] = page.is_checked(f'tr.alarm[data-alarm="{below}"] input[type=checkbox]')
        page.keyboard.press("ArrowUp")
        seen["after_up"] = focused(page)
        page.keyboard.press("ArrowDown")
        page.keyboard.press("a")  # acknowledge the focused alarm
        page.wait_for_selector(f'tr.alarm[data-alarm="{below}"][data-state="ack_active"]', timeout=5_000)
        page.wait_for_function(f"() => document.activeElement?.dataset?.alarm === '{below}'", timeout=2_000)
        seen["after_ack"] = focused(page)  # the redrawn row has the focus back
        page.keyboard.press("s")  # shelve it
        page.wait_for_selector(f'tr.alarm[data-alarm="{below}"][data-state="shelved"]', timeout=5_000)
        page.wait_for_function(f"() => document.activeElement?.dataset?.alarm === '{below}'", timeout=2_000)
        seen["after_shelve"] = focused(page)
        return seen

    seen = browser.run(keys)
    assert seen == {
        "tabbed_to": top,
        "after_down": below,
        "selected": True,
        "after_up": top,
        "after_ack": below,
        "after_shelve": below,
    }
    alarm = Alarm.objects.get(pk=int(below))
    assert alarm.shelved_until is not None
    assert alarm.acknowledged_by.username == "admin1"
    other = Alarm.objects.get(pk=int(top))  # only the focused one
    assert other.acknowledged_by is None
    assert other.shelved_until is None


def test_the_explorer_is_worked_from_the_keyboard(plant_pages, browser):  # noqa: F811
    def keys(page) -> dict:
        sign_in(page, plant_pages)
        page.goto(plant_pages.url + plant_pages.paths["explorer"])
        page.focus("#tag-search")
        page.keyboard.type("motor_temperature")
        page.wait_for_selector("#search-results button[data-add-tag]", timeout=5_000)
        page.keyboard.press("Enter")  # the first match becomes a pen
        page.wait_for_selector("#pens li", timeout=5_000)
        page.keyboard.press("ArrowDown")  # into the results
        page.keyboard.press("ArrowDown")  # the second match
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('#pens li').length === 2", timeout=5_000)
        seen = {"pens_added": page.eval_on_selector_all("#pens li", "(li) => li.length")}
        # Tab forward to the first pen's remove button, through the toolbar (the presets are one stop).
        for _ in range(30):
            page.keyboard.press("Tab")
            if page.evaluate("() => Boolean(document.activeElement.closest('#pens'))"):
                break
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('#pens li').length === 1", timeout=5_000)
        seen["focus_after_remove"] = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('#pens li').length === 0", timeout=5_000)
        seen["focus_after_last"] = page.evaluate("() => document.activeElement.id")
        # The range: Tab to the presets, Right to 8 h, Enter.
        page.keyboard.press("Enter")  # the search box again: a pen to draw
        page.wait_for_selector("#pens li", timeout=5_000)
        for _ in range(30):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.matches('[data-range]')"):
                break
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        page.wait_for_selector('[data-range="28800"][aria-pressed="true"]', timeout=5_000)
        seen["range_in_url"] = page.evaluate("() => location.search + location.hash")
        return seen

    seen = browser.run(keys)
    assert seen["pens_added"] == 2
    assert seen["focus_after_remove"].startswith("Remove ")  # the other pen's remove button
    assert seen["focus_after_last"] == "tag-search"
    assert "28800" in seen["range_in_url"]
