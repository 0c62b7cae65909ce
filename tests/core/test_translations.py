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
    assert _untranslated(polib.pofile(str(PO))) == []


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
