"""Writes of the integrations that are not mechanisms of their own: connectors' configuration."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access, crypto
from ketlogistic.core.actors import Actor
from ketlogistic.core.models import Partner

from . import outbound
from .connectors import DEFAULT_MAPPING, next_run
from .models import PullConnector
from .outbound import OutboundURLError, check_outbound_url


@transaction.atomic
def connector_save(
    *,
    actor: Actor,
    partner: Partner,
    connector: PullConnector | None = None,
    name: str,
    url: str,
    schedule: str,
    interval_minutes: int = 10,
    daily_at=None,
    records_path: str = "",
    mapping: dict | None = None,
    auth_header: str | None = None,
    is_active: bool = True,
) -> PullConnector:
    if not access.can(actor, "connectors.manage") or not access.may_act_for_partner(actor, partner.id):
        raise PermissionDenied
    try:
        check_outbound_url(url)
    except OutboundURLError as exc:
        raise ValidationError({"url": str(exc)}) from exc
    if schedule == PullConnector.Schedule.DAILY and daily_at is None:
        raise ValidationError({"daily_at": _("Give the local time of the daily run.")})
    if mapping is not None and not isinstance(mapping, dict):
        raise ValidationError({"mapping": _("The mapping must be a JSON object.")})
    unknown = set(mapping or {}) - set(DEFAULT_MAPPING)
    if unknown:
        raise ValidationError(
            {
                "mapping": _("Unknown fields in the mapping: %(fields)s.")
                % {"fields": ", ".join(sorted(unknown))}
            }
        )
    connector = connector or PullConnector(partner=partner)
    connector.name, connector.url, connector.schedule = name.strip()[:100], url, schedule
    connector.interval_minutes, connector.daily_at = max(int(interval_minutes or 10), 1), daily_at
    connector.records_path, connector.mapping = records_path.strip(), mapping or {}
    connector.is_active = is_active
    if auth_header is not None:
        name = auth_header.partition(":")[0].strip()
        if auth_header and (":" not in auth_header or not outbound.HEADER_NAME.match(name)):
            raise ValidationError({"auth_header": _("Write it as Header-Name: value.")})
        if name.lower() in outbound.OWN_HEADERS:
            raise ValidationError(
                {"auth_header": _("The header %(name)s is set by the connection itself.") % {"name": name}}
            )
        connector.auth_header_ciphertext = crypto.encrypt(auth_header) if auth_header else ""
    if connector.next_run_at is None or connector.pk is None:
        connector.partner = partner
        connector.next_run_at = next_run(connector, timezone.now()) if schedule == "daily" else timezone.now()
    connector.full_clean(exclude=["auth_header_ciphertext"])
    connector.save()
    return connector
