"""Every user-facing string is translatable and translated into Russian (the default language)."""

import re
import shutil
import tokenize
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(settings.BASE_DIR)
PO = ROOT / "locale" / "ru" / "LC_MESSAGES" / "django.po"
SKIPPED_DIRS = {"locale", "static", "staticfiles", "tests", "node_modules", "docs", "bench"}


def _untranslated(po: polib.POFile) -> list[str]:
    return [e.msgid for e in po if not e.obsolete and (not e.translated() or "fuzzy" in e.flags)]


def test_russian_catalogue_is_complete():
    po = polib.pofile(str(PO))
    assert _untranslated(po) == []
    forms = int(po.metadata["Plural-Forms"].split("nplurals=")[1].split(";")[0])
    short = [
        e.msgid for e in po if e.msgid_plural and len([v for v in e.msgstr_plural.values() if v]) != forms
    ]
    assert short == []


def test_no_string_in_the_code_is_missing_from_the_catalogue(tmp_path, monkeypatch):
    if not shutil.which("xgettext"):
        pytest.fail("gettext is not installed: `apt-get install gettext` (make test does it as root)")
    # makemessages writes into every `locale/` above the files it scans, so it runs in a mirror of the
    # sources (links) whose only catalogue is a copy: the real one is never touched, and the copy is the one
    # that gains any string the code has and the catalogue lacks.
    catalogue = tmp_path / "locale" / "ru" / "LC_MESSAGES"
    catalogue.mkdir(parents=True)
    shutil.copy(PO, catalogue / "django.po")
    sources = tmp_path / "src"
    sources.mkdir()
    for entry in ROOT.iterdir():
        if entry.is_dir() and entry.name not in SKIPPED_DIRS and not entry.name.startswith("."):
            (sources / entry.name).symlink_to(entry, target_is_directory=True)
    monkeypatch.chdir(sources)

    with override_settings(LOCALE_PATHS=[str(tmp_path / "locale")]):
        call_command("makemessages", locale=["ru"], no_obsolete=True, verbosity=0, symlinks=True)

    scanned = polib.pofile(str(catalogue / "django.po"))
    assert any("billing/" in path for entry in scanned for path, _line in entry.occurrences)
    assert _untranslated(scanned) == []


HIDDEN_CALL = re.compile(
    r"(?<![\w.])(_|gettext|pgettext|ngettext|npgettext|gettext_lazy|pgettext_lazy|ngettext_lazy|npgettext_lazy)\("
)


def test_no_translated_string_hides_inside_an_f_string():
    """xgettext reads an f-string as one literal: a gettext call inside it is never extracted, and the word loses its
    Russian at the next makemessages (the order list's «test» badge did)."""
    hidden = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in SKIPPED_DIRS or relative.parts[0].startswith("."):
            continue
        if (
            path.name.endswith((".html.py", ".txt.py")) or not path.exists()
        ):  # makemessages' own, while it runs
            continue
        with tokenize.open(path) as source:
            for token in tokenize.generate_tokens(source.readline):
                prefix = token.string[: len(token.string) - len(token.string.lstrip("rRbBuUfF"))]
                if (
                    token.type == tokenize.STRING
                    and "f" in prefix.lower()
                    and HIDDEN_CALL.search(token.string)
                ):
                    hidden.append(f"{relative}:{token.start[0]}")
    assert hidden == []


def test_translations_keep_every_placeholder():
    import re

    placeholder = re.compile(r"%\((\w+)\)[sd]")
    broken = []
    for entry in polib.pofile(str(PO)):
        wanted = set(placeholder.findall(entry.msgid))
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            got = set(placeholder.findall(text))
            if got - wanted or (not entry.msgid_plural and got != wanted):
                broken.append((entry.msgid, text))
    assert broken == []
