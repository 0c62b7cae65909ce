"""The menu: each entry names the permission that shows it, so every role sees only its own work."""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from . import access


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str
    section: str


NAVIGATION: list[NavItem] = [
    NavItem(_("Overview"), "cabinet:home", "cabinet.view", _("Cabinet")),
    NavItem(_("Team"), "cabinet:team", "cabinet.team.manage", _("Cabinet")),
    NavItem(_("My desk"), "staff:home", "staff.desk", _("Work")),
    NavItem(_("Partners"), "staff:partners", "partners.view", _("Work")),
    NavItem(_("Audit log"), "staff:audit", "audit.view", _("Administration")),
    NavItem(_("Administration"), "admin:index", "admin.site", _("Administration")),
]


def menu_for(user, current_path: str = "") -> list[dict]:
    """Sections with their items, in order, for the given user; the longest matching link is active."""
    entries = []
    for item in NAVIGATION:
        if not access.can(user, item.permission):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        entries.append((item, url))
    matching = [url for _item, url in entries if current_path.startswith(url)]
    active_url = max(matching, key=len) if matching else None
    sections: dict[str, list[dict]] = {}
    for item, url in entries:
        sections.setdefault(str(item.section), []).append(
            {"label": item.label, "url": url, "active": url == active_url}
        )
    return [{"title": title, "items": items} for title, items in sections.items()]
