"""The wall screen in Chromium: a read-only account sees the lines it was given, full screen and without
navigation, cycling from one line to the next by itself, and its values resume without a human after the network
is cut and after the server restarts."""

from datetime import UTC, datetime

from accounts.services.roles import Role
from historian.quality import Quality
from historian.sample_types import SampleRow
from historian.services.live import live_samples_publish
from tests.browser import BROWSER_TESTS, login, screenshot
from tests.conftest import LiveAsgiServer
from tests.factories import LineFactory, MachineFactory, TagFactory
from tests.samples import write
from tests.tcp_proxy import TcpProxy

pytestmark = BROWSER_TESTS


def _push(machine, tag, value: float) -> None:
    at = datetime.now(UTC)
    write(tag, [(at, value)])
    live_samples_publish(rows_by_machine={machine.pk: [SampleRow(at, tag.pk, value, Quality.GOOD)]})


def _link(state: str):
    def wait(page) -> None:
        page.wait_for_selector(f'#link-status[data-state="{state}"]', state="attached", timeout=30_000)

    return wait


def _value_becomes(tag, text: str):
    def wait(page) -> str:
        page.wait_for_function(
            f"() => document.querySelector('.value[data-tag=\"{tag.pk}\"] .num').textContent === '{text}'",
            timeout=20_000,
        )
        return text

    return wait


def test_the_wall_screen_cycles_its_lines_without_chrome_and_resumes_after_a_cut_and_a_restart(
    transactional_db, make_user, browser
):
    make_user("screen", role=Role.WALL_SCREEN)
    first, second, other = LineFactory(name="Line A"), LineFactory(name="Line B"), LineFactory(name="Line C")
    press = MachineFactory(name="Press", line=first)
    saw = MachineFactory(name="Saw", line=second)
    MachineFactory(name="Lathe", line=other)
    speed = TagFactory(machine=press, name="speed", units="rpm", is_key=True)
    TagFactory(machine=saw, name="feed", units="mm/s", is_key=True)
    server = LiveAsgiServer().start()
    proxy = TcpProxy("127.0.0.1", server.port).start()
    base = f"http://127.0.0.1:{proxy.port}"
    try:

        def open_kiosk(page) -> dict:
            login(page, f"{base}/kiosk/?lines={first.pk},{second.pk}&cycle=5", "screen")
            _link("live")(page)
            shown = page.evaluate("() => document.body.dataset.shownLine")
            # The next line comes by itself after `cycle` seconds.
            page.wait_for_function(f"() => document.body.dataset.shownLine === '{second.pk}'", timeout=15_000)
            screenshot(page, "kiosk.png")
            return {
                "first": shown,
                "sections": page.eval_on_selector_all("section.line", "els => els.map((el) => el.dataset.line)"),
                "visible": page.eval_on_selector_all(
                    "section.line", "els => els.filter((el) => !el.hidden).map((el) => el.dataset.line)"
                ),
                "nav": page.locator("nav, .topbar").count(),
                "links": page.locator("main a").count(),
                "buttons": page.locator("main button").count(),
                "font": page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)"),
            }

        seen = browser.run(open_kiosk)
        assert seen["first"] == str(first.pk)
        assert seen["sections"] == [str(first.pk), str(second.pk)]  # the lines asked for, not the third
        assert seen["visible"] == [str(second.pk)]
        assert (seen["nav"], seen["links"], seen["buttons"]) == (0, 0, 0)  # nothing to navigate or press
        assert seen["font"] >= 24  # 150 % of the site's 18 px

        _push(press, speed, 101.5)
        assert browser.run(_value_becomes(speed, "101.5")) == "101.5"

        # A network blip: every connection reset, new ones refused for a while, then the network is back.
        proxy.cut()
        browser.run(_link("down"))
        proxy.restore()
        browser.run(_link("live"))
        _push(press, speed, 102.5)
        assert browser.run(_value_becomes(speed, "102.5")) == "102.5"

        # The server restarts (a new process on another port behind the same address): the page, untouched,
        # comes back to it, still signed in (the session is in the database).
        proxy.cut()
        server.stop()
        browser.run(_link("down"))
        server = LiveAsgiServer().start()
        proxy.upstream = ("127.0.0.1", server.port)
        proxy.restore()
        browser.run(_link("live"))
        _push(press, speed, 103.5)
        assert browser.run(_value_becomes(speed, "103.5")) == "103.5"
        assert browser.run(lambda page: page.url).startswith(f"{base}/kiosk/")
    finally:
        proxy.close()
        server.stop()


def test_the_wall_screen_refuses_a_malformed_line_list(client, make_user):
    user = make_user("screen", role=Role.WALL_SCREEN)
    client.force_login(user)
    assert client.get("/kiosk/?lines=1,x").status_code == 400
    assert client.get("/kiosk/?cycle=1").status_code == 400
    assert client.get("/kiosk/").status_code == 200
