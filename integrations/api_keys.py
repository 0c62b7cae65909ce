"""API keys: created and revoked by partner staff, shown once, stored only as a hash.

A key looks like `kl_live_3f9a1c2b_Zq…` (`kl_test_…` for sandbox keys): the part before the second
underscore-separated secret is the prefix, stored in clear to find the key and to show in the cabinet.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from ketlogistic.core import access
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from ketlogistic.core.roles import Role
from ketlogistic.core.services import audit_record
from ketlogistic.core.sql import Rows, Table

from .models import ApiKey

LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass
class IssuedKey:
    key: str  # shown once, never stored
    record: ApiKey


@transaction.atomic
def api_key_create(
    *, partner: Partner, name: str, actor: Actor | None = None, is_test: bool = False, read_only: bool = False
) -> IssuedKey:
    if actor is not None and (not access.can(actor, "api_keys.manage") or actor.partner_id != partner.id):
        raise PermissionDenied
    mode = "test" if is_test else "live"
    prefix = f"kl_{mode}_{secrets.token_hex(4)}"
    key = f"{prefix}_{secrets.token_urlsafe(30)}"
    record = ApiKey.objects.create(
        partner=partner,
        name=(name or "API").strip()[:100],
        prefix=prefix,
        key_hash=_hash(key),
        is_test=is_test,
        read_only=read_only,
        created_by=acting_user(actor),
    )
    audit_record(
        actor=actor,
        action="api_key.created",
        partner=partner,
        obj=record,
        summary=gettext_message("API key %(prefix)s… (%(name)s) created")
        % {"prefix": prefix, "name": record.name},
        details={"test": is_test, "read_only": read_only},
    )
    return IssuedKey(key=key, record=record)


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    if not access.can(actor, "api_keys.manage") or actor.partner_id != key.partner_id:
        raise PermissionDenied
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_key.revoked",
            partner=key.partner,
            obj=key,
            summary=gettext_message("API key %(prefix)s… (%(name)s) revoked")
            % {"prefix": key.prefix, "name": key.name},
        )
    return key


class ApiKeyActor:
    """Who acts when a request carries an API key: the key's partner, with partner staff's permissions."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    role = Role.PARTNER_STAFF
    pk = None

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.partner = key.partner
        self.partner_id = key.partner_id
        self.read_only = key.read_only
        self.is_test = key.is_test
        self.actor_label = f"API {key.prefix}…"

    def __str__(self) -> str:
        return self.actor_label


def active_key(raw: str) -> ApiKey | None:
    """The unrevoked key this string is, or None (constant-time comparison of the hash); nothing is written."""
    parts = (raw or "").strip().split("_")
    if len(parts) < 4 or parts[0] != "kl" or parts[1] not in {"live", "test"}:
        return None
    prefix = "_".join(parts[:3])
    key = _unrevoked_with_partner(prefix)
    if key is None or not hmac.compare_digest(key.key_hash, _hash(raw.strip())):
        return None
    return key


_KEY, _PARTNER = Rows(ApiKey, "k"), Rows(Partner, "p")
_KEY_WITH_PARTNER = (
    f"SELECT {_KEY}, {_PARTNER} FROM {Table(ApiKey, 'k')} JOIN {Table(Partner, 'p')} ON p.id = k.partner_id "
    "WHERE k.prefix = %s AND k.revoked_at IS NULL"
)


def _unrevoked_with_partner(prefix: str) -> ApiKey | None:
    """The unrevoked key of this prefix with its partner, in one statement written once (every API request reads it:
    the ORM built the same query on each of them at five times the cost of running it)."""
    with connection.cursor() as cursor:
        cursor.execute(_KEY_WITH_PARTNER, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    key = _KEY.instance(row)
    ApiKey.partner.field.set_cached_value(key, _PARTNER.instance(row, _KEY.width))
    return key


def authenticate_key(raw: str) -> ApiKey | None:
    """The active key for this string, or None; its last use is remembered (to the minute)."""
    key = active_key(raw)
    if key is None:
        return None
    if key.partner.status == Partner.Status.ENDED:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
