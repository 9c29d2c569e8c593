"""axe-core (the npm package, pinned in tests/axe/package-lock.json) for the browser tests: installed with `npm ci`
on first use (as .ci/run does up front), injected into a Playwright page, run there.

Only where it truly cannot be installed (no npm, no registry) do the tests skip, saying why.
"""

from pathlib import Path

from tests.npm import npm_ci

HERE = Path(__file__).resolve().parent / "axe"
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"

#: The impacts that fail a page: axe's "serious" and "critical".
FAILING = ("serious", "critical")


class AxeUnavailable(RuntimeError):
    """npm is missing or `npm ci` failed: the accessibility tests skip with this reason."""


def axe_source() -> str:
    """The text of axe.min.js, installing the pinned package first if it is missing or older than the lock file."""
    npm_ci(HERE, AxeUnavailable, expect=AXE_JS)
    return AXE_JS.read_text()


#: Run in the page (axe injected): the serious and critical violations, each with its rule, impact, help and the
#: first few offending elements.
RUN = """async (failing) => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter((v) => failing.includes(v.impact)).map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "").replace(/\\s+/g, " ")),
  }));
}"""


def axe_violations(page, source: str) -> list[dict]:
    """axe over the page as it is now: its serious and critical violations (CDP evaluation: no inline script, so
    the page's Content-Security-Policy stays as strict as it is served)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(source + "\n;undefined")
    return page.evaluate(RUN, list(FAILING))
