"""static/js/lib/quality.js, the pages' one quality decoder, run in Chromium: it reads every code as historian does."""

from pathlib import Path

import pytest
from django.conf import settings

from historian.quality import Quality, quality_is_bad, quality_is_good, quality_label
from tests.browser import CHROMIUM, BrowserThread

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium)"),
]

QUALITY_JS = Path(settings.BASE_DIR) / "static" / "js" / "lib" / "quality.js"


def test_the_page_decoder_agrees_with_historian_on_every_quality_code():
    codes = [int(q) for q in Quality]
    browser = BrowserThread()
    try:

        def decode(page) -> list[list]:
            # Pages load Django's JavaScript catalog (/jsi18n/) first; in English its gettext returns the text.
            page.add_script_tag(content="window.gettext = (text) => text;")
            page.add_script_tag(path=str(QUALITY_JS))
            return page.evaluate(
                "(codes) => codes.map((q) => [MillwrightQuality.label(q), MillwrightQuality.isGood(q),"
                " MillwrightQuality.isBad(q)])",
                codes,
            )

        decoded = browser.run(decode)
    finally:
        browser.close()

    assert decoded == [[quality_label(q), quality_is_good(q), quality_is_bad(q)] for q in codes]
