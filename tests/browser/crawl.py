"""The crawl's machinery: which pages a role can open, and what a person would notice on each at a given width.

A page is every GET URL of the project (`tests/url_catalogue.py`, its arguments filled with partner A's objects of
the demo world) that answers a role with an HTML page. On each, in Chromium at the width asked:

- **overflow**: the document is wider than the window (the page scrolls sideways); the widest elements are named;
- **raw values**: what Python prints and a person never should read (`13 days, 10:57:55.783830`, `None`,
  `datetime.date(…)`, `Decimal('…')`, `<… object at 0x…>`, an ISO time with microseconds or `+00:00`);
- **untranslated**: in the Russian interface, a visible text (or a placeholder, title, aria-label, alt) that is the
  English source of a message the Russian catalogue translates, or a run of three English words with no Cyrillic
  (code, numbers, logins and the allowed names below apart);
- **axe-core**: violations of impact serious or critical (`axe-playwright-python`, which bundles axe.min.js).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings

from tests.second_factor import sign_in
from tests.url_catalogue import fill, routes

# The demo's logins, one per role (setup/people.py), partners first
ROLE_LOGINS = (
    "partner_kz",
    "partner_kz_staff",
    "head",
    "logist",
    "courier_admin",
    "courier",
    "hotline",
    "warehouse",
    "qc",
    "supervisor",
    "finance",
    "admin",
)
SCREENS = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}

# Pages not crawled, with the reason
SKIPPED = {
    "accounts/logout/": "signs the visitor out",
    "i18n/setlang/": "a redirect that switches the language",
    "healthz": "a JSON answer for the load balancer",
    "metrics": "Prometheus text for the scraper",
}

# What Python prints and a person should never read
RAW_VALUES = re.compile(
    r"\d+ days?, \d{1,2}:\d\d:\d\d"  # a timedelta
    r"|\b\d{1,2}:\d\d:\d\d\.\d{3,6}\b"  # a time with microseconds
    r"|\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?\+00:00"  # an ISO datetime in UTC
    r"|\bNone\b|\bnan\b|\bNaN\b"
    r"|\b(?:datetime\.)?(?:datetime|date|time|timedelta)\(\d"
    r"|\bDecimal\('"
    r"|object at 0x[0-9a-f]+"
    r"|\{'[a-z_]+': "  # a dict
    r"|\[\]"  # an empty list
)

# Words that stay Latin in the Russian interface: names of products, protocols and things
LATIN_ALLOWED = {
    "ketlogistic",
    "api",
    "excel",
    "xlsx",
    "csv",
    "json",
    "url",
    "https",
    "http",
    "sku",
    "id",
    "iban",
    "bik",
    "retailcrm",
    "bitrix",
    "bitrix24",
    "crm",
    "webhook",
    "webhooks",
    "standard",
    "2gis",
    "yandex",
    "sms",
    "smpp",
    "openapi",
    "rest",
    "key",
    "bearer",
    "authorization",
    "hmac",
    "sha256",
    "post",
    "get",
    "kz",
    "kg",
    "kzt",
    "kgs",
    "ru",
    "en",
    "ok",
    "libreoffice",
    "microsoft",
    "google",
    "sheets",
    "pdf",
    "png",
    "jpeg",
    "jpg",
    "utc",
    "whsec",
    "signature",
    "timestamp",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "idempotency-key",
    "v1",
    "v5",
    "ip",
    "qr",
    "pbx",
    "sip",
    "php",
    "javascript",
    "python",
    "node",
    "curl",
}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]{1,}")
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


@cache
def translated_sources() -> frozenset[str]:
    """The English sources the Russian catalogue translates (singular forms, without placeholders)."""
    import polib

    sources = set()
    for entry in polib.pofile(str(settings.BASE_DIR / "locale/ru/LC_MESSAGES/django.po")):
        if entry.obsolete or "fuzzy" in entry.flags or not (entry.msgstr or entry.msgstr_plural):
            continue
        text = entry.msgid.strip()
        # a source that is also Russian-looking, a single letter or a product word is not a sign of anything
        if len(text) < 3 or "%" in text or "{" in text or text.lower() in LATIN_ALLOWED:
            continue
        if entry.msgstr and entry.msgstr.strip() == text:
            continue
        sources.add(text)
    return frozenset(sources)


def untranslated_in(texts: list[str]) -> list[str]:
    sources = translated_sources()
    found = []
    for text in texts:
        text = " ".join(text.split())
        if not text or CYRILLIC.search(text):
            continue
        if text in sources:
            found.append(text)
            continue
        words = [w for w in LATIN_WORD.findall(text) if w.lower() not in LATIN_ALLOWED]
        # three English words in a row with no Cyrillic around them read as an untranslated sentence
        if len(words) >= 3 and re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}\s+[A-Za-z]{2,}", text):
            found.append(text)
    return found


# Visible texts of the page, with the attributes a person reads or hears; code and user-typed data apart
VISIBLE_TEXTS = """() => {
  const skip = "script, style, code, pre, kbd, samp, .mono, [translate=no], [data-user-text], svg desc";
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || el.closest(skip) || !node.textContent.trim()) continue;
    if (!el.getClientRects().length && !el.closest(".visually-hidden, option")) continue;
    out.push(node.textContent);
  }
  for (const el of document.querySelectorAll("[placeholder], [title], [aria-label], img[alt], input[type=submit][value]")) {
    if (el.closest(skip)) continue;
    for (const name of ["placeholder", "title", "aria-label", "alt"]) {
      if (el.hasAttribute(name)) out.push(el.getAttribute(name));
    }
    if (el.matches("input[type=submit]")) out.push(el.value);
  }
  return out;
}"""

# The page's width against the window's, and the elements that reach past the window's right edge
OVERFLOW = r"""(width) => {
  // the screen's width, not the window's: a phone zooms a too-wide page out and widens its window
  const doc = Math.max(document.documentElement.scrollWidth, window.innerWidth);
  const culprits = [];
  // a box that scrolls sideways inside the page (a table in its wrapper) hides columns just the same
  for (const el of document.querySelectorAll("body *")) {
    if (el.matches("pre, pre *, textarea, .snippet") || el.scrollWidth <= el.clientWidth + 1) continue;
    const style = getComputedStyle(el);
    if (style.overflowX === "auto" || style.overflowX === "scroll") {
      culprits.push(el.tagName.toLowerCase() + (el.className ? "." + String(el.className).trim().split(/\s+/).join(".") : "") +
        " scrolls " + el.scrollWidth + " px in " + el.clientWidth + " px");
    }
  }
  if (doc <= width + 1 && !culprits.length) return null;
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) {
      const parentBox = el.parentElement.getBoundingClientRect();
      if (parentBox.right <= width + 1 || el.parentElement === document.body) {
        const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
          (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
        culprits.push(name + " → " + Math.round(box.right) + " px");
      }
    }
  }
  return {page: doc, window: width, culprits: culprits.slice(0, 6)};
}"""


@dataclass
class Findings:
    overflow: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)
    untranslated: dict = field(default_factory=dict)
    axe: dict = field(default_factory=dict)
    broken: dict = field(default_factory=dict)

    def add(self, kind: str, where: tuple, what) -> None:
        getattr(self, kind).setdefault(where, what)

    def report(self) -> str:
        parts = []
        for kind in ("broken", "overflow", "raw", "untranslated", "axe"):
            found = getattr(self, kind)
            if found:
                parts.append(f"== {kind}: {len(found)}")
                parts.extend(f"  {where}: {what}" for where, what in sorted(found.items()))
        return "\n".join(parts)

    def __bool__(self) -> bool:
        return any((self.overflow, self.raw, self.untranslated, self.axe, self.broken))


def html_pages(world, login: str) -> list[str]:
    """Every page the role opens as HTML (200, text/html), asked through Django's test client."""
    client = sign_in(world.users[login])
    pages = []
    for route in routes():
        if route.is_api or route.route in SKIPPED:
            continue
        try:
            url = fill(route, world)
        except KeyError:
            continue
        response = client.get(url)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            if b"<html" in response.content[:300]:  # a page, not a fragment htmx puts into one
                pages.append(url)
    return pages


def session_cookie(world, login: str, base_url: str) -> dict:
    client = sign_in(world.users[login])
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": base_url,
    }


def look_at(page, url: str, where: tuple, findings: Findings, *, axe=None) -> None:
    """Open the page and note what a person would notice."""
    response = page.goto(url, wait_until="load")
    if response is not None and response.status >= 400:  # (a data: URL has no response)
        findings.add("broken", where, response.status)
        return
    overflow = page.evaluate(OVERFLOW, page.viewport_size["width"])
    if overflow:
        findings.add("overflow", where, overflow)
    texts = page.evaluate(VISIBLE_TEXTS)
    raw = sorted({m.group(0) for t in texts for m in RAW_VALUES.finditer(t)})
    if raw:
        findings.add("raw", where, raw[:5])
    untranslated = sorted(set(untranslated_in(texts)))
    if untranslated:
        findings.add("untranslated", where, untranslated[:8])
    if axe is not None:
        results = axe.run(page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
            for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        if bad:
            findings.add("axe", where, bad)
