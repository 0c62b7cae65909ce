"""Writes of the integrations that are not mechanisms of their own: connectors' configuration."""

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access, crypto
from ketlogistic.core.actors import Actor
from ketlogistic.core.models import Partner

from . import crm_sync, outbound
from .connectors import DEFAULT_MAPPING, connector_run_request, next_run
from .models import ConnectorRun, CrmOrderLink, CrmStatusPush, PullConnector
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


# the characters of an order number (orders.intake.EXTERNAL_ID_RE), Latin only, leaving room for the CRM's id
PREFIX_RE = re.compile(r"^[A-Za-z0-9_\-./#:]{1,16}$")


def crm_connector_save(
    *,
    actor: Actor,
    partner: Partner,
    connector: PullConnector | None = None,
    kind: str,
    name: str,
    url: str | None,
    secret: str | None,
    settings: dict,
    status_map: dict,
    interval_minutes: int = 10,
    is_active: bool = True,
    number_prefix: str = "",
) -> PullConnector:
    """A RetailCRM or Bitrix24 connector as the partner set it up. Its adapter checks the address, the key and the
    kind's settings (ValidationError by field); `url=None` keeps the stored address (and a key inside it), an empty
    `secret` keeps the stored key. A new connector, or one whose address or key changed, gets a connection check
    queued (it reads the CRM's statuses for the cabinet's choices); its first pull is due once its required choices
    are made. A connector that has taken orders keeps its CRM's address: its links are that account's order ids.
    Statuses waiting to go, and refused ones, are mapped again by the new map.

    Everything that may wait (the address's DNS lookup) is checked first; the row is then locked and only the
    form's fields written, so a check or a run finishing meanwhile keeps what it wrote (the CRM's lists, the next
    run's time)."""
    if not access.can(actor, "connectors.manage") or not access.may_act_for_partner(actor, partner.id):
        raise PermissionDenied
    if kind not in crm_sync.ADAPTERS:
        raise ValidationError({"kind": _("Unknown CRM.")})
    if connector is not None and connector.kind != kind:
        raise ValidationError({"kind": _("A connector's CRM cannot be changed; create a new connector.")})
    adapter = crm_sync.adapter_class(kind)
    old_secret = crm_sync.secret_of(connector) if connector is not None else ""
    if url is None and connector is not None:
        base_url, new_secret = connector.url, (secret or "").strip()
    else:
        base_url, new_secret = adapter.split_address((url or "").strip(), (secret or "").strip())
    new_secret = new_secret or old_secret
    if not new_secret:
        raise ValidationError({"secret": _("Give the CRM's API key.")})
    if (
        connector is not None
        and base_url != connector.url
        and CrmOrderLink.objects.filter(connector=connector).exists()
    ):
        raise ValidationError(
            {
                "url": _(
                    "This connector has taken orders from the CRM at %(address)s, and their statuses go back there. "
                    "To connect another CRM account, create a new connector."
                )
                % {"address": connector.url}
            }
        )
    try:
        check_outbound_url(base_url)
    except OutboundURLError as exc:
        raise ValidationError({"url": str(exc)}) from exc
    cleaned_settings = adapter.clean_settings(settings or {})
    cleaned_map = crm_sync.clean_status_map(status_map or {})
    number_prefix = (number_prefix or "").strip()
    if number_prefix and not PREFIX_RE.match(number_prefix):
        raise ValidationError(
            {"number_prefix": _("A prefix is up to 16 Latin letters, digits and the signs - _ . / # :")}
        )
    with transaction.atomic():
        if connector is not None:
            connector = (
                PullConnector.objects.select_for_update().select_related("partner").get(pk=connector.pk)
            )
        changed_address = connector is None or connector.url != base_url or old_secret != new_secret
        changed_map = connector is not None and (connector.status_map or {}) != cleaned_map
        was_waiting = connector is None or bool(crm_sync.missing_settings(connector))
        connector = connector or PullConnector(partner=partner, kind=kind)
        connector.name, connector.url = name.strip()[:100], base_url
        connector.schedule, connector.daily_at = PullConnector.Schedule.INTERVAL, None
        connector.interval_minutes = max(int(interval_minutes or 10), 1)
        connector.settings, connector.status_map, connector.is_active = (
            cleaned_settings,
            cleaned_map,
            is_active,
        )
        connector.number_prefix = number_prefix
        if changed_address:
            connector.secret_ciphertext = crypto.encrypt(new_secret)
        # Settings chosen from the CRM's lists (its statuses, a pipeline's stage) can only be chosen once a check
        # has read them: until then the connector is saved but waits (no run is due).
        if crm_sync.missing_settings(connector):
            connector.next_run_at = None
        elif was_waiting or connector.next_run_at is None:
            connector.next_run_at = timezone.now()  # its choices just made: the first pull now
        connector.full_clean(
            exclude=["secret_ciphertext", "auth_header_ciphertext", "mapping", "records_path", "reference"]
        )
        if connector.pk is None:
            connector.save()
        else:
            connector.save(
                update_fields=[
                    "name",
                    "url",
                    "schedule",
                    "daily_at",
                    "interval_minutes",
                    "settings",
                    "status_map",
                    "is_active",
                    "number_prefix",
                    "secret_ciphertext",
                    "next_run_at",
                ]
            )
        if changed_map:
            crm_sync.remap(connector=connector)
        if changed_address:
            connector_run_request(actor=actor, connector=connector, direction=ConnectorRun.Direction.CHECK)
    return connector


@transaction.atomic
def crm_pushes_retry(*, actor: Actor, connector: PullConnector) -> int:
    """«Send again»: the statuses a CRM refused (failed after their tries) are queued once more, e.g. after the
    partner fixed the status map or the CRM's list: an order's failed status only if it is still its newest (a
    newer one, sent or pending, is what the CRM needs)."""
    if not access.can(actor, "connectors.manage") or not access.may_act_for_partner(
        actor, connector.partner_id
    ):
        raise PermissionDenied
    pushes = CrmStatusPush.objects.filter(connector=connector)
    failed_links = pushes.filter(state=CrmStatusPush.State.FAILED).values("link_id")
    # the orders' links locked (as a status change locks its order's link before writing its outbox row): a move
    # at this moment either comes first (its newer status is then the newest) or after (it replaces the retried one)
    list(
        CrmOrderLink.objects.select_for_update()
        .filter(connector=connector, id__in=failed_links)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return pushes.filter(id__in=crm_sync.newest_per_order(pushes), state=CrmStatusPush.State.FAILED).update(
        state=CrmStatusPush.State.PENDING,
        attempts=0,
        refusals=0,
        next_attempt_at=timezone.now(),
        last_error="",
        claimed_until=None,
        claim_token=None,
    )
