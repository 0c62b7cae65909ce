"""Every user-facing string is translatable and translated into Russian (the default language)."""

import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(settings.BASE_DIR)
PO = ROOT / "locale" / "ru" / "LC_MESSAGES" / "django.po"


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
    target = tmp_path / "ru" / "LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(PO, target / "django.po")
    monkeypatch.chdir(ROOT)

    with override_settings(LOCALE_PATHS=[str(tmp_path)]):
        call_command(
            "makemessages",
            locale=["ru"],
            no_obsolete=True,
            verbosity=0,
            ignore_patterns=[".venv/*", ".data/*", "static/*", "staticfiles/*", "tests/*"],
        )

    assert _untranslated(polib.pofile(str(target / "django.po"))) == []


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
