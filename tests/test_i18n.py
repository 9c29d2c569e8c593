"""Languages: every text a template shows is marked for translation, and the German catalogs are complete (no
message untranslated or fuzzy) and compiled (each committed .mo says what its .po says), so that a deployment
needs no gettext tool."""

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale"
DOMAINS = ("django", "djangojs")

TEMPLATES = sorted(
    p
    for p in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]
    if "drf_spectacular" not in p.parts  # the vendored API docs page: Redoc's own
)

# Text that needs no translation: the product's name, symbols, numbers, entities.
NEUTRAL = re.compile(r"^([\W\d_]*Millwright|[\W\d_]*|&\w+;|#|σ|h)$")
TRANSLATED_BLOCK = re.compile(r"{%\s*blocktranslate\b.*?{%\s*endblocktranslate\s*%}", re.S)
TEMPLATE_CODE = re.compile(r"{%.*?%}|{{.*?}}|{#.*?#}", re.S)
HIDDEN = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", re.S | re.I)
TAG = re.compile(r"<[^>]*>", re.S)
ATTRIBUTE = re.compile(r'\b(?:title|aria-label|placeholder|alt)="([^"]*)"')


def unmarked_texts(source: str) -> list[str]:
    """The visible texts of a template that are not inside {% translate %} or {% blocktranslate %}: element text
    and the attributes people read (title, aria-label, placeholder, alt). Template code is set aside first, so
    a `>` inside {% if a >= b %} is no tag's end."""
    source = HIDDEN.sub(" ", TRANSLATED_BLOCK.sub(" ", source))
    source = TEMPLATE_CODE.sub("\x00", source)  # a mark: a value or a tag stood here
    found = []
    for tag in TAG.findall(source):
        found += [v for v in ATTRIBUTE.findall(tag) if re.search(r"[A-Za-z]", v.replace("\x00", ""))]
    for text in TAG.sub("\x00", source).split("\x00"):
        text = " ".join(text.split())
        if text and re.search(r"[A-Za-z]", text) and not NEUTRAL.match(text):
            found.append(text)
    return found


def test_the_scanner_finds_unmarked_text_and_accepts_marked_text():
    assert unmarked_texts('<p title="Close">Plant overview</p>') == ["Close", "Plant overview"]
    assert unmarked_texts("{% block title %}Alarms{% endblock %}") == ["Alarms"]
    assert unmarked_texts('<td class="{% if a >= b %}high{% endif %}">training</td>') == ["training"]
    marked = (
        '{% load i18n %}<p title="{% translate "Close" %}">{% translate "Plant" %} · {{ name }}</p>'
        "{% blocktranslate with n=x %}Seen {{ n }} times{% endblocktranslate %}<script>const a = 'x';</script>"
        "<span>\u2013</span> Millwright"
    )
    assert unmarked_texts(marked) == []


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_text_of_a_template_is_marked_for_translation(template):
    assert unmarked_texts(template.read_text()) == []


def _po_entries(path: Path) -> dict[str, list[str]]:
    """msgid (for plurals: msgid NUL msgid_plural, as in a .mo) -> msgstr forms, and the fuzzy ones marked."""
    entries: dict[str, list[str]] = {}
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            elif m := re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$', line):
                key = m.group(1)
                fields[key] = _unquote(m.group(2))
            elif line.startswith('"') and key:
                fields[key] += _unquote(line)
        if "msgid" not in fields or fields["msgid"] == "":
            continue
        msgid = fields["msgid"] + ("\x00" + fields["msgid_plural"] if "msgid_plural" in fields else "")
        forms = [fields[k] for k in sorted(k for k in fields if k.startswith("msgstr"))]
        entries[msgid] = ["<fuzzy>"] if fuzzy else forms
    return entries


def _unquote(quoted: str) -> str:
    body = quoted[1:-1]
    return re.sub(r'\\(["\\nt])', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_german_catalog_translates_every_message_and_its_mo_matches_its_po(domain):
    po = _po_entries(LOCALE / "de" / "LC_MESSAGES" / f"{domain}.po")
    assert len(po) > 30
    assert [m for m, forms in po.items() if forms == ["<fuzzy>"]] == [], "fuzzy"
    assert [m for m, forms in po.items() if not all(forms)] == [], "untranslated"
    with (LOCALE / "de" / "LC_MESSAGES" / f"{domain}.mo").open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)
    compiled = {k: v for k, v in catalog._catalog.items() if k != ""}  # type: ignore[attr-defined]
    for msgid, forms in po.items():
        if "\x00" in msgid:
            singular = msgid.split("\x00")[0]
            assert [compiled.get((singular, i)) for i in range(len(forms))] == forms, msgid
        else:
            assert compiled.get(msgid) == forms[0], f"{msgid!r}: the .mo is older than the .po (compilemessages)"
    compiled_ids = {k[0] if isinstance(k, tuple) else k for k in compiled}
    po_ids = {m.split("\x00")[0] for m in po}
    assert compiled_ids == po_ids, "the .mo has other messages than the .po (compilemessages)"


def test_the_catalogs_hold_every_message_the_code_marks(tmp_path):
    """What makemessages would extract is in the catalogs (needs GNU gettext: skipped without xgettext)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("xgettext") is None:
        pytest.skip("no GNU gettext (xgettext) installed")
    for domain in DOMAINS:
        po = LOCALE / "de" / "LC_MESSAGES" / f"{domain}.po"
        before = set(_po_entries(po))
        copy = tmp_path / f"{domain}.po"
        shutil.copy(po, copy)
        try:
            subprocess.run(
                [sys.executable, "manage.py", "makemessages", "-l", "de", "-d", domain, "--no-location", *IGNORED],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            after = set(_po_entries(po))
        finally:
            shutil.copy(copy, po)
        assert sorted(after - before) == [], f"messages marked in the code but missing from {domain}.po"


IGNORED = [
    f"--ignore={pattern}"
    for pattern in (
        ".venv/*",
        "staticfiles/*",
        "tests/*",
        "bench/*",
        "node_modules/*",
        "*/node_modules/*",
        "static/vendor/*",
        ".millwright/*",
    )
]
