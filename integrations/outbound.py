"""Outbound HTTP to partner systems (webhooks, pull connectors) must not reach our own network.

A URL typed by a partner could otherwise point at 127.0.0.1:6379 or the cloud metadata service.
Production requires https and public addresses; development and tests may allow local receivers.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _


class OutboundURLError(ValueError):
    pass


def check_outbound_url(url: str) -> None:
    parts = urlsplit(url or "")
    allowed = {"https"} | ({"http"} if settings.INTEGRATIONS_ALLOW_HTTP else set())
    if parts.scheme not in allowed:
        raise OutboundURLError(_("The address must start with https://."))
    if not parts.hostname:
        raise OutboundURLError(_("The address has no host name."))
    if settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as exc:
        raise OutboundURLError(
            _("The host name %(host)s does not resolve.") % {"host": parts.hostname}
        ) from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise OutboundURLError(_("The address points into a private network, which is not allowed."))
