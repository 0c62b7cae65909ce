"""Pages name people by their names, never by their logins; every table column has a heading; durations go through
the `duration` filter. Scans of every template, so that a new page keeps to it too."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))

# Where a login is what the page is about: the partner's team page has a «Login» column (the name has its own), the
# audit log names who acted and, in a small line under the name, the login they acted with, the password reset
# e-mail names the login whose password it resets, and the administrators' second-factor pages list the logins whose
# second factor they reset (the name has its own line).
LOGIN_IS_THE_POINT = {
    "templates/core/cabinet_team.html": 1,
    "templates/core/second_factor_staff.html": 1,
    "templates/core/second_factor_reset.html": 1,
    "templates/core/audit_log.html": 1,
    "templates/registration/password_reset_email.html": 1,
}
# A user printed as it is shows its login (`User.__str__`): {{ entry.actor }}, {{ row.courier }}, {{ user }}, …
PERSON = r"(?:user|actor|author|courier|operator|logist|member|reviewer|[a-z]+ed_by)"
BARE_PERSON = re.compile(r"\{\{\s*((?:[\w.]+\.)?" + PERSON + r")\s*(?:\|[^}]*)?\}\}")
# Not users but names already: a timeline entry's «who» (`orders.selectors.TimelineEntry.actor`).
NAMES_ALREADY = {"entry.actor"}
LOGIN = re.compile(r"\{\{[^}]*\.username\b[^}]*\}\}")
EMPTY_HEADING = re.compile(r"<th\b[^>]*>\s*</th>")


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_template_shows_a_person_s_login_instead_of_their_name():
    shown = {}
    for path in TEMPLATES:
        text = path.read_text(encoding="utf-8")
        found = LOGIN.findall(text) + [e for e in BARE_PERSON.findall(text) if e not in NAMES_ALREADY]
        if found:
            shown[_relative(path)] = found
    allowed = {name: found for name, found in shown.items() if len(found) <= LOGIN_IS_THE_POINT.get(name, 0)}

    assert {name: found for name, found in shown.items() if name not in allowed} == {}


def test_every_table_column_has_a_heading():
    empty = {
        _relative(path): EMPTY_HEADING.findall(text)
        for path in TEMPLATES
        if EMPTY_HEADING.search(text := path.read_text(encoding="utf-8"))
    }
    headless = [
        _relative(path)
        for path in TEMPLATES
        for table in re.findall(r"<table\b.*?</table>", path.read_text(encoding="utf-8"), re.DOTALL)
        if "<thead" not in table
    ]

    assert empty == {}
    assert headless == []


TABLE_HEADING = re.compile(r"<th\b([^>]*)>(.*?)</th>", re.DOTALL)
# What a heading says: text, a translated string, a value; not a tag, not template logic around nothing.
NOT_SAID = re.compile(r"<[^>]+>|\{%(?!\s*(?:translate|blocktranslate)\b)[^%]*%\}|\{#.*?#\}", re.DOTALL)


def test_every_table_heading_has_a_name():
    """A heading cell holding only a control (a «select all» tick) is an empty heading to a screen reader: its column
    needs a name of its own (visually hidden if the tick says it already) or an aria-label."""
    nameless = {
        _relative(path): headings
        for path in TEMPLATES
        if (
            headings := [
                heading.group(0)
                for heading in TABLE_HEADING.finditer(path.read_text(encoding="utf-8"))
                if "aria-label=" not in heading.group(1) and not NOT_SAID.sub("", heading.group(2)).strip()
            ]
        )
    }

    assert nameless == {}


def test_a_time_span_is_never_printed_raw():
    """What a selector averages or subtracts (`first_call_wait`, `*_wait`, `*_duration`) is a timedelta: printed
    as it is it reads `13 days, 10:57:55.783830`."""
    raw = {
        _relative(path): found
        for path in TEMPLATES
        if (
            found := re.findall(
                r"\{\{\s*(?:\w+\.)*(?:\w+_)?(?:wait|duration|elapsed)\s*\}\}",
                path.read_text(encoding="utf-8"),
            )
        )
    }

    assert raw == {}
